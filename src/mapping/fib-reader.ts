/**
 * The data plane's view of the FIB: longest-prefix match and RLOC choice over the shared typed
 * arrays, with no allocation and no locks. Safe to use on any thread holding the buffers while
 * one FibWriter updates them (see the concurrency note in fib.ts).
 */
import {
  ENTRY_ADDRESS, ENTRY_EXPIRES, ENTRY_IID, ENTRY_META, ENTRY_ROUTE, ENTRY_WORDS, META_TTL_SHIFT, decodeTtl,
  INSTANCE_KEY, INSTANCE_ROOT4, INSTANCE_ROOT6, INSTANCE_WORDS, META_IN_USE, META_LENGTH_SHIFT, META_V6, NODE_BOUNDS,
  PRIORITY_NEVER, RLOC_LSB_MASK, RLOC_LSB_SHIFT, RLOC_PORT, RLOC_PRIORITY_MASK, RLOC_REACHABLE, RLOC_UP, RLOC_USABLE, RLOC_V6,
  RLOC_WEIGHT_SHIFT, ROUTE_ACTION_MASK, ROUTE_BLOCK_SHIFT, ROUTE_COUNT_MASK, ROUTE_COUNT_SHIFT, instanceHash, rlocRecordWords,
} from './fib-layout';
import { LISP_DATA_PORT } from '../wire/constants';
import type { FibBuffers } from './fib-shared';
import type { AddressFamily } from './fib-address';

export class FibReader {
  protected readonly entries: Int32Array;
  protected readonly counters: Float64Array;
  protected readonly rlocs: Int32Array;
  protected readonly nodes: Int32Array;
  /** Same memory as `nodes`: the uint32 bounds of 32-bit levels. */
  protected readonly bounds: Uint32Array;
  /** Same memory as `nodes`: the uint16 bounds of 16-bit levels (IPv4, IPv6's last level). */
  protected readonly halves: Uint16Array;
  protected readonly instances: Int32Array;
  private readonly instanceMask: number;

  // Last instance-id resolved: traffic comes in long runs of one instance-id. Directory slots
  // and roots are never freed, so a positive result stays valid.
  private cachedIid = -1;
  private cachedRoot4 = 0;
  private cachedRoot6 = 0;

  /** Filled by selectRloc: family and address words (IPv4 uses [0]) of the chosen RLOC. */
  selectedFamily: AddressFamily = 4;
  readonly selectedAddress = new Uint32Array(4);
  /** Locator-status-bit position of the chosen RLOC. */
  selectedLsbPosition = 0;
  /** Destination UDP port of the chosen RLOC: 4341, or a NAT's translated port (RLOC_PORT). */
  selectedPort = LISP_DATA_PORT;
  /** Priority of the chosen RLOC (254: an RTR, draft-farinacci-lisp-lispers-net-nat). */
  selectedPriority = 0;

  constructor(readonly buffers: FibBuffers) {
    this.entries = new Int32Array(buffers.entries);
    this.counters = new Float64Array(buffers.counters);
    this.rlocs = new Int32Array(buffers.rlocs);
    this.nodes = new Int32Array(buffers.nodes);
    this.bounds = new Uint32Array(buffers.nodes);
    this.halves = new Uint16Array(buffers.nodes);
    this.instances = new Int32Array(buffers.instances);
    this.instanceMask = this.instances.length / INSTANCE_WORDS - 1;
  }

  private resolveInstance(iid: number): boolean {
    const dir = this.instances;
    let i = instanceHash(iid) & this.instanceMask;
    for (;;) {
      const key = Atomics.load(dir, i * INSTANCE_WORDS + INSTANCE_KEY);
      if (key === 0) return false;
      if (key === iid + 1) {
        this.cachedIid = iid;
        this.cachedRoot4 = dir[i * INSTANCE_WORDS + INSTANCE_ROOT4] ?? 0;
        this.cachedRoot6 = dir[i * INSTANCE_WORDS + INSTANCE_ROOT6] ?? 0;
        return true;
      }
      i = (i + 1) & this.instanceMask;
    }
  }

