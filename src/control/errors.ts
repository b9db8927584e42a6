// Errors that cross the worker boundary (worker_threads' structured clone keeps only `message`
// of an Error's own fields): the worker sends name, code and message; the main thread rebuilds a
// ControlPlaneError, so callers (the API) map it by `code` without parsing messages.

/** What went wrong, for callers that map errors to statuses (e.g. LIG_TIMEOUT → HTTP 504). */
export type ControlErrorCode =
  /** No Map-Reply within the lig timeout. */
  | 'LIG_TIMEOUT'
  /** The control worker is starting (or restarting after a crash): try again shortly. */
  | 'CONTROL_STARTING'
  /** The control worker died while the request was pending; it is being restarted. */
  | 'CONTROL_CRASHED'
  /** The node is stopping or the control plane is not running. */
  | 'CONTROL_STOPPED'
  /** The control worker cannot bind UDP 4342 (EADDRINUSE, EACCES…): the node cannot start. */
  | 'CONTROL_BIND'
  /** Anything else the worker threw (the message says what). */
  | 'CONTROL_ERROR';

export class ControlPlaneError extends Error {
  /** The worker-side error's name (e.g. 'EidError' for an EID that does not parse), kept across the boundary. */
  override name = 'ControlPlaneError';
  constructor(readonly code: ControlErrorCode, message: string) {
    super(message);
  }
}

/** A lig got no Map-Reply in time (the API answers 504). */
export class LigTimeoutError extends ControlPlaneError {
  constructor(message: string) {
    super('LIG_TIMEOUT', message);
    this.name = 'LigTimeoutError';
  }
}

/** An error as the worker posts it. */
export interface WireError {
  readonly name: string;
  readonly code: string;
  readonly message: string;
}

export function toWireError(e: unknown): WireError {
  if (e instanceof ControlPlaneError) return { name: e.name, code: e.code, message: e.message };
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as NodeJS.ErrnoException).code;
  return { name: err.name, code: typeof code === 'string' ? code : 'CONTROL_ERROR', message: err.message };
}

const CODES: ReadonlySet<string> = new Set<ControlErrorCode>(['LIG_TIMEOUT', 'CONTROL_STARTING', 'CONTROL_CRASHED', 'CONTROL_STOPPED', 'CONTROL_BIND', 'CONTROL_ERROR']);

/** The main thread's copy of a worker error: a ControlPlaneError (LigTimeoutError for timeouts). */
export function fromWireError(w: WireError): ControlPlaneError {
  if (w.code === 'LIG_TIMEOUT') return new LigTimeoutError(w.message);
  const e = new ControlPlaneError(CODES.has(w.code) ? (w.code as ControlErrorCode) : 'CONTROL_ERROR', w.message);
  e.name = w.name;
  // a system error code (EADDRINUSE…) is kept in `errno`-style `syscallCode`
  if (!CODES.has(w.code)) Object.defineProperty(e, 'syscallCode', { value: w.code, enumerable: true });
  return e;
}
