// Reference encryption of LISP data packets (RFC 8061 §7): LISP header (KK = key-id) ‖ IV ‖
// ciphertext ‖ ICV. For tests, the control plane and `decent decode`; the data plane does the same
// per segment in native code. Every failure is a reason string, never an exception: packets come
// off the network.
import {
  createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual,
  type CipherChaCha20Poly1305, type CipherGCM, type DecipherChaCha20Poly1305, type DecipherGCM,
} from 'node:crypto';
import type { TrafficKeys } from './kdf';
import type { SuiteSpec } from './suites';

export const LISP_HEADER_LENGTH = 8;
const KK = 0x03;
const AES_BLOCK = 16;

export type OpenFailure = 'truncated' | 'icv' | 'padding' | 'inner-length';
export type Opened = { readonly ok: true; readonly inner: Buffer; readonly iv: Buffer } | { readonly ok: false; readonly reason: OpenFailure };

/**
 * The AEAD nonce from the IV on the wire: suite 5 carries all 12 bytes; suite 6 carries 8 and the
 * 96-bit ChaCha20-Poly1305 nonce (RFC 8439 §2.8) is four zero bytes ‖ IV.
 */
function aeadNonce(iv: Uint8Array): Buffer {
  if (iv.length === 12) return Buffer.from(iv);
  const n = Buffer.alloc(12);
  n.set(iv, 12 - iv.length);
  return n;
}

function aeadCipher(keys: TrafficKeys, iv: Uint8Array): CipherGCM | CipherChaCha20Poly1305 {
  const tag = { authTagLength: keys.spec.icvLength };
  return keys.spec.cipher === 'aes-128-gcm'
    ? createCipheriv('aes-128-gcm', keys.encryptKey, aeadNonce(iv), tag)
    : createCipheriv('chacha20-poly1305', keys.encryptKey, aeadNonce(iv), tag);
}

function aeadDecipher(keys: TrafficKeys, iv: Uint8Array): DecipherGCM | DecipherChaCha20Poly1305 {
  const tag = { authTagLength: keys.spec.icvLength };
  return keys.spec.cipher === 'aes-128-gcm'
    ? createDecipheriv('aes-128-gcm', keys.encryptKey, aeadNonce(iv), tag)
    : createDecipheriv('chacha20-poly1305', keys.encryptKey, aeadNonce(iv), tag);
}

/** Associated data: the LISP header with its KK bits and the IV (authenticated, not encrypted). */
function associatedData(header: Uint8Array, iv: Uint8Array): Buffer {
  return Buffer.concat([header, iv]);
}

