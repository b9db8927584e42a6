// The LISP-crypto key table shared with the addon (RFC 8061; native/src/crypto.h). JavaScript
// decides which key a packet uses by writing a key set index into D.KEY of its slot; the addon
// seals every segment after the GSO split (udpSend) and verifies + decrypts every received
// datagram before coalescing (tunWrite). A set holds one key per key-id 1..3 (the KK bits), so
// a rekey installs the next key-id and then switches the send key-id: nothing is lost between.
//
// Key material goes to native code once per install (OpenSSL contexts are made there, never per
// packet) and is not kept in this shared buffer; what JS reads here is state and counters.
import type { TrafficKeys } from '../crypto/kdf';
import { loadAddon } from './addon';
import type { Pool } from './pool';
import { KE, KEY_COUNTER_NAMES, KEY_OFFSET, KEY_STRIDE, KEYSET_STRIDE, KeyCounterName, KS } from './layout';

/** Cipher suites the data plane runs (RFC 8061 §5). */
export const SUITE = {
  /** X25519 + AES-128-CBC + HMAC-SHA-256, in lispers.net's form (20-byte ICV, space padding, LE IV counter). */
  AES128_CBC_SHA256: 2,
  /** X25519 + AES-128-GCM. */
  AES128_GCM: 5,
  /** X25519 + ChaCha20-Poly1305 (fast without AES instructions, e.g. a Raspberry Pi 4). */
  CHACHA20_POLY1305: 6,
} as const;
export type DataSuite = (typeof SUITE)[keyof typeof SUITE];

export interface KeySpec {
  suite: DataSuite;
  /** 16 bytes (AES-128) or 32 (ChaCha20). */
  encryptionKey: Uint8Array;
  /** Suite 2 only: the HMAC-SHA-256 key (lispers.net: 20 bytes, 4 zero bytes first). */
  icvKey?: Uint8Array;
  /**
   * IV bytes on the wire (RFC 8061 §5): 8 for suite 6 (nonce = 0000 ‖ IV, RFC 8439 §2.8), 12 for
   * suite 5, 16 for suite 2.
   */
  ivLength?: number;
  /** ICV bytes on the wire: 16 for the AEAD suites, 20 for suite 2 (lispers.net). */
  icvLength?: number;
}

export type KeyCounters = Record<KeyCounterName, number>;

export interface KeyState extends KeyCounters {
  active: boolean;
  suite: number;
  ivLength: number;
  icvLength: number;
  /** Last IV counter sent (the first packet carries 1): a rekey is due well before 2^32. */
  txIv: bigint;
  /** Highest IV counter received and authenticated. */
  rxTop: bigint;
}

export interface KeySetCounters {
  /** Received datagrams whose KK bits name no installed key (or are 0) under this set: dropped. */
  unknownKeyId: number;
  /** Slots sent under this set while its send key-id had no key: dropped, never sent in clear. */
  txNoKey: number;
}

export class KeyTable {
  /** Number of sets; set 0 means "clear" and is never used. */
  readonly sets: number;
  /** The shared bytes (on a SharedArrayBuffer when asked), read by JS, written by the addon. */
  readonly bytes: Uint8Array;
  /** @internal handle for the addon (Tun.setKeys, UdpEndpoint.setKeys) */
  readonly handle: object;
  private readonly view: DataView;
  private readonly used: Uint8Array;
  private inUse = 0;

  constructor(sets = 256, opts: { shared?: boolean } = {}) {
    if (!Number.isInteger(sets) || sets < 2 || sets > 65536) throw new RangeError(`a key table has 2..65536 sets, got ${sets}`);
    this.sets = sets;
    const buf = opts.shared ? new SharedArrayBuffer(sets * KEYSET_STRIDE) : new ArrayBuffer(sets * KEYSET_STRIDE);
    this.bytes = new Uint8Array(buf);
    this.view = new DataView(buf);
    this.used = new Uint8Array(sets);
    this.used[0] = 1;
    this.handle = loadAddon().keysOpen(this.bytes, sets);
  }

  /** A free set index (1..sets-1), or -1 when all are taken (the caller counts and queues). */
  allocate(): number {
    if (this.inUse >= this.sets - 1) return -1;
    for (let i = 1; i < this.sets; i++) {
      if (!this.used[i]) { this.used[i] = 1; this.inUse++; return i; }
    }
    return -1;
  }

  /** Wipe every key of the set and give it back. */
  release(set: number): void {
    this.check(set);
    for (let k = 1; k <= 3; k++) this.remove(set, k);
    this.setSendKey(set, 0);
    if (this.used[set]) { this.used[set] = 0; this.inUse--; }
  }

  get allocated(): number {
    return this.inUse;
  }

