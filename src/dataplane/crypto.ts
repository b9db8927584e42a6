// LISP-crypto in the data plane (RFC 8061 §7): JS picks the key set per slot, the addon seals
// and opens per segment. Encap: the hook between classify and emit writes the send set of the
// slot's destination RLOC into keySet[i]. Decap: before the inner checks, each received message
// gets the receive set of its outer source (by its first datagram's KK bits) and one
// KeyTable.open() call opens the batch in place; what did not open keeps K bits and is dropped
// by the checks. `required`: nothing goes out in clear (a slot to an RLOC without keys waits in
// the miss queue, bounded and counted, while the control plane's exchange runs, and goes out
// sealed when the key arrives; dropped and counted when the queue is full or the key does not
// come within its hold time) and clear data from outside the control path (IID 0xFFFFFF) is dropped.
// No per-packet allocation: RLOCs map to sets through a typed-array hash of the address bytes.
import { ADDR_STRIDE, D, DESC_STRIDE, F, KeyTable, SHIM_SHIFT, type RecvPool } from '../native';
import type { KeyEvent } from '../crypto';
import { DATA_FLAG_I, HER_INSTANCE_ID } from '../wire/constants';
import { SHIM_FROM, SHIM_MARK, shimFamily, shimLength, shimType } from '../wire/relay-shim';
import { AddressIndex } from './address-index';
import type { EncapBatch } from './encap';
import type { MissQueue } from './miss';
import { PeerKeySets } from './peer-keys';

export type EncryptionMode = 'required' | 'preferred' | 'off';

/**
 * The most a sealed datagram grows (RFC 8061 §7: IV ‖ ciphertext ‖ ICV): suite 6 adds 24 bytes,
 * suite 5 28, lispers.net's suite 2 up to 16 + 15 of padding + 20 = 51. The ITR's too-big limit
 * subtracts it whenever encryption is on.
 */
export const SEAL_OVERHEAD_MAX = 51;

const SEND = 1, DROP = 0;
/** Datagrams per GRO message at most (UDP GRO merges up to 64; the addon's DN_MAX_GSO_SEGS). */
const SEGS_PER_SLOT = 64;

export interface KeyStat {
  direction: 'encap' | 'decap';
  peerRloc: string;
  keyId: number;
  suite: number;
  /** When the data plane installed this key (ms since the epoch). */
  installedAt: number;
  /** encap: this key-id seals what is sent now. */
  sending: boolean;
  /** encap: last IV counter sent (rekey before 2^32); decap: highest one authenticated. */
  ivCounter: number;
  encrypted: number;
  decrypted: number;
  authFailures: number;
  replays: number;
  outOfWindow: number;
  unknownKeyId: number;
  txNoKey: number;
}

export class DataPlaneCrypto {
  readonly table: KeyTable;
  private readonly peers: PeerKeySets;
  private readonly tx = new AddressIndex();
  private readonly rx = new AddressIndex();
  /** The RTRs whose FROM relay shims we accept (RLOCs registered at priority 254, ours included). */
  private readonly rtrs = new AddressIndex();
  /** Per received slot, the receive set of each datagram of a message relayed from several ITRs (F.SEG_KEYS); sized once per pool. */
  private segSets = new Int32Array(0);
  /** Slots held in the miss queue because their RLOC has no send key yet (required). */
  heldNoKey = 0;
  /** ... of them sent (sealed) once the key came. */
  heldSent = 0;
  /** Slots not sent because their RLOC had no send key (required): the queue was full, or no key within its hold time. */
  dropNoKey = 0;
  /** Received datagrams with K bits from a source without receive keys. */
  dropUnknownPeer = 0;
  /** Clear data received while encryption is required. */
  dropClear = 0;
  /** Slots to an RTR whose relay target (priority 255) is unknown, not sent because encryption is required. */
  dropViaRtr = 0;
  /** Slots sealed for the member behind an RTR and sent with a TO relay shim. */
  sealedViaRtr = 0;

  /** `miss`: where `required` holds packets to an RLOC without keys (none: they are dropped). */
  constructor(readonly mode: Exclude<EncryptionMode, 'off'>, sets = 256, private readonly miss?: MissQueue) {
    this.table = new KeyTable(sets);
    this.peers = new PeerKeySets(this.table);
  }

