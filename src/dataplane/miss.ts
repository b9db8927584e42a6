// Packets to EIDs with no map-cache entry yet: ask the control plane (at most once per second
// per EID) and hold a few packets per pending EID so the first ping or SYN is not lost, unlike
// lispers.net and OOR which drop it. Everything lives in preallocated typed arrays: a miss
// storm allocates nothing and is bounded in memory (pending EIDs x packets x arena).
// The same queue holds packets whose mapping is known but whose destination RLOC has no
// LISP-crypto send key yet (`dataplane.encryption: required`, RFC 8061 §6 exchange running):
// such a pending slot is keyed by the RLOC (an AddressTable entry), is never reported as a
// miss, and is released when the key arrives or dropped after keyHoldMs.
import { ADDR_STRIDE } from '../native';
export interface MissQueueOptions {
  /** EIDs waiting for a mapping (default 64). */
  maxPending?: number;
  /** Packets held per pending EID (default 8). */
  perEid?: number;
  /** Held packets are dropped after this long without a mapping (default 1000 ms). */
  holdMs?: number;
  /** onMiss at most once per this interval per EID (default 1000 ms). */
  askIntervalMs?: number;
  /** Bytes of packet storage (default 2 MiB; a held TSO super-packet can be 64 KiB). */
  arenaBytes?: number;
  /**
   * Packets held for a LISP-crypto key are dropped after this long without one (default 3000
   * ms: the key exchange starts within a second of the mapping and retries after one more).
   */
  keyHoldMs?: number;
}

/** What drain() did: packets sent on and dropped (expired), for mapping waits and key waits. */
export interface DrainResult {
  delivered: number;
  expired: number;
  keyDelivered: number;
  keyExpired: number;
}

export class MissQueue {
  readonly maxPending: number;
  readonly perEid: number;
  readonly holdMs: number;
  readonly askIntervalMs: number;
  readonly keyHoldMs: number;
  // pending EIDs (or RLOCs waiting for a key): family 0 = free slot
  private readonly family: Uint8Array;
  /** 1: the slot waits for a send key for the RLOC in `rloc` (AddressTable layout), not for a mapping. */
  private readonly forKey: Uint8Array;
  /** Per slot one AddressTable entry ([0] family, [4..] address): the RLOC of a key wait. */
  readonly rlocEntries: Uint8Array;
  private readonly iid: Int32Array;
  private readonly addr: Uint32Array;
  private readonly lastAsk: Float64Array;
  private readonly held: Int32Array;
  /** Pending slots whose onMiss is due (set in the hot path, reported after the batch). */
  private readonly due: Uint8Array;
  private dueCount = 0;
  private pendingCount = 0;
  // held packets
  private readonly maxHeld: number;
  private readonly pktPending: Int32Array;
  private readonly pktOff: Int32Array;
  private readonly pktLen: Int32Array;
  private readonly pktFlags: Int32Array;
  private readonly pktGso: Int32Array;
  private readonly pktAt: Float64Array;
  private heldCount = 0;
  readonly arena: Buffer;
  private arenaUsed = 0;

  constructor(opts: MissQueueOptions = {}) {
    this.maxPending = opts.maxPending ?? 64;
    this.perEid = opts.perEid ?? 8;
    this.holdMs = opts.holdMs ?? 1000;
    this.askIntervalMs = opts.askIntervalMs ?? 1000;
    this.keyHoldMs = opts.keyHoldMs ?? 3000;
    const p = this.maxPending;
    this.family = new Uint8Array(p);
    this.forKey = new Uint8Array(p);
    this.rlocEntries = new Uint8Array(p * ADDR_STRIDE);
    this.iid = new Int32Array(p);
    this.addr = new Uint32Array(p * 4);
    this.lastAsk = new Float64Array(p);
    this.held = new Int32Array(p);
    this.due = new Uint8Array(p);
    this.maxHeld = p * this.perEid;
    this.pktPending = new Int32Array(this.maxHeld);
    this.pktOff = new Int32Array(this.maxHeld);
    this.pktLen = new Int32Array(this.maxHeld);
    this.pktFlags = new Int32Array(this.maxHeld);
    this.pktGso = new Int32Array(this.maxHeld);
    this.pktAt = new Float64Array(this.maxHeld);
    this.arena = Buffer.alloc(opts.arenaBytes ?? 2 << 20);
  }

