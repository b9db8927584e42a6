// A reference for the data format of RFC 8061 §7 on node:crypto, to hold the addon's sealing
// and opening against: LISP header (KK = key-id) ‖ IV ‖ ciphertext ‖ ICV.
// Suites 5/6: the IV is the key's counter, big-endian in the IV's last 8 bytes, the nonce the
// 12-byte IV, the associated data the LISP header, the ICV the 16-byte tag. Suite 2 as lispers.net
// sends it (test/vectors/next/lispers-crypto-README.md): AES-128-CBC over the packet padded with
// spaces, ICV = HMAC-SHA-256(icv key, header ‖ IV ‖ ciphertext)[0:20].
import { CipherGCM, createCipheriv, createDecipheriv, createHmac, DecipherGCM, timingSafeEqual } from 'node:crypto';

export interface RefKey {
  suite: 2 | 5 | 6;
  key: Buffer;
  icvKey?: Buffer;
}

const aeadName = (suite: 5 | 6): 'aes-128-gcm' | 'chacha20-poly1305' => (suite === 5 ? 'aes-128-gcm' : 'chacha20-poly1305');

/** The IV a decent AEAD sender puts on packet number `counter` of a key (12 bytes). */
export function counterIv(counter: bigint): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeBigUInt64BE(counter, 4);
  return iv;
}

export function seal(k: RefKey, header: Uint8Array, keyId: number, iv: Buffer, plain: Uint8Array): Buffer {
  const h = Buffer.from(header);
  h[0] = (h[0] & ~3) | keyId;
  if (k.suite === 2) {
    const pad = (16 - (plain.length % 16)) % 16;
    const c = createCipheriv('aes-128-cbc', k.key, iv).setAutoPadding(false);
    const ct = Buffer.concat([c.update(Buffer.concat([plain, Buffer.alloc(pad, 0x20)])), c.final()]);
    const icv = createHmac('sha256', k.icvKey!).update(Buffer.concat([h, iv, ct])).digest().subarray(0, 20);
    return Buffer.concat([h, iv, ct, icv]);
  }
  // chacha20-poly1305 has the same AEAD methods as GCM (setAAD, getAuthTag)
  const c = createCipheriv(aeadName(k.suite) as 'aes-128-gcm', k.key, iv, { authTagLength: 16 }) as CipherGCM;
  c.setAAD(h);
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([h, iv, ct, c.getAuthTag()]);
}

/** Verify and decrypt a datagram (8-byte LISP header); undefined when the ICV does not verify. */
export function open(k: RefKey, dgram: Uint8Array): { keyId: number; iv: Buffer; plain: Buffer } | undefined {
  const d = Buffer.from(dgram);
  const keyId = d[0] & 3;
  if (k.suite === 2) {
    const iv = d.subarray(8, 24), ct = d.subarray(24, d.length - 20), icv = d.subarray(d.length - 20);
    const mac = createHmac('sha256', k.icvKey!).update(d.subarray(0, d.length - 20)).digest().subarray(0, 20);
    if (!timingSafeEqual(mac, icv)) return undefined;
    const c = createDecipheriv('aes-128-cbc', k.key, iv).setAutoPadding(false);
    return { keyId, iv: Buffer.from(iv), plain: Buffer.concat([c.update(ct), c.final()]) };
  }
  const iv = d.subarray(8, 20), ct = d.subarray(20, d.length - 16), tag = d.subarray(d.length - 16);
  const c = createDecipheriv(aeadName(k.suite) as 'aes-128-gcm', k.key, iv, { authTagLength: 16 }) as DecipherGCM;
  c.setAAD(d.subarray(0, 8));
  c.setAuthTag(tag);
  try {
    return { keyId, iv: Buffer.from(iv), plain: Buffer.concat([c.update(ct), c.final()]) };
  } catch {
    return undefined;
  }
}
