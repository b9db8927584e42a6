// The authentication header Map-Register, Map-Notify(-Ack) and Info-Request/Reply share after
// their first word (RFC 9301 §5.6, draft-ietf-lisp-nat-traversal §5): nonce, key-id, algorithm,
// authentication data length and the data.
import { WireError } from './errors';
import type { Reader } from './reader';

export interface AuthHeader {
  nonce: bigint;
  keyId: number;
  algorithm: number;
  authData: Uint8Array;
}

/** Nonce, key-id, algorithm and authentication data: the header Map-Register, Map-Notify and Info messages share (RFC 9301 §5.6). */
export function decodeAuthHeader(r: Reader, what: string): AuthHeader {
  const nonce = r.u64(`${what} nonce`);
  const keyId = r.u8(`${what} key-id`);
  const algorithm = r.u8(`${what} algorithm`);
  const authLen = r.u16(`${what} authentication length`);
  if (authLen > r.remaining) {
    throw new WireError(`${what} authentication length ${authLen} exceeds the ${r.remaining} bytes left`, r.pos - 2);
  }
  const authData = r.bytes(authLen, `${what} authentication data`);
  return { nonce, keyId, algorithm, authData };
}