  get pending(): number {
    return this.pendingCount;
  }

  get heldPackets(): number {
    return this.heldCount;
  }

  get reportDue(): boolean {
    return this.dueCount > 0;
  }

  private find(iid: number, v4: boolean, b: Uint8Array, dstAt: number): number {
    const fam = v4 ? 4 : 6;
    const words = v4 ? 1 : 4;
    for (let s = 0; s < this.maxPending; s++) {
      if (this.family[s] !== fam || this.iid[s] !== iid || this.forKey[s] !== 0) continue;
      let same = true;
      for (let w = 0; w < words; w++) {
        const o = dstAt + 4 * w;
        const v = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
        if (this.addr[s * 4 + w] !== v) { same = false; break; }
      }
      if (same) return s;
    }
    return -1;
  }

  private claim(iid: number, v4: boolean, b: Uint8Array, dstAt: number): number {
    for (let s = 0; s < this.maxPending; s++) {
      if (this.family[s] !== 0) continue;
      this.family[s] = v4 ? 4 : 6;
      this.forKey[s] = 0;
      this.iid[s] = iid;
      for (let w = 0; w < (v4 ? 1 : 4); w++) {
        const o = dstAt + 4 * w;
        this.addr[s * 4 + w] = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
      }
      this.lastAsk[s] = -Infinity;
      this.held[s] = 0;
      this.pendingCount++;
      return s;
    }
    return -1;
  }

  /**
   * A packet missed the FIB: remember its EID, mark onMiss due if not asked within the interval,
   * and hold a copy. Returns true when the packet was held (false: dropped, queue full).
   */
  hold(b: Uint8Array, at: number, len: number, flags: number, gso: number, iid: number, v4: boolean, now: number): boolean {
    const dstAt = at + (v4 ? 16 : 24);
    let s = this.find(iid, v4, b, dstAt);
    if (s < 0) s = this.claim(iid, v4, b, dstAt);
    if (s < 0) return false;
    if (now - this.lastAsk[s] >= this.askIntervalMs && this.due[s] === 0) {
      this.due[s] = 1;
      this.dueCount++;
      this.lastAsk[s] = now;
    }
    return this.store(s, b, at, len, flags, gso, now);
  }

  /**
   * A packet whose destination RLOC (address entry at `rlocAt` of `entries`, AddressTable layout)
   * has no LISP-crypto send key yet: hold a copy until releaseKey() says the key is there, at most
   * keyHoldMs. Returns true when held (false: queue full, the caller drops and counts).
   */
  holdForKey(b: Uint8Array, at: number, len: number, flags: number, gso: number, entries: Uint8Array, rlocAt: number, now: number): boolean {
    const fam = entries[rlocAt], n = fam === 6 ? 16 : 4;
    if (fam !== 4 && fam !== 6) return false;
    let s = -1, free = -1;
    for (let x = 0; x < this.maxPending && s < 0; x++) {
      if (this.family[x] === 0) { if (free < 0) free = x; continue; }
      if (this.forKey[x] === 0 || this.family[x] !== fam) continue;
      const e = x * ADDR_STRIDE + 4;
      let same = true;
      for (let j = 0; j < n; j++) if (this.rlocEntries[e + j] !== entries[rlocAt + 4 + j]) { same = false; break; }
      if (same) s = x;
    }
    if (s < 0) {
      if (free < 0) return false;
      s = free;
      this.family[s] = fam;
      this.forKey[s] = 1;
      this.iid[s] = -1;
      this.addr.fill(0, s * 4, s * 4 + 4);
      this.rlocEntries.fill(0, s * ADDR_STRIDE, (s + 1) * ADDR_STRIDE);
      this.rlocEntries[s * ADDR_STRIDE] = fam;
      this.rlocEntries.set(entries.subarray(rlocAt + 4, rlocAt + 4 + n), s * ADDR_STRIDE + 4);
      this.lastAsk[s] = now;
      this.held[s] = 0;
      this.pendingCount++;
    }
    return this.store(s, b, at, len, flags, gso, now);
  }