  /** A key event from the control plane; an error message when it could not be applied. */
  apply(e: KeyEvent): string | undefined {
    const err = this.peers.apply(e);
    if (e.direction === 'encap') this.tx.set(e.peerRloc, this.peers.txSet(e.peerRloc));
    else this.rx.set(e.peerRloc, this.peers.rxSet(e.peerRloc));
    return err;
  }

  /** Whether the RLOC of address entry `at` (AddressTable layout) has a send key. */
  hasSendKey(entries: Uint8Array, at: number): boolean {
    return this.tx.lookup(entries, at) !== 0;
  }

  /** The RTRs (their RLOCs) whose FROM relay shims name the ITR a packet's keys belong to. */
  setRtrs(rlocs: readonly string[]): void {
    this.rtrs.replace(rlocs.map((r) => [r, 1] as const));
  }

  /**
   * The encap hook: the send set of each SEND slot's destination; under `required` a slot without
   * one waits. A slot via an RTR is sealed for the member behind it, its relay target (the RTR
   * never decrypts, README "Behind NAT"), and gets a TO relay shim naming it (shim[i]).
   */
  tag(b: EncapBatch, n: number, nowMs: number): void {
    const addrs = b.addrs.bytes, targets = b.targets.bytes, verdict = b.verdict, keySet = b.keySet, p = b.pool, desc = p.desc, miss = this.miss, viaRtr = b.viaRtr, shim = b.shim;
    for (let i = 0; i < n; i++) {
      if (verdict[i] !== SEND) continue;
      const via = viaRtr[i] !== 0;
      const e = i * ADDR_STRIDE;
      if (via && targets[e] === 0) {
        // no relay target known: the RTR would have to read the inner header
        keySet[i] = 0;
        if (this.mode === 'required') { verdict[i] = DROP; this.dropViaRtr++; }
        continue;
      }
      const on = via ? targets : addrs;
      const s = this.tx.lookup(on, e);
      keySet[i] = s;
      if (s !== 0) {
        if (via) { shim[i] = 1; this.sealedViaRtr++; }
        continue;
      }
      // preferred: clear (and through an RTR without a shim: it reads the inner header)
      if (this.mode !== 'required') continue;
      verdict[i] = DROP;
      const d = i * DESC_STRIDE;
      if (miss?.holdForKey(p.data, i * p.slotSize + desc[d + D.OFF], desc[d + D.LEN], desc[d + D.FLAGS], desc[d + D.GSO], on, e, nowMs)) this.heldNoKey++;
      else this.dropNoKey++;
    }
  }

  /**
   * Before decap's checks: pick each message's receive set and open the batch in place. A
   * message with a FROM relay shim from a known RTR is opened with the keys of the ITR the shim
   * names, after the shim (D.FLAGS shim bits tell decap and the addon where the LISP header is);
   * other shim messages are left to decap (an RTR relays TO shims; the rest are counted drops).
   */
  open(p: RecvPool, n: number): void {
    const data = p.data, desc = p.desc;
    let any = false, anySeg = false;
    if (this.segSets.length < n * SEGS_PER_SLOT) this.segSets = new Int32Array(p.slots * SEGS_PER_SLOT);
    for (let i = 0; i < n; i++) {
      const d = i * DESC_STRIDE, at = i * p.slotSize + desc[d + D.OFF], len = desc[d + D.LEN];
      if (len < 8) continue;
      const seg = desc[d + D.GSO] > 0 ? desc[d + D.GSO] : len;
      let sh = 0;
      if (data[at] === SHIM_MARK) {
        sh = shimLength(data, at, Math.min(seg, len));
        if (sh <= 0 || shimType(data, at) !== SHIM_FROM || this.rtrs.lookup(p.src, i * ADDR_STRIDE) === 0) continue;
        // a GRO message may hold datagrams relayed from several ITRs (one UDP flow from the
        // RTR): each opens under the keys its own shim names
        const same = sameShims(data, at, len, seg, sh);
        if (!same && !this.setsPerDatagram(i, data, at, len, seg, sh)) continue;
        desc[d + D.FLAGS] |= sh << SHIM_SHIFT;
        if (!same) {
          desc[d + D.FLAGS] |= F.SEG_KEYS;
          desc[d + D.KEY] = 1; // the addon takes each datagram's set from segSets
          anySeg = any = true;
          continue;
        }
        if ((data[at + sh] & 3) === 0) {
          // clear data behind a shim is never accepted: the checks drop it
          for (let o = at; o < at + len; o += seg) data[o + sh] |= 3;
          this.dropClear += Math.ceil(len / seg);
          continue;
        }
        const s = this.rx.lookupBytes(shimFamily(data, at), data, at + 4);
        if (s === 0) { this.dropUnknownPeer++; continue; }
        desc[d + D.KEY] = s;
        any = true;
        continue;
      }
      if ((data[at] & 3) === 0) {
        // clear: head-end replicated control (IID 0xFFFFFF) is never encrypted; other data only
        // when allowed. Every datagram of a GRO message is looked at: the checks drop K-bit ones.
        if (this.mode !== 'required') continue;
        for (let o = at; o < at + len; o += seg) {
          const f = data[o], iid = (data[o + 4] << 16) | (data[o + 5] << 8) | data[o + 6];
          if ((f & 3) === 0 && !((f & DATA_FLAG_I) !== 0 && iid === HER_INSTANCE_ID)) { data[o] = f | 3; this.dropClear++; }
        }
        continue;
      }
      const s = this.rx.lookup(p.src, i * ADDR_STRIDE);
      if (s === 0) { this.dropUnknownPeer++; continue; }
      desc[d + D.KEY] = s;
      any = true;
    }
    if (any) this.table.open(p, n, anySeg ? this.segSets : undefined);
  }

