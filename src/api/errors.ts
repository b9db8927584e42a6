// How the API turns a failure into an HTTP status. Handlers throw ApiError for what they check
// themselves; errors from the control worker carry a `code` and their `name` (kept across the
// worker boundary by src/control/errors.ts), so a lookup that timed out is a 504, not a 500.

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * The HTTP status of each code the control plane gives its failures (ControlErrorCode in
 * src/control/errors.ts); any other code is a 500.
 */
export const ERROR_CODE_STATUS: Readonly<Record<string, number>> = {
  /** A lig/lookup got no Map-Reply within its timeout. */
  LIG_TIMEOUT: 504,
  /** The control worker is starting, or restarting after a crash: try again shortly. */
  CONTROL_STARTING: 503,
  /** The control worker died while the request was pending; it is being restarted. */
  CONTROL_CRASHED: 503,
  /** The node is stopping. */
  CONTROL_STOPPED: 503,
};

/** Worker-side error names (kept across the boundary) that mean the caller's input was wrong. */
const BAD_INPUT_NAMES: ReadonlySet<string> = new Set(['EidError']);

export interface ErrorAnswer {
  readonly status: number;
  readonly message: string;
}

export function errorAnswer(e: unknown): ErrorAnswer {
  if (e instanceof ApiError) return { status: e.status, message: e.message };
  const message = e instanceof Error ? e.message : String(e);
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  const status = typeof code === 'string' && Object.hasOwn(ERROR_CODE_STATUS, code) ? ERROR_CODE_STATUS[code] : undefined;
  const badInput = e instanceof Error && BAD_INPUT_NAMES.has(e.name);
  return { status: status ?? (badInput ? 400 : 500), message };
}
