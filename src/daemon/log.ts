// Structured logs: one JSON object per line on stderr, with a subsystem and a level.
export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  (level: Level, subsystem: string, msg: string, fields?: Record<string, unknown>): void;
}

export function makeLogger(min: Level, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  return (level, subsystem, msg, fields) => {
    if (RANK[level] < RANK[min]) return;
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level, subsystem, msg, ...fields };
    write(`${JSON.stringify(rec, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}\n`);
  };
}
