// Structured logs with pino: JSON lines on stderr by default, human-readable with --pretty;
// one child logger per subsystem (control, dataplane, node, api, reachability), each with its
// own level when the config asks for it.
import pino from 'pino';
import { LogLimiter, type LogLimitOptions } from '../control/log-limit';

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
  /** Rate limit per subsystem and message (default: 10 lines per 10 s, then a summary line). */
  readonly limit?: LogLimitOptions;
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
  // One rate limiter per subsystem: a flood of one reason (issue 12, finding 6) writes at most
  // `perWindow` lines per window and then one summary line with the count.
  const children = new Map<string, LogLimiter>();
  const child = (subsystem: string): LogLimiter => {
    let c = children.get(subsystem);
    if (!c) {
      const p = root.child({ subsystem }, { level: opts.subsystems?.[subsystem] ?? opts.level });
      c = new LogLimiter((level, msg, fields) => {
        if (fields) p[level](bigintSafe(fields), msg);
        else p[level](msg);
      }, opts.limit);
      children.set(subsystem, c);
    }
    return c;
  };
  const flush = setInterval(() => { for (const c of children.values()) c.flush(); }, opts.limit?.windowMs ?? 10_000);
  flush.unref();
  return (level, subsystem, msg, fields) => child(subsystem).log(level, msg, fields);
}

function bigintSafe(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = typeof v === 'bigint' ? `0x${v.toString(16)}` : v;
  return out;
}