  private store(s: number, b: Uint8Array, at: number, len: number, flags: number, gso: number, now: number): boolean {
    if (this.held[s] >= this.perEid || this.heldCount >= this.maxHeld || this.arenaUsed + len > this.arena.length) return false;
    const k = this.heldCount++;
    this.pktPending[k] = s;
    this.pktOff[k] = this.arenaUsed;
    this.pktLen[k] = len;
    this.pktFlags[k] = flags;
    this.pktGso[k] = gso;
    this.pktAt[k] = now;
    this.arena.set(b.subarray(at, at + len), this.arenaUsed);
    this.arenaUsed += len;
    this.held[s]++;
    return true;
  }

  /** Calls `report(slot)` for every EID whose onMiss is due; read it with eidOf(). */
  report(report: (slot: number) => void): void {
    if (this.dueCount === 0) return;
    for (let s = 0; s < this.maxPending; s++) {
      if (this.due[s] === 0) continue;
      this.due[s] = 0;
      report(s);
    }
    this.dueCount = 0;
  }

  /** The EID of a pending slot: instance-id, family and address words. */
  slotIid(s: number): number { return this.iid[s]; }
  slotV4(s: number): boolean { return this.family[s] === 4; }
  slotWord(s: number, w: number): number { return this.addr[s * 4 + w]; }
  /** Whether a pending slot waits for a LISP-crypto key (its RLOC at rlocEntries[s * ADDR_STRIDE]) rather than a mapping. */
  slotWaitsForKey(s: number): boolean { return this.forKey[s] === 1; }

  /**
   * Release held packets: `resolved(slot)` says whether the slot's EID now has a mapping;
   * `deliver(arena, off, len, flags, gso)` gets each held packet of a resolved EID (in arrival
   * order). Packets older than holdMs (keyHoldMs for key waits) are dropped.
   */
  drain(now: number, resolved: (slot: number) => boolean,
    deliver: (arena: Buffer, off: number, len: number, flags: number, gso: number) => void): DrainResult {
    const r: DrainResult = { delivered: 0, expired: 0, keyDelivered: 0, keyExpired: 0 };
    if (this.pendingCount === 0) return r;
    const ok = new Int8Array(this.maxPending); // slow path (a mapping arrived or the timer): one small array is fine
    for (let s = 0; s < this.maxPending; s++) if (this.family[s] !== 0 && resolved(s)) ok[s] = 1;
    let keep = 0;
    for (let k = 0; k < this.heldCount; k++) {
      const s = this.pktPending[k];
      const forKey = this.forKey[s] === 1;
      if (ok[s]) {
        deliver(this.arena, this.pktOff[k], this.pktLen[k], this.pktFlags[k], this.pktGso[k]);
        if (forKey) r.keyDelivered++; else r.delivered++;
        this.held[s]--;
      } else if (now - this.pktAt[k] >= (forKey ? this.keyHoldMs : this.holdMs)) {
        if (forKey) r.keyExpired++; else r.expired++;
        this.held[s]--;
      } else {
        // compact in place: the arena offsets stay valid, the arena resets only when empty
        this.pktPending[keep] = s;
        this.pktOff[keep] = this.pktOff[k];
        this.pktLen[keep] = this.pktLen[k];
        this.pktFlags[keep] = this.pktFlags[k];
        this.pktGso[keep] = this.pktGso[k];
        this.pktAt[keep] = this.pktAt[k];
        keep++;
      }
    }
    this.heldCount = keep;
    if (keep === 0) this.arenaUsed = 0;
    for (let s = 0; s < this.maxPending; s++) {
      if (this.family[s] === 0) continue;
      // A resolved EID is forgotten at once; an unresolved one stays (to rate-limit onMiss)
      // until it holds nothing and was last asked an interval ago. A key wait goes once empty.
      if (ok[s] || (this.held[s] === 0 && (this.forKey[s] === 1 || now - this.lastAsk[s] >= this.askIntervalMs))) {
        if (this.due[s]) { this.due[s] = 0; this.dueCount--; }
        this.family[s] = 0;
        this.forKey[s] = 0;
        this.held[s] = 0;
        this.pendingCount--;
      }
    }
    return r;
  }
}