  /**
   * Install (or replace) key-id `keyId` of a set: OpenSSL contexts are made now; the key's IV
   * counter, replay window and counters start from zero. It is used for sending only once
   * `setSendKey` names it; for receiving at once.
   */
  install(set: number, keyId: number, spec: KeySpec): void {
    this.check(set);
    const aead = spec.suite !== SUITE.AES128_CBC_SHA256;
    const iv = spec.ivLength ?? (spec.suite === SUITE.CHACHA20_POLY1305 ? 8 : aead ? 12 : 16);
    loadAddon().keysInstall(this.handle, set, keyId, spec.suite, spec.encryptionKey, spec.icvKey ?? null, iv, spec.icvLength ?? (aead ? 16 : 20));
  }

  /**
   * Install traffic keys as src/crypto derives them. Suite 2 only in lispers.net's form (the RFC's
   * AEAD_AES_128_CBC_HMAC_SHA_256 with random IVs is not in the data plane): throws otherwise.
   */
  installTraffic(set: number, keyId: number, keys: TrafficKeys): void {
    const s = keys.spec;
    if (s.suite === SUITE.AES128_CBC_SHA256 && s.variant !== 'lispers') {
      throw new RangeError('suite 2 runs in the data plane only in lispers.net\'s form (decent.lispers-compat); between decent nodes use suite 6 or 5');
    }
    if (s.suite !== SUITE.AES128_CBC_SHA256 && s.suite !== SUITE.AES128_GCM && s.suite !== SUITE.CHACHA20_POLY1305) {
      throw new RangeError(`cipher suite ${s.suite} is not in the data plane (2, 5, 6 are)`);
    }
    this.install(set, keyId, {
      suite: s.suite, encryptionKey: keys.encryptKey, icvKey: keys.icvKey.length ? keys.icvKey : undefined,
      ivLength: s.ivLength, icvLength: s.icvLength,
    });
  }

  /**
   * Verify and decrypt, in place, every datagram of the received slots [0, count) whose D.KEY
   * names a set (one call per batch): for a decap path that checks inner headers in JS before
   * `Tun.write`. An opened datagram becomes LISP header (KK cleared) ‖ inner packet ‖ leftover
   * bytes at its usual place (D.GSO stride), the slot gets F.OPENED (the TUN write cuts each at
   * its inner IP length) and D.KEY 0. A datagram that does not open keeps KK != 0 (a clear one
   * under a set gets KK = 3), so a path that drops K-bit datagrams drops it; the key or set
   * counts why. Returns the datagrams opened. (Without inner checks, D.KEY on Tun.write opens
   * and writes in one pass.) A slot with F.SEG_KEYS opens datagram j under segSets[slot * 64 + j]
   * instead (0: not opened): a GRO message whose datagrams an RTR relayed from several ITRs.
   */
  open(pool: Pool, count: number, segSets?: Int32Array): number {
    return loadAddon().keysOpenBatch(this.handle, pool.data, pool.desc, pool.slotSize, Math.min(count, pool.slots), segSets);
  }

  /** Wipe key-id `keyId` (revoked or expired): packets under it are dropped from now on. */
  remove(set: number, keyId: number): void {
    this.check(set);
    loadAddon().keysRemove(this.handle, set, keyId);
  }

  /** The key-id segments of this set are sealed with (0: none, sends under the set are dropped). */
  setSendKey(set: number, keyId: number): void {
    this.check(set);
    if (!Number.isInteger(keyId) || keyId < 0 || keyId > 3) throw new RangeError(`key-id must be 0..3, got ${keyId}`);
    this.view.setUint32(set * KEYSET_STRIDE + KS.TX_KID, keyId, true);
  }

  sendKeyId(set: number): number {
    this.check(set);
    return this.view.getUint32(set * KEYSET_STRIDE + KS.TX_KID, true);
  }

  key(set: number, keyId: number): KeyState {
    this.check(set);
    if (!Number.isInteger(keyId) || keyId < 1 || keyId > 3) throw new RangeError(`key-id must be 1..3, got ${keyId}`);
    const o = set * KEYSET_STRIDE + KEY_OFFSET + (keyId - 1) * KEY_STRIDE, v = this.view;
    const out = {
      active: v.getUint32(o + KE.ACTIVE, true) === 1,
      suite: v.getUint32(o + KE.SUITE, true),
      ivLength: v.getUint32(o + KE.IV_LEN, true),
      icvLength: v.getUint32(o + KE.ICV_LEN, true),
      txIv: v.getBigUint64(o + KE.TX_IV, true),
      rxTop: v.getBigUint64(o + KE.RX_TOP, true),
    } as KeyState;
    KEY_COUNTER_NAMES.forEach((n, i) => { out[n] = v.getFloat64(o + KE.COUNTERS + 8 * i, true); });
    return out;
  }

  setCounters(set: number): KeySetCounters {
    this.check(set);
    const o = set * KEYSET_STRIDE;
    return { unknownKeyId: this.view.getFloat64(o + KS.UNKNOWN_KID, true), txNoKey: this.view.getFloat64(o + KS.TX_NO_KEY, true) };
  }

  private check(set: number): void {
    if (!Number.isInteger(set) || set < 1 || set >= this.sets) throw new RangeError(`key set must be 1..${this.sets - 1}, got ${set}`);
  }
}
