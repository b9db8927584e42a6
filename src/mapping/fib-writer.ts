/**
 * The writing side of the FIB: the only code that writes the shared arrays (the data plane's
 * map-cache sync on the main thread drives it). One FibWriter per FIB; every method is synchronous and publishes its change before returning
 * (see the concurrency note in fib.ts for how readers stay consistent meanwhile).
 */
import {
  AddressFamily, FibInputError, NumericAddress, NumericPrefix, makePrefix, parseAddress, parsePrefix, wordMask,
} from './fib-address';
import { BlockAllocator } from './fib-allocator';
import {
  ENTRY_ADDRESS, ENTRY_EXPIRES, ENTRY_IID, ENTRY_META, ENTRY_ROUTE, ENTRY_WORDS, FibAction, META_TTL_SHIFT, encodeTtl,
  INSTANCE_KEY, INSTANCE_ROOT4, INSTANCE_ROOT6, INSTANCE_WORDS, LEVELS_V4, LEVELS_V6, MAX_IID, MAX_RLOCS,
  META_IN_USE, META_LENGTH_SHIFT, META_V6, NODE_BOUNDS, NODE_LEVEL_LEAF, NODE_COUNT, RLOC_LSB_SHIFT, RLOC_PORT, RLOC_REACHABLE,
  RLOC_UP, RLOC_V6, RLOC_WEIGHT_SHIFT, ROOT_BITS, ROOT_SLOTS, ROUTE_ACTION_MASK, ROUTE_BLOCK_SHIFT, ROUTE_COUNT_MASK,
  ROUTE_COUNT_SHIFT, halfBounds, instanceHash, nodeValues, nodeWords, packRoute, rlocRecordWords,
} from './fib-layout';
import { PrefixIndex } from './fib-prefix-index';
import { levelKey, levelOf, levelSpan, mapSpan, rangeIndex, type NodeImage } from './fib-range-image';
import { FibReader } from './fib-reader';
import { FibBuffers, FibCapacity, allocateBuffers, defaultCapacity } from './fib-shared';
import { LISP_DATA_PORT } from '../wire/constants';

/** One locator of a mapping, as the control plane learnt it. */
export interface RlocSpec {
  /** "192.0.2.1", "2001:db8::1", or numbers. */
  readonly address: string | NumericAddress;
  /** 0..255, lower preferred; 255 = never for unicast. */
  readonly priority: number;
  /** 0..255, share among RLOCs of equal priority. */
  readonly weight: number;
  /** Our reachability verdict; default true. */
  readonly up?: boolean;
  /** The R bit of the Locator record; default true. */
  readonly reachable?: boolean;
  /** Locator-status-bit position, 0..31; default the RLOC's ordinal. */
  readonly lsbPosition?: number;
  /** Destination UDP port, 1..65535; default (and 4341) the LISP data port. */
  readonly port?: number;
}

export interface MappingSpec {
  /** Instance-id, 0..2^24-1. */
  readonly iid: number;
  /** "10.0.0.0/8", "2001:db8::/32", or numbers. */
  readonly prefix: string | NumericPrefix;
  /** Empty or absent for a negative entry. */
  readonly rlocs?: readonly RlocSpec[];
  /** ACT code; default NoAction (encapsulate) with RLOCs, SendMapRequest without. */
  readonly action?: FibAction;
  /** TTL in seconds; 0 = never expires (static configuration). Expiry is exact; entryTtl() shows it rounded past 32767 s. */
  readonly ttlSeconds: number;
  /** Time of the update (ms since the epoch) for the expiry; default the writer's clock. */
  readonly nowMs?: number;
}

export interface FibWriterOptions extends Partial<FibCapacity> {
  /**
   * How long a freed block or entry slot waits before reuse, so that a reader that loaded a
   * pointer to it just before the change never sees it rewritten. Default 1000 ms; 0 is only
   * safe when the reader runs on the writer's thread.
   */
  readonly reclaimDelayMs?: number;
  /** Clock in ms (tests inject one); default Date.now. */
  readonly clock?: () => number;
}

