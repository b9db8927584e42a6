// Packets to EIDs with no map-cache entry yet: ask the control plane (at most once per second
// per EID) and hold a few packets per pending EID so the first ping or SYN is not lost, unlike
// lispers.net and OOR which drop it. Everything lives in preallocated typed arrays: a miss
// storm allocates nothing and is bounded in memory (pending EIDs x packets x arena).
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
}

export class MissQueue {
  readonly maxPending: number;
  readonly perEid: number;
  readonly holdMs: number;
  readonly askIntervalMs: number;
  // pending EIDs: family 0 = free slot
  private readonly family: Uint8Array;
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
    const p = this.maxPending;
    this.family = new Uint8Array(p);
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
      if (this.family[s] !== fam || this.iid[s] !== iid) continue;
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

  /**
   * Release held packets: `resolved(slot)` says whether the slot's EID now has a mapping;
   * `deliver(arena, off, len, flags, gso)` gets each held packet of a resolved EID (in arrival
   * order). Packets older than holdMs are dropped. Returns [delivered, expired].
   */
  drain(now: number, resolved: (slot: number) => boolean,
    deliver: (arena: Buffer, off: number, len: number, flags: number, gso: number) => void): [number, number] {
    if (this.pendingCount === 0) return [0, 0];
    let delivered = 0, expired = 0;
    const ok = new Int8Array(this.maxPending); // slow path (a mapping arrived or the timer): one small array is fine
    for (let s = 0; s < this.maxPending; s++) if (this.family[s] !== 0 && resolved(s)) ok[s] = 1;
    let keep = 0;
    for (let k = 0; k < this.heldCount; k++) {
      const s = this.pktPending[k];
      if (ok[s]) {
        deliver(this.arena, this.pktOff[k], this.pktLen[k], this.pktFlags[k], this.pktGso[k]);
        delivered++;
        this.held[s]--;
      } else if (now - this.pktAt[k] >= this.holdMs) {
        expired++;
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
      // until it holds nothing and was last asked an interval ago.
      if (ok[s] || (this.held[s] === 0 && now - this.lastAsk[s] >= this.askIntervalMs)) {
        if (this.due[s]) { this.due[s] = 0; this.dueCount--; }
        this.family[s] = 0;
        this.held[s] = 0;
        this.pendingCount--;
      }
    }
    return [delivered, expired];
  }
}
