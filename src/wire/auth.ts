// Authentication of Map-Register, Map-Notify and Map-Notify-Ack (RFC 9301 §5.6, §5.7, §12.5).
// RFC 9301 computes the MAC over the message from the Type field with the Authentication Data
// zeroed; lispers.net runs it over the whole UDP payload. Both verify; we sign the whole payload.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AUTH_DATA_OFFSET, AUTH_LENGTH_OFFSET, TYPE_MAP_NOTIFY, TYPE_MAP_NOTIFY_ACK, TYPE_MAP_REGISTER, encodeControl } from './control';
import { Reader } from './reader';
import { decodeEidRecord } from './records';
import type { MapNotify, MapRegister } from './types';

/** Algorithm IDs (IANA "LISP Algorithm ID Numbers"). */
export const AuthAlgorithm = {
  None: 0,
  HmacSha1: 1,
  HmacSha256: 2,
} as const;
export type AuthAlgorithm = (typeof AuthAlgorithm)[keyof typeof AuthAlgorithm];

/**
 * What the MAC covers. `whole-payload` is what lispers.net, OOR and Wireshark compute: the whole
 * UDP payload including the xTR-ID/site-ID trailer. `rfc` is RFC 9301's literal text, "from the
 * type field through the end of the last RLOC-record".
 */
export type AuthCoverage = 'whole-payload' | 'rfc';
export type AuthVerdict = 'ok' | 'bad' | 'none';

/**
 * Authentication Data length for an algorithm. Deployed peers send the full digest (20 / 32);
 * the RFC names imply truncation to 96 / 128 bits (12 / 16), which we also produce on request.
 */
export function authLengthFor(algorithm: number, truncated = false): number {
  switch (algorithm) {
    case AuthAlgorithm.None:
      return 0;
    case AuthAlgorithm.HmacSha1:
      return truncated ? 12 : 20;
    case AuthAlgorithm.HmacSha256:
      return truncated ? 16 : 32;
    default:
      throw new RangeError(`unsupported authentication algorithm ${algorithm}`);
  }
}

function hashFor(algorithm: number, authLen: number): 'sha1' | 'sha256' | undefined {
  if (algorithm === AuthAlgorithm.HmacSha1 && (authLen === 20 || authLen === 12)) return 'sha1';
  if (algorithm === AuthAlgorithm.HmacSha256 && (authLen === 32 || authLen === 16)) return 'sha256';
  return undefined;
}

function carriesAuth(bytes: Uint8Array): boolean {
  if (bytes.length < AUTH_DATA_OFFSET) return false;
  const type = bytes[0] >>> 4;
  return type === TYPE_MAP_REGISTER || type === TYPE_MAP_NOTIFY || type === TYPE_MAP_NOTIFY_ACK;
}

/** End of the last EID-record: where RFC coverage stops (before any xTR-ID/site-ID trailer). */
function recordsEnd(bytes: Uint8Array): number {
  const authLen = (bytes[AUTH_LENGTH_OFFSET] << 8) | bytes[AUTH_LENGTH_OFFSET + 1];
  const r = new Reader(bytes, AUTH_DATA_OFFSET + authLen);
  const count = bytes[3];
  for (let i = 0; i < count; i++) decodeEidRecord(r, i);
  return r.pos;
}

function mac(hash: 'sha1' | 'sha256', key: string | Uint8Array, zeroed: Uint8Array, end: number): Buffer {
  return createHmac(hash, key).update(zeroed.subarray(0, end)).digest();
}

/**
 * Fills the Authentication Data field of an encoded Map-Register / Map-Notify(-Ack) in place,
 * using the Key ID, Algorithm and length already in the header. With no KDF (algorithms 1, 2)
 * the per-message key is the password itself (RFC 9301 §5.6).
 */
export function signControl(bytes: Buffer, password: string | Uint8Array, coverage: AuthCoverage = 'whole-payload'): Buffer {
  if (!carriesAuth(bytes)) throw new TypeError('only Map-Register, Map-Notify and Map-Notify-Ack carry authentication');
  const algorithm = bytes[13];
  const authLen = bytes.readUInt16BE(AUTH_LENGTH_OFFSET);
  if (algorithm === AuthAlgorithm.None && authLen === 0) return bytes;
  const hash = hashFor(algorithm, authLen);
  if (!hash) throw new RangeError(`cannot sign with algorithm ${algorithm} and authentication length ${authLen}`);
  bytes.fill(0, AUTH_DATA_OFFSET, AUTH_DATA_OFFSET + authLen);
  const end = coverage === 'rfc' ? recordsEnd(bytes) : bytes.length;
  mac(hash, password, bytes, end).copy(bytes, AUTH_DATA_OFFSET, 0, authLen);
  return bytes;
}

export interface SignOptions {
  keyId?: number;
  algorithm?: AuthAlgorithm;
  /** Send the RFC-named truncated MAC (12 or 16 bytes) instead of the full digest. */
  truncated?: boolean;
  coverage?: AuthCoverage;
}

/** Encodes a Map-Register / Map-Notify(-Ack) with a freshly computed MAC (HMAC-SHA-256 by default). */
export function encodeSigned(m: MapRegister | MapNotify, password: string | Uint8Array, opts: SignOptions = {}): Buffer {
  const algorithm = opts.algorithm ?? AuthAlgorithm.HmacSha256;
  const authData = new Uint8Array(authLengthFor(algorithm, opts.truncated));
  const bytes = encodeControl({ ...m, keyId: opts.keyId ?? m.keyId, algorithm, authData });
  return signControl(bytes, password, opts.coverage);
}

/**
 * Verifies an encoded Map-Register / Map-Notify(-Ack). Accepts either coverage (the whole
 * payload first, then the RFC-literal range of RFC 9301 §5.6) and either MAC length. Returns 'none' for
 * messages that carry no authentication (other types, or algorithm 0 with length 0): whether
 * those are acceptable is policy, not codec.
 */
export function verifyControl(bytes: Uint8Array, password: string | Uint8Array): AuthVerdict {
  if (!carriesAuth(bytes)) return 'none';
  const algorithm = bytes[13];
  const authLen = (bytes[AUTH_LENGTH_OFFSET] << 8) | bytes[AUTH_LENGTH_OFFSET + 1];
  if (authLen === 0 && algorithm === AuthAlgorithm.None) return 'none';
  const hash = hashFor(algorithm, authLen);
  if (!hash || AUTH_DATA_OFFSET + authLen > bytes.length) return 'bad';
  const received = Buffer.from(bytes.subarray(AUTH_DATA_OFFSET, AUTH_DATA_OFFSET + authLen));
  const zeroed = Buffer.from(bytes);
  zeroed.fill(0, AUTH_DATA_OFFSET, AUTH_DATA_OFFSET + authLen);
  if (timingSafeEqual(mac(hash, password, zeroed, zeroed.length).subarray(0, authLen), received)) return 'ok';
  let end: number;
  try {
    end = recordsEnd(zeroed);
  } catch {
    return 'bad';
  }
  if (end === zeroed.length) return 'bad';
  return timingSafeEqual(mac(hash, password, zeroed, end).subarray(0, authLen), received) ? 'ok' : 'bad';
}