export interface FibMemoryStats {
  readonly entries: number;
  /** Entry records and counters of the slots touched so far. */
  readonly entryBytes: number;
  readonly rlocBytes: number;
  /** Roots and range nodes touched so far (high-water mark of the pool). */
  readonly nodeBytes: number;
  /** Writer-side exact-match index. */
  readonly indexBytes: number;
  readonly totalBytes: number;
  /** Bytes in live blocks only (the rest of the touched pools is free blocks awaiting reuse). */
  readonly liveBytes: number;
  /** Reserved shared memory (pages are committed by the OS only when touched). */
  readonly reservedBytes: number;
}

const NO_NODE = -1;

export class FibWriter extends FibReader {
  readonly capacity: FibCapacity;
  private readonly clock: () => number;
  private readonly entrySlots: BlockAllocator;
  private readonly rlocPool: BlockAllocator;
  private readonly nodePool: BlockAllocator;
  private readonly index: PrefixIndex;
  private readonly roots = new Map<number, readonly [number, number]>();
  private liveEntries = 0;

  constructor(options: FibWriterOptions = {}) {
    const capacity = { ...defaultCapacity(options.maxEntries ?? 65536, options.maxInstances ?? 64), ...options };
    const buffers: FibBuffers = allocateBuffers(capacity);
    super(buffers);
    this.capacity = capacity;
    this.clock = options.clock ?? Date.now;
    const delay = options.reclaimDelayMs ?? 1000;
    this.entrySlots = new BlockAllocator('entry', capacity.maxEntries, 1, delay, this.clock);
    this.rlocPool = new BlockAllocator('RLOC', capacity.rlocWords, 2, delay, this.clock);
    this.nodePool = new BlockAllocator('node', capacity.nodeWords, 2, delay, this.clock);
    this.index = new PrefixIndex(capacity.maxEntries, this.entries);
  }

  /** Number of prefixes in the FIB. */
  get size(): number {
    return this.liveEntries;
  }

  // ---- Public writer API ------------------------------------------------------------------

  /** Adds or replaces the mapping of a prefix. Returns its entry index (stable while it exists). */
  upsert(spec: MappingSpec): number {
    const iid = checkIid(spec.iid);
    const prefix = typeof spec.prefix === 'string' ? parsePrefix(spec.prefix) : makePrefix(spec.prefix.family, spec.prefix.words, spec.prefix.length);
    const rlocs = spec.rlocs ?? [];
    const action = spec.action ?? (rlocs.length > 0 ? FibAction.NoAction : FibAction.SendMapRequest);
    if (!Number.isInteger(action) || action < 0 || action > ROUTE_ACTION_MASK) throw new FibInputError('action', `${action} is not an ACT code 0..7`);
    const ttl = spec.ttlSeconds;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0xffffffff) throw new FibInputError('ttlSeconds', `${ttl} is not an integer number of seconds`);
    const expiresAt = ttl === 0 ? 0 : Math.ceil(((spec.nowMs ?? this.clock()) + ttl * 1000) / 1000);
    const route = this.writeRlocBlock(rlocs, action);

