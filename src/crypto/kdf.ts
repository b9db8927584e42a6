// Traffic keys from an X25519 exchange: RFC 8061 §6, and lispers.net's variant of it
// (test/vectors/next/lispers-crypto-README.md, "How lispers derives them").
import { createHash, createHmac } from 'node:crypto';
import { checkSuite, type CryptoVariant, type SuiteSpec } from './suites';
import { sharedSecret } from './x25519';
import type { KeyObject } from 'node:crypto';

/** The keys of one direction under one key-id. */
export interface TrafficKeys {
  readonly spec: SuiteSpec;
  readonly encryptKey: Buffer;
  /** Empty for the AEAD suites. */
  readonly icvKey: Buffer;
}

const LABEL = Buffer.from('lisp-crypto', 'ascii');

/**
 * RFC 8061 §6: key-material = HMAC-SHA-256(key = the X25519 shared secret,
 * msg = 0x0001 ‖ "lisp-crypto" ‖ ITR nonce ‖ 0x0100) — one round of the SP 800-108 counter KDF
 * (counter 1, label, context, L = 256 bits). The nonce is the 64-bit nonce of the Map-Request that
 * carried the ITR's key (the Map-Reply echoes it), so each exchange yields fresh keys even when
 * both public keys are long-term ones. (lispers.net puts the XOR of the two public keys where the
 * nonce is; with decent's long-term keys that would give every exchange the same keys, so a
 * rekey would change nothing. The RFC's own §6 text was not at hand to settle which it says.)
 */
export function rfcKeyMaterial(secret: Uint8Array, itrNonce: bigint): Buffer {
  const context = Buffer.alloc(2 + LABEL.length + 8 + 2);
  context.writeUInt16BE(0x0001, 0);
  LABEL.copy(context, 2);
  context.writeBigUInt64BE(BigInt.asUintN(64, itrNonce), 2 + LABEL.length);
  context.writeUInt16BE(0x0100, 2 + LABEL.length + 8);
  return createHmac('sha256', secret).update(context).digest();
}

/** lispers' shared key: SHA-256("curve25519-shared:" ‖ X25519 output), curve25519-donna's default hash. */
export function lispersSharedKey(rawSecret: Uint8Array): Buffer {
  return createHash('sha256').update('curve25519-shared:', 'ascii').update(rawSecret).digest();
}

/**
 * lispers' KDF context, ASCII: "0001" ‖ "lisp-crypto" ‖ lowercase hex, no leading zeros, of
 * (own public XOR peer public, each a big-endian integer) ‖ "0100". Symmetric in the two keys.
 */
export function lispersContext(ownPublic: Uint8Array, peerPublic: Uint8Array): string {
  const xor = BigInt(`0x${Buffer.from(ownPublic).toString('hex')}`) ^ BigInt(`0x${Buffer.from(peerPublic).toString('hex')}`);
  return `0001lisp-crypto${xor.toString(16)}0100`;
}

/** lispers: HMAC-SHA-256 keyed by the context (not the secret), over the hashed shared key. */
export function lispersKeyMaterial(rawSecret: Uint8Array, ownPublic: Uint8Array, peerPublic: Uint8Array): Buffer {
  return createHmac('sha256', Buffer.from(lispersContext(ownPublic, peerPublic), 'ascii')).update(lispersSharedKey(rawSecret)).digest();
}

/**
 * Splits the 256-bit key material: RFC 8061 §6 takes the encryption key from the top 128 bits and
 * the ICV key from the bottom 128. ChaCha20 needs a 256-bit key and has its own tag: decent uses the
 * whole key material for suite 6. lispers' ICV key is 20 bytes: four zero bytes, then the low half.
 */
export function splitKeyMaterial(material: Buffer, spec: SuiteSpec): TrafficKeys {
  if (spec.encryptKeyLength === 32) return { spec, encryptKey: Buffer.from(material), icvKey: Buffer.alloc(0) };
  const encryptKey = Buffer.from(material.subarray(0, 16));
  if (spec.icvKeyLength === 0) return { spec, encryptKey, icvKey: Buffer.alloc(0) };
  const low = material.subarray(16, 32);
  const icvKey = Buffer.concat([Buffer.alloc(spec.icvKeyLength - low.length), low]);
  return { spec, encryptKey, icvKey };
}

export interface Exchange {
  readonly variant: CryptoVariant;
  readonly suite: number;
  /** Our private key for this exchange. */
  readonly privateKey: KeyObject;
  readonly ownPublic: Uint8Array;
  readonly peerPublic: Uint8Array;
  /** The nonce of the Map-Request that carried the ITR's key (RFC variant). */
  readonly itrNonce: bigint;
}

export type Derived = { readonly ok: true; readonly keys: TrafficKeys } | { readonly ok: false; readonly error: string };

/** Both ends of a direction call this with their own private key and get the same keys. */
export function deriveTrafficKeys(x: Exchange): Derived {
  const suite = checkSuite(x.suite, x.variant);
  if (!suite.ok) return suite;
  const shared = sharedSecret(x.privateKey, x.peerPublic);
  if (!shared.ok) return shared;
  const material = x.variant === 'lispers'
    ? lispersKeyMaterial(shared.secret, x.ownPublic, x.peerPublic)
    : rfcKeyMaterial(shared.secret, x.itrNonce);
  shared.secret.fill(0);
  const keys = splitKeyMaterial(material, suite.spec);
  material.fill(0);
  return { ok: true, keys };
}