  /** Longest-prefix match of an IPv4 destination (uint32). Returns the entry index, or -1. */
  lookup4(iid: number, address: number): number {
    if (iid !== this.cachedIid && !this.resolveInstance(iid)) return -1;
    const nodes = this.nodes;
    const slot = nodes[this.cachedRoot4 + (address >>> 16)] as number;
    if (slot >= 0) return slot - 1;
    const node = ~slot;
    const leaf = this.halfNodeValue(node, address & 0xffff);
    return (leaf > 0 ? leaf : nodes[node + 1] as number) - 1;
  }

  /**
   * lookup4 for a batch of destinations: out[i] = lookup4(iid, addresses[from + i]) for i < count.
   * Done level by level across the batch, so the cache misses of different packets overlap
   * instead of each lookup waiting for its own chain of misses (large tables are memory-bound:
   * at 1M prefixes a miss costs ~140 ns here, but ~10 of them can be in flight at once).
   */
  lookup4Batch(iid: number, addresses: Uint32Array, from: number, count: number, out: Int32Array): void {
    if (iid !== this.cachedIid && !this.resolveInstance(iid)) {
      out.fill(-1, 0, count);
      return;
    }
    const nodes = this.nodes;
    const root = this.cachedRoot4;
    // Pass 1: root slots (independent loads). Pass 2: touch the first three cache lines of each
    // node, where the header, the bounds and most values of even a 40-range node lie, without
    // waiting for its size (the pool has NODE_TOUCH_WORDS spare words, so these stay in bounds).
    // Pass 3: the searches and value loads, now mostly from cache.
    let touched = 0;
    for (let i = 0; i < count; i++) out[i] = nodes[root + ((addresses[from + i] as number) >>> 16)] as number;
    for (let i = 0; i < count; i++) {
      const slot = out[i] as number;
      if (slot < 0) touched += (nodes[~slot] as number) + (nodes[~slot + 16] as number) + (nodes[~slot + 32] as number);
    }
    this.touchSink = touched;
    for (let i = 0; i < count; i++) {
      const slot = out[i] as number;
      if (slot >= 0) {
        out[i] = slot - 1;
        continue;
      }
      const node = ~slot;
      const leaf = this.halfNodeValue(node, (addresses[from + i] as number) & 0xffff);
      out[i] = (leaf > 0 ? leaf : nodes[node + 1] as number) - 1;
    }
  }

  /**
   * The value of the range holding `key` in a node of a 16-bit level (uint16 bounds, fib-layout).
   * Branch-free binary search: with 16-bit operands key - bound is exact and its sign bit masks
   * the step, so the unpredictable comparisons cost no mispredictions and the CPU can run ahead
   * into the next lookup's loads.
   */
  private halfNodeValue(node: number, key: number): number {
    const halves = this.halves;
    const n = this.nodes[node] as number;
    const first = (node + NODE_BOUNDS) * 2;
    let at = first;
    let span = n;
    while (span > 1) {
      const half = span >>> 1;
      at += half & ~((key - (halves[at + half] as number)) >> 31);
      span -= half;
    }
    return this.nodes[node + NODE_BOUNDS + ((n + 1) >>> 1) + at - first] as number;
  }

  /** Keeps the touch loads of lookup4Batch from being optimised away. */
  protected touchSink = 0;