    const w = fourWords(prefix);
    const v6 = prefix.family === 6;
    let entry = this.index.find(iid, v6, prefix.length, w[0], w[1], w[2], w[3]);
    const base = entry * ENTRY_WORDS;
    if (entry >= 0) {
      const old = Atomics.exchange(this.entries, base + ENTRY_ROUTE, route);
      const meta = (this.entries[base + ENTRY_META] as number) & ((1 << META_TTL_SHIFT) - 1);
      Atomics.store(this.entries, base + ENTRY_META, meta | (encodeTtl(ttl) << META_TTL_SHIFT));
      Atomics.store(this.entries, base + ENTRY_EXPIRES, expiresAt);
      this.releaseRlocBlock(old);
      return entry;
    }
    entry = this.entrySlots.allocate(1);
    const b = entry * ENTRY_WORDS;
    const e = this.entries;
    e[b + ENTRY_IID] = iid;
    for (let i = 0; i < 4; i++) e[b + ENTRY_ADDRESS + i] = w[i] as number;
    e[b + ENTRY_EXPIRES] = expiresAt;
    e[b + ENTRY_ROUTE] = route;
    Atomics.store(e, b + ENTRY_META, (v6 ? META_V6 : 0) | META_IN_USE | (prefix.length << META_LENGTH_SHIFT)
      | (encodeTtl(ttl) << META_TTL_SHIFT));
    // The slot left every table at least reclaimDelayMs ago, so the data plane no longer counts
    // on it: zeroing here cannot lose a concurrent increment.
    this.counters[entry * 2] = 0;
    this.counters[entry * 2 + 1] = 0;
    this.index.add(entry);
    this.liveEntries++;
    const roots = this.instanceRoots(iid);
    this.insertIntoTrie(v6 ? roots[1] : roots[0], v6, w, prefix.length, entry);
    return entry;
  }

  /** Removes a prefix. Returns false if it was not there. */
  remove(iid: number, prefix: string | NumericPrefix): boolean {
    checkIid(iid);
    const p = typeof prefix === 'string' ? parsePrefix(prefix) : makePrefix(prefix.family, prefix.words, prefix.length);
    const w = fourWords(p);
    const entry = this.index.find(iid, p.family === 6, p.length, w[0], w[1], w[2], w[3]);
    if (entry < 0) return false;
    this.removeEntry(entry);
    return true;
  }

  /** Entry index of an exact prefix, or -1. */
  find(iid: number, prefix: string | NumericPrefix): number {
    checkIid(iid);
    const p = typeof prefix === 'string' ? parsePrefix(prefix) : makePrefix(prefix.family, prefix.words, prefix.length);
    const w = fourWords(p);
    return this.index.find(iid, p.family === 6, p.length, w[0], w[1], w[2], w[3]);
  }

  /** Marks RLOC `ordinal` of an entry up or down; readers see it from the next packet on. */
  setRlocUp(entry: number, ordinal: number, up: boolean): void {
    this.checkEntry(entry);
    const route = this.route(entry);
    const count = this.routeRlocCount(route);
    if (!Number.isInteger(ordinal) || ordinal < 0 || ordinal >= count) {
      throw new FibInputError('ordinal', `RLOC ${ordinal} does not exist (entry has ${count})`);
    }
    this.rewriteRlocs(entry, (head, i) => (i === ordinal ? (up ? head | RLOC_UP : head & ~RLOC_UP) : head));
  }

  /** Marks an RLOC address up or down in every entry that uses it; returns how many entries changed. */
  setRlocUpByAddress(address: string | NumericAddress, up: boolean): number {
    const a = typeof address === 'string' ? parseAddress(address) : address;
    const v6 = a.family === 6;
    let changed = 0;
    const top = this.entrySlots.highWaterWords;
    for (let entry = 0; entry < top; entry++) {
      if (!this.entryInUse(entry)) continue;
      const route = this.route(entry);
      const count = this.routeRlocCount(route);
      const matches: boolean[] = [];
      let any = false;
      for (let i = 0; i < count; i++) {
        let same = this.rlocFamily(route, i) === a.family;
        for (let k = 0; same && k < (v6 ? 4 : 1); k++) same = this.rlocAddressWord(route, i, k) === ((a.words[k] ?? 0) >>> 0);
        matches.push(same && this.rlocUp(route, i) !== up);
        any ||= same && this.rlocUp(route, i) !== up;
      }
      if (!any) continue;
      this.rewriteRlocs(entry, (head, i) => (matches[i] === true ? (up ? head | RLOC_UP : head & ~RLOC_UP) : head));
      changed++;
    }
    return changed;
  }

  /** Removes every entry whose TTL has run out at `nowMs`; returns how many. */
  expire(nowMs: number = this.clock()): number {
    const nowSeconds = Math.floor(nowMs / 1000);
    const top = this.entrySlots.highWaterWords;
    let removed = 0;
    for (let entry = 0; entry < top; entry++) {
      if (this.entryInUse(entry) && this.entryExpired(entry, nowSeconds)) {
        this.removeEntry(entry);
        removed++;
      }
    }
    return removed;
  }

  /** Packets and bytes forwarded with an entry since it was created. */
  entryCounters(entry: number): { packets: number; bytes: number } {
    this.checkEntry(entry);
    return { packets: this.packets(entry), bytes: this.bytes(entry) };
  }

  /** The EID prefix of an entry, as numbers. */
  entryPrefix(entry: number): NumericPrefix {
    this.checkEntry(entry);
    const family = this.entryFamily(entry);
    const words: number[] = [];
    for (let i = 0; i < (family === 4 ? 1 : 4); i++) words.push(this.entryAddressWord(entry, i));
    return { family, words, length: this.entryPrefixLength(entry) };
  }

  memoryStats(): FibMemoryStats {
    const slots = this.entrySlots.highWaterWords;
    const entryBytes = slots * (ENTRY_WORDS * 4 + 16);
    const rlocBytes = this.rlocPool.highWaterWords * 4;
    const nodeBytes = this.nodePool.highWaterWords * 4;
    const indexBytes = this.index.byteLength;
    const b = this.buffers;
    return {
      entries: this.liveEntries,
      entryBytes,
      rlocBytes,
      nodeBytes,
      indexBytes,
      totalBytes: entryBytes + rlocBytes + nodeBytes + indexBytes,
      liveBytes: this.liveEntries * (ENTRY_WORDS * 4 + 16) + (this.rlocPool.liveWords + this.nodePool.liveWords) * 4 + indexBytes,
      reservedBytes: b.entries.byteLength + b.counters.byteLength + b.rlocs.byteLength + b.nodes.byteLength + b.instances.byteLength,
    };
  }

  // ---- Entries and RLOC blocks --------------------------------------------------------------

  private checkEntry(entry: number): void {
    if (!Number.isInteger(entry) || entry < 0 || entry >= this.capacity.maxEntries || !this.entryInUse(entry)) {
      throw new FibInputError('entry', `${entry} is not an entry in use`);
    }
  }

  private removeEntry(entry: number): void {
    const family: AddressFamily = this.entryFamily(entry);
    const v6 = family === 6;
    const w = [0, 1, 2, 3].map((i) => this.entryAddressWord(entry, i));
    const length = this.entryPrefixLength(entry);
    const iid = this.entryInstanceId(entry);
    const roots = this.instanceRoots(iid);
    this.removeFromTrie(iid, v6 ? roots[1] : roots[0], v6, w, length, entry);
    this.index.delete(entry);
    const b = entry * ENTRY_WORDS;
    // The route stays: a reader that found this entry a moment ago still forwards consistently.
    Atomics.store(this.entries, b + ENTRY_META, (this.entries[b + ENTRY_META] as number) & ~META_IN_USE);
    this.releaseRlocBlock(this.route(entry), true);
    this.entrySlots.release(entry, 1);
    this.liveEntries--;
  }

  /** Writes a fresh RLOC block and returns the route word that points to it. */
  private writeRlocBlock(rlocs: readonly RlocSpec[], action: number): number {
    if (rlocs.length > MAX_RLOCS) throw new FibInputError('rlocs', `${rlocs.length} RLOCs; at most ${MAX_RLOCS}`);
    if (rlocs.length === 0) return packRoute(action, 0, 0);
    const heads: number[] = [];
    const ports: number[] = [];
    const addresses: NumericAddress[] = [];
    let words = 0;
    rlocs.forEach((r, i) => {
      const field = `rlocs[${i}]`;
      const a = typeof r.address === 'string' ? parseAddress(r.address, `${field}.address`) : r.address;
      if (a.words.length !== (a.family === 4 ? 1 : 4) || a.words.some((x) => !Number.isInteger(x) || x < 0 || x > 0xffffffff)) {
        throw new FibInputError(`${field}.address`, `bad IPv${a.family} address words`);
      }
      const byte = (name: string, v: number, max: number): number => {
        if (!Number.isInteger(v) || v < 0 || v > max) throw new FibInputError(`${field}.${name}`, `${v} is not an integer in 0..${max}`);
        return v;
      };
      const head = byte('priority', r.priority, 255) | (byte('weight', r.weight, 255) << RLOC_WEIGHT_SHIFT)
        | (byte('lsbPosition', r.lsbPosition ?? i, 31) << RLOC_LSB_SHIFT)
        | (a.family === 6 ? RLOC_V6 : 0) | (r.up === false ? 0 : RLOC_UP) | (r.reachable === false ? 0 : RLOC_REACHABLE);
      if (r.port !== undefined && r.port < 1) throw new FibInputError(`${field}.port`, `${r.port} is not a port in 1..65535`);
      const port = r.port === undefined || r.port === LISP_DATA_PORT ? 0 : byte('port', r.port, 65535);
      const withPort = port !== 0 ? head | RLOC_PORT : head;
      heads.push(withPort);
      ports.push(port);
      addresses.push(a);
      words += rlocRecordWords(withPort);
    });
    const block = this.rlocPool.allocate(words);
    let at = block;
    heads.forEach((head, i) => {
      this.rlocs[at] = head;
      const a = addresses[i] as NumericAddress;
      a.words.forEach((word, k) => { this.rlocs[at + 1 + k] = word | 0; });
      if ((head & RLOC_PORT) !== 0) this.rlocs[at + 1 + a.words.length] = ports[i] as number;
      at += rlocRecordWords(head);
    });
    return packRoute(action, rlocs.length, block);
  }

  /** Copy-on-write change of an entry's RLOC heads, published by one atomic route swap. */
  private rewriteRlocs(entry: number, change: (head: number, ordinal: number) => number): void {
    const route = this.route(entry);
    const count = this.routeRlocCount(route);
    let from = (route >>> ROUTE_BLOCK_SHIFT) * 2;
    const words = this.rlocBlockWords(route);
    const block = this.rlocPool.allocate(words);
    let to = block;
    for (let i = 0; i < count; i++) {
      const head = this.rlocs[from] as number;
      const size = rlocRecordWords(head);
      this.rlocs[to] = change(head, i);
      for (let k = 1; k < size; k++) this.rlocs[to + k] = this.rlocs[from + k] as number;
      from += size;
      to += size;
    }
    Atomics.store(this.entries, entry * ENTRY_WORDS + ENTRY_ROUTE, packRoute(route & ROUTE_ACTION_MASK, count, block));
    this.releaseRlocBlock(route);
  }

  private rlocBlockWords(route: number): number {
    const count = (route >>> ROUTE_COUNT_SHIFT) & ROUTE_COUNT_MASK;
    let at = (route >>> ROUTE_BLOCK_SHIFT) * 2;
    let words = 0;
    for (let i = 0; i < count; i++) {
      const size = rlocRecordWords(this.rlocs[at] as number);
      words += size;
      at += size;
    }
    return words;
  }

  private releaseRlocBlock(route: number, _entryGone = false): void {
    if (this.routeRlocCount(route) === 0) return;
    this.rlocPool.release((route >>> ROUTE_BLOCK_SHIFT) * 2, this.rlocBlockWords(route));
  }

  // ---- Instance-ids -----------------------------------------------------------------------

  private instanceRoots(iid: number): readonly [number, number] {
    const known = this.roots.get(iid);
    if (known !== undefined) return known;
    const dir = this.instances;
    const mask = dir.length / INSTANCE_WORDS - 1;
    if (this.roots.size >= this.capacity.maxInstances) {
      throw new FibInputError('iid', `more than ${this.capacity.maxInstances} instance-ids`);
    }
    // Roots start with no route, and are never freed.
    const root4 = this.nodePool.allocate(ROOT_SLOTS);
    const root6 = this.nodePool.allocate(ROOT_SLOTS);
    this.nodes.fill(0, root4, root4 + ROOT_SLOTS);
    this.nodes.fill(0, root6, root6 + ROOT_SLOTS);
    let i = instanceHash(iid) & mask;
    while ((dir[i * INSTANCE_WORDS + INSTANCE_KEY] as number) !== 0) i = (i + 1) & mask;
    dir[i * INSTANCE_WORDS + INSTANCE_ROOT4] = root4;
    dir[i * INSTANCE_WORDS + INSTANCE_ROOT6] = root6;
    Atomics.store(dir, i * INSTANCE_WORDS + INSTANCE_KEY, iid + 1);
    const roots = [root4, root6] as const;
    this.roots.set(iid, roots);
    return roots;
  }

  // ---- Trie updates -------------------------------------------------------------------------

  private lengthOf(leaf: number): number {
    return this.entryPrefixLength(leaf - 1);
  }

  /** Whether leaf `current` (entry + 1, or 0) should give way to a new prefix of `length`. */
  private yieldsTo(current: number, length: number): boolean {
    return current === 0 || this.lengthOf(current) < length;
  }

  private insertIntoTrie(root: number, v6: boolean, w: number[], length: number, entry: number): void {
    const leaf = entry + 1;
    if (length <= ROOT_BITS) {
      this.forRootSpan(root, w, length, (slotAt, slot) => {
        if (slot >= 0) {
          if (this.yieldsTo(slot, length)) Atomics.store(this.nodes, slotAt, leaf);
        } else if (this.yieldsTo(this.nodes[~slot + NODE_LEVEL_LEAF] as number, length)) {
          Atomics.store(this.nodes, ~slot + NODE_LEVEL_LEAF, leaf);
        }
      });
      return;
    }
    this.updateBelowRoot(root, v6, w, length, (image, levelStart, levelWidth) => {
      const [a, b] = levelSpan(w, levelStart, levelWidth, length);
      mapSpan(image, levelWidth, a, b, (value) => {
        if (value >= 0) return this.yieldsTo(value, length) ? leaf : value;
        if (this.yieldsTo(this.nodes[~value + NODE_LEVEL_LEAF] as number, length)) {
          Atomics.store(this.nodes, ~value + NODE_LEVEL_LEAF, leaf);
        }
        return value;
      });
    }, true);
  }

  private removeFromTrie(iid: number, root: number, v6: boolean, w: number[], length: number, entry: number): void {
    const leaf = entry + 1;
    const lowest = length <= ROOT_BITS ? 0 : levelOf(v6, length)[0] + 1;
    const replacement = this.coveringLeaf(iid, v6, w, length, lowest);
    if (length <= ROOT_BITS) {
      this.forRootSpan(root, w, length, (slotAt, slot) => {
        if (slot === leaf) Atomics.store(this.nodes, slotAt, replacement);
        else if (slot < 0 && this.nodes[~slot + NODE_LEVEL_LEAF] === leaf) {
          Atomics.store(this.nodes, ~slot + NODE_LEVEL_LEAF, replacement);
        }
      });
      return;
    }
    this.updateBelowRoot(root, v6, w, length, (image, levelStart, levelWidth) => {
      const [a, b] = levelSpan(w, levelStart, levelWidth, length);
      mapSpan(image, levelWidth, a, b, (value) => {
        if (value === leaf) return replacement;
        if (value < 0 && this.nodes[~value + NODE_LEVEL_LEAF] === leaf) {
          Atomics.store(this.nodes, ~value + NODE_LEVEL_LEAF, replacement);
        }
        return value;
      });
    }, false);
  }

  /** Leaf of the longest prefix shorter than `length` (and at least `lowest`) covering w, or 0. */
  private coveringLeaf(iid: number, v6: boolean, w: number[], length: number, lowest: number): number {
    for (let l = length - 1; l >= lowest; l--) {
      const m = (i: number): number => ((w[i] as number) & wordMask(l - 32 * i)) >>> 0;
      const found = this.index.find(iid, v6, l, m(0), m(1), m(2), m(3));
      if (found >= 0) return found + 1;
    }
    return 0;
  }

  private forRootSpan(root: number, w: number[], length: number, visit: (slotAt: number, slot: number) => void): void {
    const size = 1 << (ROOT_BITS - length);
    const first = ((w[0] as number) >>> ROOT_BITS) & ~(size - 1);
    for (let s = first; s < first + size; s++) visit(root + s, this.nodes[root + s] as number);
  }

  /**
   * Applies `edit` to the range node of the level that holds prefixes of `length`, creating
   * nodes on the way down when inserting. Rebuilt nodes are written to fresh blocks and
   * published by one atomic pointer store in their parent; old blocks go to quarantine.
   */
  private updateBelowRoot(root: number, v6: boolean, w: number[], length: number,
    edit: (image: NodeImage, levelStart: number, levelWidth: number) => void, inserting: boolean): void {
    const levels = v6 ? LEVELS_V6 : LEVELS_V4;
    const target = levels.findIndex(([start, width]) => length > start && length <= start + width);
    const slotAt = root + ((w[0] as number) >>> ROOT_BITS);
    const slot = this.nodes[slotAt] as number;
    if (slot >= 0 && !inserting) return;
    const node = slot < 0 ? ~slot : NO_NODE;
    const levelLeaf = slot < 0 ? this.nodes[node + NODE_LEVEL_LEAF] as number : slot;
    const result = this.updateLevel(node, levelLeaf, 0, target, levels, w, edit, inserting);
    if (result === node) return;
    Atomics.store(this.nodes, slotAt, result === NO_NODE ? levelLeaf : ~result);
  }

  /** Returns the node's new offset (the same one if changed in place), or NO_NODE if it became empty. */
  private updateLevel(node: number, levelLeaf: number, level: number, target: number,
    levels: readonly (readonly [number, number])[], w: number[],
    edit: (image: NodeImage, levelStart: number, levelWidth: number) => void, inserting: boolean): number {
    const [start, width] = levels[level] as readonly [number, number];
    const half = halfBounds(width);
    const image = node === NO_NODE ? { bounds: [0], values: [0], levelLeaf } : this.readNode(node, half);
    if (level === target) {
      edit(image, start, width);
    } else {
      const key = levelKey(w, start, width);
      const i = rangeIndex(image.bounds, key);
      const value = image.values[i] as number;
      if (value < 0) {
        const child = ~value;
        const childLeaf = this.nodes[child + NODE_LEVEL_LEAF] as number;
        const updated = this.updateLevel(child, childLeaf, level + 1, target, levels, w, edit, inserting);
        if (updated === child) return node;
        if (updated !== NO_NODE) {
          Atomics.store(this.nodes, nodeValues(node, image.bounds.length, half) + i, ~updated);
          return node;
        }
        mapSpan(image, width, key, key, () => childLeaf);
      } else {
        if (!inserting) return node;
        const created = this.updateLevel(NO_NODE, value, level + 1, target, levels, w, edit, inserting);
        mapSpan(image, width, key, key, () => ~created);
      }
    }
    if (image.bounds.length === 1 && image.values[0] === 0) {
      if (node !== NO_NODE) this.releaseNode(node, half);
      return NO_NODE;
    }
    const written = this.writeNode(image, half);
    if (node !== NO_NODE) this.releaseNode(node, half);
    return written;
  }

  /** `half`: the node's bounds are uint16 (a 16-bit level), see fib-layout. */
  private readNode(node: number, half: boolean): NodeImage {
    const n = this.nodes[node + NODE_COUNT] as number;
    const bounds: number[] = new Array<number>(n);
    const values: number[] = new Array<number>(n);
    const valuesAt = nodeValues(node, n, half);
    for (let i = 0; i < n; i++) {
      bounds[i] = half ? this.halves[(node + NODE_BOUNDS) * 2 + i] as number : this.bounds[node + NODE_BOUNDS + i] as number;
      values[i] = this.nodes[valuesAt + i] as number;
    }
    return { bounds, values, levelLeaf: this.nodes[node + NODE_LEVEL_LEAF] as number };
  }

  private writeNode(image: NodeImage, half: boolean): number {
    const n = image.bounds.length;
    const node = this.nodePool.allocate(nodeWords(n, half));
    this.nodes[node + NODE_COUNT] = n;
    this.nodes[node + NODE_LEVEL_LEAF] = image.levelLeaf;
    const valuesAt = nodeValues(node, n, half);
    // The padding half of an odd count is zeroed: a reused block may hold anything.
    if (half) this.nodes[valuesAt - 1] = 0;
    for (let i = 0; i < n; i++) {
      if (half) this.halves[(node + NODE_BOUNDS) * 2 + i] = image.bounds[i] as number;
      else this.bounds[node + NODE_BOUNDS + i] = image.bounds[i] as number;
      this.nodes[valuesAt + i] = image.values[i] as number;
    }
    return node;
  }

  private releaseNode(node: number, half: boolean): void {
    this.nodePool.release(node, nodeWords(this.nodes[node + NODE_COUNT] as number, half));
  }
}

function checkIid(iid: number): number {
  if (!Number.isInteger(iid) || iid < 0 || iid > MAX_IID) throw new FibInputError('iid', `${iid} is not an instance-id in 0..${MAX_IID}`);
  return iid;
}

function fourWords(prefix: NumericPrefix): number[] {
  return [0, 1, 2, 3].map((i) => (prefix.words[i] ?? 0) >>> 0);
}
