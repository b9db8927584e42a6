// How the API turns a failure into an HTTP status. Handlers throw ApiError for what they check
// themselves; errors from the control worker carry a `code` (kept across the worker boundary by
// src/control/thread.ts) that names what went wrong, so a lookup that timed out is a 504, not a 500.

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Error codes the control plane gives its failures, and the HTTP status each one means. */
export const ERROR_CODE_STATUS: Readonly<Record<string, number>> = {
  /** A Map-Request (lig, lookup) got no Map-Reply within its timeout. */
  ERR_LOOKUP_TIMEOUT: 504,
  /** The control worker has not finished starting (or is restarting after a crash). */
  ERR_CONTROL_STARTING: 503,
  /** The control worker is stopped or died and is not back yet. */
  ERR_CONTROL_NOT_RUNNING: 503,
  /** The node has no RLOC to send a Map-Request from. */
  ERR_NO_RLOC: 409,
  /** An EID the caller gave does not parse. */
  ERR_BAD_EID: 400,
};

export interface ErrorAnswer {
  readonly status: number;
  readonly message: string;
}

export function errorAnswer(e: unknown): ErrorAnswer {
  if (e instanceof ApiError) return { status: e.status, message: e.message };
  const message = e instanceof Error ? e.message : String(e);
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  const status = typeof code === 'string' ? ERROR_CODE_STATUS[code] : undefined;
  return { status: status ?? 500, message };
}