  /** Longest-prefix match of an IPv6 destination given as four uint32 words, most significant first. */
  lookup6(iid: number, w0: number, w1: number, w2: number, w3: number): number {
    if (iid !== this.cachedIid && !this.resolveInstance(iid)) return -1;
    const nodes = this.nodes;
    let value = nodes[this.cachedRoot6 + (w0 >>> 16)] as number;
    if (value >= 0) return value - 1;
    let best = 0;
    for (let level = 0; ; level++) {
      const node = ~value;
      const levelLeaf = nodes[node + 1] as number;
      if (levelLeaf !== 0) best = levelLeaf;
      // Bits [16 + 32·level, +32) of the address; the last level has 16 bits.
      const key = level === 0 ? ((w0 << 16) | (w1 >>> 16)) >>> 0
        : level === 1 ? ((w1 << 16) | (w2 >>> 16)) >>> 0
          : level === 2 ? ((w2 << 16) | (w3 >>> 16)) >>> 0
            : w3 & 0xffff;
      const n = nodes[node] as number;
      if (level === 3) {
        value = this.halfNodeValue(node, key);
        return (value > 0 ? value : best) - 1;
      }
      const bounds = this.bounds;
      let at = node + NODE_BOUNDS;
      let span = n;
      while (span > 1) {
        const half = span >>> 1;
        if ((bounds[at + half] as number) <= key) at += half;
        span -= half;
      }
      value = nodes[at + n] as number;
      if (value > 0) return value - 1;
      if (value === 0) return best - 1;
    }
  }

  /** lookup4 with the address read big-endian from a packet buffer. */
  lookup4Bytes(iid: number, buffer: Uint8Array, offset: number): number {
    return this.lookup4(iid, readWord(buffer, offset));
  }

  /** lookup6 with the address read big-endian from a packet buffer. */
  lookup6Bytes(iid: number, buffer: Uint8Array, offset: number): number {
    return this.lookup6(iid, readWord(buffer, offset), readWord(buffer, offset + 4),
      readWord(buffer, offset + 8), readWord(buffer, offset + 12));
  }

  // ---- Entry fields ---------------------------------------------------------------------
  // The forwarding state of an entry (action + RLOC set) is one word, the route: read it once
  // per packet with route() and pass it to the route* / rloc* accessors, so every field comes
  // from the same version of the entry.

  /**
   * The entry's route word: a consistent snapshot of its action and RLOC set. A plain load: an
   * aligned Int32Array element never tears (ECMAScript memory model), and Atomics.load is a
   * ~35 ns runtime call in Node 20, too slow per packet.
   */
  route(entry: number): number {
    return this.entries[entry * ENTRY_WORDS + ENTRY_ROUTE] as number;
  }

  routeAction(route: number): number {
    return route & ROUTE_ACTION_MASK;
  }

  routeRlocCount(route: number): number {
    return (route >>> ROUTE_COUNT_SHIFT) & ROUTE_COUNT_MASK;
  }

  /** Word offset of RLOC `ordinal` of a route in the RLOC pool. */
  private rlocOffset(route: number, ordinal: number): number {
    let at = (route >>> ROUTE_BLOCK_SHIFT) * 2;
    for (let i = 0; i < ordinal; i++) at += rlocRecordWords(this.rlocs[at] as number);
    return at;
  }

  rlocFamily(route: number, ordinal: number): AddressFamily {
    return ((this.rlocs[this.rlocOffset(route, ordinal)] as number) & RLOC_V6) !== 0 ? 6 : 4;
  }

  /** Address word `word` (0..3; IPv4 has only 0) of an RLOC, as uint32. */
  rlocAddressWord(route: number, ordinal: number, word: number): number {
    return (this.rlocs[this.rlocOffset(route, ordinal) + 1 + word] as number) >>> 0;
  }

  /** Destination UDP port of an RLOC (4341 unless a NAT's translated port was given). */
  rlocPort(route: number, ordinal: number): number {
    const at = this.rlocOffset(route, ordinal), head = this.rlocs[at] as number;
    return (head & RLOC_PORT) !== 0 ? (this.rlocs[at + ((head & RLOC_V6) !== 0 ? 5 : 2)] as number) : LISP_DATA_PORT;
  }

  rlocPriority(route: number, ordinal: number): number {
    return (this.rlocs[this.rlocOffset(route, ordinal)] as number) & RLOC_PRIORITY_MASK;
  }

  rlocWeight(route: number, ordinal: number): number {
    return ((this.rlocs[this.rlocOffset(route, ordinal)] as number) >>> RLOC_WEIGHT_SHIFT) & 0xff;
  }