function icv(keys: TrafficKeys, header: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Buffer {
  return createHmac('sha256', keys.icvKey).update(header).update(iv).update(ciphertext).digest().subarray(0, keys.spec.icvLength);
}

/** lispers pads with ASCII spaces to a block multiple (none when already one); RFC variant: PKCS#7. */
function pad(spec: SuiteSpec, inner: Uint8Array): Buffer {
  if (spec.variant === 'lispers') {
    const n = (AES_BLOCK - (inner.length % AES_BLOCK)) % AES_BLOCK;
    return Buffer.concat([inner, Buffer.alloc(n, 0x20)]);
  }
  const n = AES_BLOCK - (inner.length % AES_BLOCK);
  return Buffer.concat([inner, Buffer.alloc(n, n)]);
}

/** The inner IP packet's own length (lispers' receiver cuts the padding off this way). */
function innerLength(p: Uint8Array): number | undefined {
  if (p.length < 1) return undefined;
  const version = p[0] >> 4;
  if (version === 4 && p.length >= 20) return (p[2] << 8) | p[3];
  if (version === 6 && p.length >= 40) return 40 + ((p[4] << 8) | p[5]);
  return undefined;
}

function unpad(spec: SuiteSpec, plain: Buffer): Buffer | OpenFailure {
  if (spec.variant === 'lispers') {
    const len = innerLength(plain);
    if (len === undefined || len > plain.length) return 'inner-length';
    return plain.subarray(0, len);
  }
  const n = plain.length > 0 ? plain[plain.length - 1] : 0;
  if (n < 1 || n > AES_BLOCK || n > plain.length) return 'padding';
  for (let i = plain.length - n; i < plain.length; i++) if (plain[i] !== n) return 'padding';
  return plain.subarray(0, plain.length - n);
}

/**
 * Encrypts `inner` under `keys` with key-id `keyId` (1–3) written into the KK bits of `header`
 * (the other 8-byte header fields as the caller built them) and returns the UDP payload.
 */
export function sealData(keys: TrafficKeys, keyId: number, header: Uint8Array, iv: Uint8Array, inner: Uint8Array): Buffer {
  const spec = keys.spec;
  if (keyId < 1 || keyId > 3) throw new RangeError(`key-id must be 1..3, got ${keyId}`);
  if (header.length !== LISP_HEADER_LENGTH) throw new RangeError(`the LISP header has 8 bytes, got ${header.length}`);
  if (iv.length !== spec.ivLength) throw new RangeError(`suite ${spec.suite} needs a ${spec.ivLength}-byte IV, got ${iv.length}`);
  const h = Buffer.from(header);
  h[0] = (h[0] & ~KK) | keyId;
  if (spec.cipher === 'aes-128-cbc') {
    const c = createCipheriv('aes-128-cbc', keys.encryptKey, iv);
    c.setAutoPadding(false);
    const ct = Buffer.concat([c.update(pad(spec, inner)), c.final()]);
    return Buffer.concat([h, iv, ct, icv(keys, h, iv, ct)]);
  }
  const c = aeadCipher(keys, iv);
  c.setAAD(associatedData(h, iv), { plaintextLength: inner.length });
  const ct = Buffer.concat([c.update(inner), c.final()]);
  return Buffer.concat([h, iv, ct, c.getAuthTag()]);
}

/** Verifies the ICV (before anything is decrypted) and decrypts. The caller chose `keys` by the KK bits. */
export function openData(keys: TrafficKeys, packet: Uint8Array): Opened {
  const spec = keys.spec;
  const ctStart = LISP_HEADER_LENGTH + spec.ivLength;
  const ctEnd = packet.length - spec.icvLength;
  if (ctEnd < ctStart) return { ok: false, reason: 'truncated' };
  const header = packet.subarray(0, LISP_HEADER_LENGTH);
  const iv = Buffer.from(packet.subarray(LISP_HEADER_LENGTH, ctStart));
  const ct = packet.subarray(ctStart, ctEnd);
  const tag = packet.subarray(ctEnd);
  if (spec.cipher === 'aes-128-cbc') {
    if (ct.length === 0 || ct.length % AES_BLOCK !== 0) return { ok: false, reason: 'truncated' };
    if (!timingSafeEqual(icv(keys, header, iv, ct), tag)) return { ok: false, reason: 'icv' };
    const d = createDecipheriv('aes-128-cbc', keys.encryptKey, iv);
    d.setAutoPadding(false);
    const inner = unpad(spec, Buffer.concat([d.update(ct), d.final()]));
    if (typeof inner === 'string') return { ok: false, reason: inner };
    return { ok: true, inner, iv };
  }
  const d = aeadDecipher(keys, iv);
  d.setAAD(associatedData(header, iv), { plaintextLength: ct.length });
  d.setAuthTag(tag);
  const inner = d.update(ct);
  try {
    d.final();
  } catch {
    inner.fill(0);
    return { ok: false, reason: 'icv' };
  }
  return { ok: true, inner, iv };
}

const TWO_64 = 1n << 64n;
const MASK_64 = TWO_64 - 1n;

/**
 * The IVs one key sends. AEAD suites: a counter from 1, big-endian (RFC 8061 §7; a GCM or
 * ChaCha20 nonce must never repeat under a key). lispers' suite 2: a 128-bit counter from a random
 * start, written as two little-endian 64-bit halves (high, low). RFC suite 2: random (CBC).
 */
export class IvSequence {
  private counter: bigint;
  /** IVs handed out so far: the rekey trigger counts these. */
  sent = 0;

  constructor(private readonly spec: SuiteSpec, start?: bigint) {
    this.counter = start ?? (spec.variant === 'lispers' ? BigInt(`0x${randomBytes(16).toString('hex')}`) : 1n);
  }

  next(): Buffer {
    this.sent += 1;
    const spec = this.spec;
    if (!spec.counterIv) return randomBytes(spec.ivLength);
    const c = this.counter;
    this.counter += 1n;
    const iv = Buffer.alloc(spec.ivLength);
    if (spec.variant === 'lispers') {
      iv.writeBigUInt64LE((c >> 64n) & MASK_64, 0);
      iv.writeBigUInt64LE(c & MASK_64, 8);
    } else {
      iv.writeBigUInt64BE(c & MASK_64, spec.ivLength - 8);
    }
    return iv;
  }
}

/**
 * The replay-window counter of a received IV (a non-negative safe integer), or undefined when the
 * suite's IVs are random (RFC suite 2) or the counter is out of range. For lispers, the low 48 bits
 * of its random-start counter: a wrap of those needs 2^48 packets past the start.
 */
export function ivCounter(spec: SuiteSpec, iv: Uint8Array): number | undefined {
  if (!spec.counterIv || iv.length !== spec.ivLength) return undefined;
  const b = Buffer.from(iv.buffer, iv.byteOffset, iv.byteLength);
  if (spec.variant === 'lispers') return b.readUIntLE(8, 6);
  for (let i = 0; i < spec.ivLength - 6; i++) if (b[i] !== 0) return undefined;
  return b.readUIntBE(spec.ivLength - 6, 6);
}
