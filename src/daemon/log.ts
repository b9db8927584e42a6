// Structured logs with pino: JSON lines on stderr by default, human-readable with --pretty;
// one child logger per subsystem (control, dataplane, node, api, reachability), each with its
// own level when the config asks for it.
import pino from 'pino';

export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  (level: Level, subsystem: string, msg: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  readonly level: Level;
  /** Per-subsystem levels, e.g. { control: 'debug' }. */
  readonly subsystems?: Readonly<Record<string, Level>>;
  readonly pretty?: boolean;
  /** Where lines go (tests); default standard error. */
  readonly write?: (line: string) => void;
}

export function makeLogger(opts: LoggerOptions): Logger {
  const stream = opts.write
    ? { write: opts.write }
    : opts.pretty
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      ? (require('pino-pretty') as (o: object) => NodeJS.WritableStream)({ destination: 2, colorize: process.stderr.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
      : pino.destination({ fd: 2, sync: false });
  const root = pino({
    level: 'debug',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: {},
  }, stream);
  const children = new Map<string, pino.Logger>();
  const child = (subsystem: string): pino.Logger => {
    let c = children.get(subsystem);
    if (!c) {
      c = root.child({ subsystem }, { level: opts.subsystems?.[subsystem] ?? opts.level });
      children.set(subsystem, c);
    }
    return c;
  };
  return (level, subsystem, msg, fields) => {
    const c = child(subsystem);
    if (fields) c[level](bigintSafe(fields), msg);
    else c[level](msg);
  };
}

function bigintSafe(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = typeof v === 'bigint' ? `0x${v.toString(16)}` : v;
  return out;
}