  rlocLsbPosition(route: number, ordinal: number): number {
    return ((this.rlocs[this.rlocOffset(route, ordinal)] as number) >>> RLOC_LSB_SHIFT) & RLOC_LSB_MASK;
  }

  rlocUp(route: number, ordinal: number): boolean {
    return ((this.rlocs[this.rlocOffset(route, ordinal)] as number) & RLOC_UP) !== 0;
  }

  rlocReachable(route: number, ordinal: number): boolean {
    return ((this.rlocs[this.rlocOffset(route, ordinal)] as number) & RLOC_REACHABLE) !== 0;
  }

  /** Whether the entry slot currently holds a prefix. */
  entryInUse(entry: number): boolean {
    return ((this.entries[entry * ENTRY_WORDS + ENTRY_META] as number) & META_IN_USE) !== 0;
  }

  entryFamily(entry: number): AddressFamily {
    return ((this.entries[entry * ENTRY_WORDS + ENTRY_META] as number) & META_V6) !== 0 ? 6 : 4;
  }

  entryPrefixLength(entry: number): number {
    return ((this.entries[entry * ENTRY_WORDS + ENTRY_META] as number) >>> META_LENGTH_SHIFT) & 0xff;
  }

  entryInstanceId(entry: number): number {
    return this.entries[entry * ENTRY_WORDS + ENTRY_IID] as number;
  }

  /** Prefix address word `word` (0..3) as uint32. */
  entryAddressWord(entry: number, word: number): number {
    return (this.entries[entry * ENTRY_WORDS + ENTRY_ADDRESS + word] as number) >>> 0;
  }

  /** TTL in seconds as received (informational; beyond 32767 s rounded up to minutes). Expiry is what counts. */
  entryTtl(entry: number): number {
    return decodeTtl((this.entries[entry * ENTRY_WORDS + ENTRY_META] as number) >>> META_TTL_SHIFT);
  }

  /** Expiry in Unix seconds, 0 = never. */
  entryExpiresAt(entry: number): number {
    return (this.entries[entry * ENTRY_WORDS + ENTRY_EXPIRES] as number) >>> 0;
  }

  /**
   * Whether the entry's TTL has run out at `nowSeconds`. The writer removes expired entries with
   * expire(), but the data plane can check too so a late removal never extends a mapping.
   */
  entryExpired(entry: number, nowSeconds: number): boolean {
    const at = this.entryExpiresAt(entry);
    return at !== 0 && at <= nowSeconds;
  }

  /** Counts one forwarded packet of `bytes` on the entry. Data-plane thread only (plain adds, one writer). */
  count(entry: number, bytes: number): void {
    const c = this.counters;
    c[entry * 2] = (c[entry * 2] as number) + 1;
    c[entry * 2 + 1] = (c[entry * 2 + 1] as number) + bytes;
  }

  /** Packets counted on the entry since it was created. */
  packets(entry: number): number {
    return this.counters[entry * 2] as number;
  }

  /** Bytes counted on the entry since it was created. */
  bytes(entry: number): number {
    return this.counters[entry * 2 + 1] as number;
  }

  /**
   * Chooses the RLOC for a flow [RFC 9300 §5.3, RFC 9301 §5.4 priority/weight]: among RLOCs that are up, have R=1
   * and priority < 255, those of the lowest priority; among them, weight-proportionally by
   * `flowHash` (equal split if all their weights are 0; zero-weight RLOCs are skipped when others
   * have weight). The same hash always gives the same RLOC, and a flow only moves when its own
   * RLOC becomes unusable (or a better priority appears).
   *
   * Returns the RLOC ordinal and fills selectedFamily / selectedAddress / selectedLsbPosition,
   * or returns -1 if no RLOC is usable (including negative entries).
   */
  selectRloc(entry: number, flowHash: number): number {
    return this.selectRlocOfRoute(this.route(entry), flowHash);
  }

