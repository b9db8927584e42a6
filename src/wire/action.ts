// Names of a negative Map-Reply's ACT values (RFC 9301 §5.4), as operators read them.
const NAMES: readonly string[] = [
  'no-action', // 0: no action specified
  'natively-forward', // 1: forward without LISP encapsulation
  'send-map-request', // 2: keep asking (the prefix needs a Map-Request per flow)
  'drop', // 3: Drop/No-Reason
  'drop/policy-denied', // 4
  'drop/auth-failure', // 5: Drop/Authentication-Failure
];

/** `natively-forward` for 1; values RFC 9301 leaves unassigned print as `action N`. */
export function actionName(action: number): string {
  return NAMES[action] ?? `action ${action}`;
}
