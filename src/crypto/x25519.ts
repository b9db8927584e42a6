// X25519 key pairs and the raw shared secret (RFC 7748), on node:crypto. Public keys are the
// 32-byte u-coordinates carried in the Security Key LCAF (RFC 8061 §4).
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';

export const X25519_KEY_LENGTH = 32;

// DER prefixes of a PKCS#8 private and an SPKI public X25519 key (RFC 8410 §7, §4).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export interface X25519KeyPair {
  readonly privateKey: KeyObject;
  /** The 32-byte public key as sent on the wire. */
  readonly publicKey: Uint8Array;
}

function rawPublic(privateKey: KeyObject): Uint8Array {
  const der = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(SPKI_PREFIX.length));
}

export function generateKeyPair(): X25519KeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: rawPublic(privateKey) };
}

/** A key pair from the 32 private-key bytes (the scalar; X25519 clamps it). */
export function keyPairFromPrivate(raw: Uint8Array): X25519KeyPair {
  if (raw.length !== X25519_KEY_LENGTH) throw new RangeError(`an X25519 private key has 32 bytes, got ${raw.length}`);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: rawPublic(privateKey) };
}

/** The 32 private-key bytes, for a key file. */
export function privateKeyBytes(pair: X25519KeyPair): Uint8Array {
  const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
  return new Uint8Array(der.subarray(PKCS8_PREFIX.length));
}

export type SharedSecret = { readonly ok: true; readonly secret: Buffer } | { readonly ok: false; readonly error: string };

/**
 * X25519(own private, peer public). A peer key of the wrong length, or one of low order (the
 * all-zero result RFC 7748 §6.1 says to check), is an error, not an exception: it came off the network.
 */
export function sharedSecret(privateKey: KeyObject, peerPublic: Uint8Array): SharedSecret {
  if (peerPublic.length !== X25519_KEY_LENGTH) {
    return { ok: false, error: `an X25519 public key has 32 bytes, the peer sent ${peerPublic.length}` };
  }
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, peerPublic]), format: 'der', type: 'spki' });
    return { ok: true, secret: diffieHellman({ privateKey, publicKey }) };
  } catch {
    return { ok: false, error: 'the peer public key is of low order (X25519 result all zero)' };
  }
}
