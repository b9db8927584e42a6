// Log lines rate-limited per reason (issue 12, finding 6): a flood of rejected messages wrote one
// warn line each (56 MB in 45 s), and the worker posted every one to the main thread. At most
// `perWindow` lines per reason (level + message text) per window pass; the rest are counted, and
// when the window ends one summary line says how many were suppressed. The table of reasons is
// bounded too: reasons beyond `maxReasons` share one bucket.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFn = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export interface LogLimitOptions {
  /** Lines per reason per window (default 10). */
  readonly perWindow?: number;
  /** Window length (default 10 s). */
  readonly windowMs?: number;
  /** Distinct reasons tracked (default 256). */
  readonly maxReasons?: number;
  readonly now?: () => number;
}

interface Bucket {
  readonly level: LogLevel;
  readonly msg: string;
  windowStart: number;
  passed: number;
  suppressed: number;
}

const OVERFLOW = '\u0000other';

export class LogLimiter {
  readonly perWindow: number;
  readonly windowMs: number;
  private readonly maxReasons: number;
  private readonly now: () => number;
  private readonly buckets = new Map<string, Bucket>();
  /** Lines suppressed since start (a counter for stats). */
  suppressed = 0;

  constructor(private readonly out: LogFn, o: LogLimitOptions = {}) {
    this.perWindow = o.perWindow ?? 10;
    this.windowMs = o.windowMs ?? 10_000;
    this.maxReasons = o.maxReasons ?? 256;
    this.now = o.now ?? Date.now;
  }

  /** Logs unless this reason used up its lines in the current window. */
  readonly log: LogFn = (level, msg, fields) => {
    const now = this.now();
    let key = `${level} ${msg}`;
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxReasons) {
        key = OVERFLOW;
        b = this.buckets.get(key);
      }
      if (!b) {
        b = { level: key === OVERFLOW ? 'warn' : level, msg: key === OVERFLOW ? 'other messages' : msg, windowStart: now, passed: 0, suppressed: 0 };
        this.buckets.set(key, b);
      }
    }
    if (now - b.windowStart >= this.windowMs) this.close(key, b, now);
    if (b.passed < this.perWindow && key !== OVERFLOW) {
      b.passed++;
      this.out(level, msg, fields);
    } else {
      b.suppressed++;
      this.suppressed++;
    }
  };

  /** Ends every window that is over: summary lines for the reasons that had lines suppressed. Call periodically. */
  flush(): void {
    const now = this.now();
    for (const [key, b] of this.buckets) if (now - b.windowStart >= this.windowMs) this.close(key, b, now);
  }

  private close(key: string, b: Bucket, now: number): void {
    if (b.suppressed > 0) {
      this.out(b.level, `${b.suppressed} more "${b.msg}" lines suppressed in the last ${Math.round((now - b.windowStart) / 1000)} s`, { suppressed: b.suppressed, reason: b.msg });
    }
    // an idle reason leaves the table, so it stays small
    if (b.suppressed === 0 && b.passed === 0) {
      this.buckets.delete(key);
      return;
    }
    b.windowStart = now;
    b.passed = 0;
    b.suppressed = 0;
  }
}