  /**
   * Message i's datagrams each carry a FROM shim of length `sh` (same family) naming possibly
   * different ITRs: their receive sets into segSets (0 for a clear datagram or an unknown ITR,
   * which the addon then leaves unopened for the checks to drop, counted). False when a datagram
   * is no such shim: the message is dropped whole (decap counts relayShimDropped).
   */
  private setsPerDatagram(i: number, b: Uint8Array, at: number, len: number, seg: number, sh: number): boolean {
    const base = i * SEGS_PER_SLOT, segSets = this.segSets;
    if (Math.ceil(len / seg) > SEGS_PER_SLOT) return false;
    for (let o = at; o < at + len; o += seg) {
      if (shimLength(b, o, Math.min(seg, at + len - o)) !== sh || b[o + 1] !== b[at + 1] || b[o + 2] !== b[at + 2]) return false;
    }
    for (let o = at, j = 0; o < at + len; o += seg, j++) {
      let s = 0;
      if ((b[o + sh] & 3) === 0) this.dropClear++;
      else if ((s = this.rx.lookupBytes(b[o + 2], b, o + 4)) === 0) this.dropUnknownPeer++;
      segSets[base + j] = s;
    }
    return true;
  }

  /**
   * Per peer RLOC and key-id (for `decent show peers`, the web UI and the rekey trigger): suite,
   * whether it is the send key, IV counter, packets encrypted/decrypted, auth failures, replays,
   * out-of-window drops, and the set's unknown-key-id / no-send-key drops.
   */
  keyStats(): KeyStat[] {
    const out: KeyStat[] = [];
    for (const p of this.peers.peers()) {
      const sc = this.table.setCounters(p.set), send = p.direction === 'encap' ? this.table.sendKeyId(p.set) : 0;
      for (const keyId of p.keyIds) {
        const k = this.table.key(p.set, keyId);
        out.push({
          direction: p.direction, peerRloc: p.peerRloc, keyId, suite: k.suite, installedAt: p.installedAt.get(keyId) ?? 0, sending: keyId === send,
          ivCounter: Number(p.direction === 'encap' ? k.txIv : k.rxTop), encrypted: k.encrypted, decrypted: k.decrypted,
          authFailures: k.authFailures, replays: k.replays, outOfWindow: k.outOfWindow, unknownKeyId: sc.unknownKeyId, txNoKey: sc.txNoKey,
        });
      }
    }
    return out;
  }

  counters(): Record<string, number> {
    return {
      cryptoHeldNoKey: this.heldNoKey, cryptoHeldSent: this.heldSent, cryptoDropNoKey: this.dropNoKey, cryptoDropUnknownPeer: this.dropUnknownPeer, cryptoDropClear: this.dropClear, cryptoDropViaRtr: this.dropViaRtr, cryptoSealedViaRtr: this.sealedViaRtr, cryptoRefused: this.peers.refused,
    };
  }
}

/** Whether every datagram of a message carries the same shim (type, family, address) as its first. */
function sameShims(b: Uint8Array, at: number, len: number, seg: number, sh: number): boolean {
  for (let o = at + seg; o < at + len; o += seg) {
    if (at + len - o < sh + 8) return false;
    for (let k = 0; k < sh; k++) if (b[o + k] !== b[at + k]) return false;
  }
  return true;
}