  selectRlocOfRoute(route: number, flowHash: number): number {
    const count = (route >>> ROUTE_COUNT_SHIFT) & ROUTE_COUNT_MASK;
    if (count === 0) return -1;
    const rlocs = this.rlocs;
    const base = (route >>> ROUTE_BLOCK_SHIFT) * 2;
    let bestPriority = PRIORITY_NEVER + 1;
    let totalWeight = 0;
    let candidates = 0;
    let at = base;
    for (let i = 0; i < count; i++) {
      const head = rlocs[at] as number;
      at += ((head & RLOC_V6) !== 0 ? 5 : 2) + ((head & RLOC_PORT) !== 0 ? 1 : 0);
      if ((head & RLOC_USABLE) !== RLOC_USABLE) continue;
      const priority = head & RLOC_PRIORITY_MASK;
      if (priority > bestPriority || priority === PRIORITY_NEVER) continue;
      const weight = (head >>> RLOC_WEIGHT_SHIFT) & 0xff;
      if (priority < bestPriority) {
        bestPriority = priority;
        totalWeight = weight;
        candidates = 1;
      } else {
        totalWeight += weight;
        candidates++;
      }
    }
    if (candidates === 0) return -1;
    // Weighted rendezvous hashing: each candidate draws u = hash(flow, RLOC address) in (0, 1)
    // and scores weight / -ln(u); the highest score wins. Shares are exactly weight-proportional,
    // a flow always lands on the same RLOC, and when an RLOC goes down only its own flows move
    // (a modulo over the total weight would reshuffle most flows).
    const byWeight = totalWeight > 0;
    const single = candidates === 1;
    let bestScore = -1;
    let chosen = -1;
    let chosenAt = 0;
    at = base;
    for (let i = 0; i < count; i++) {
      const head = rlocs[at] as number;
      const v6 = (head & RLOC_V6) !== 0;
      if ((head & RLOC_USABLE) === RLOC_USABLE && (head & RLOC_PRIORITY_MASK) === bestPriority) {
        const weight = byWeight ? (head >>> RLOC_WEIGHT_SHIFT) & 0xff : 1;
        if (single) {
          chosen = i;
          chosenAt = at;
          break;
        }
        if (weight > 0) {
          let salt = rlocs[at + 1] as number;
          if (v6) salt ^= Math.imul((rlocs[at + 2] as number) ^ (rlocs[at + 3] as number), 0x9e3779b1) ^ (rlocs[at + 4] as number);
          let h = Math.imul(flowHash ^ salt, 0x85ebca6b);
          h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
          h ^= h >>> 16;
          const score = weight / -Math.log(((h >>> 0) + 0.5) * TWO_TO_MINUS_32);
          if (score > bestScore) {
            bestScore = score;
            chosen = i;
            chosenAt = at;
          }
        }
      }
      at += (v6 ? 5 : 2) + ((head & RLOC_PORT) !== 0 ? 1 : 0);
    }
    if (chosen < 0) return -1;
    const head = rlocs[chosenAt] as number;
    const out = this.selectedAddress;
    out[0] = rlocs[chosenAt + 1] as number;
    if ((head & RLOC_V6) !== 0) {
      out[1] = rlocs[chosenAt + 2] as number;
      out[2] = rlocs[chosenAt + 3] as number;
      out[3] = rlocs[chosenAt + 4] as number;
      this.selectedFamily = 6;
    } else {
      this.selectedFamily = 4;
    }
    this.selectedLsbPosition = (head >>> RLOC_LSB_SHIFT) & RLOC_LSB_MASK;
    this.selectedPriority = head & RLOC_PRIORITY_MASK;
    this.selectedPort = (head & RLOC_PORT) !== 0 ? (rlocs[chosenAt + ((head & RLOC_V6) !== 0 ? 5 : 2)] as number) : LISP_DATA_PORT;
    return chosen;
  }
}

const TWO_TO_MINUS_32 = 1 / 4294967296;

function readWord(buffer: Uint8Array, offset: number): number {
  return (((buffer[offset] as number) << 24) | ((buffer[offset + 1] as number) << 16)
    | ((buffer[offset + 2] as number) << 8) | (buffer[offset + 3] as number)) >>> 0;
}
