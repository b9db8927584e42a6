/**
 * The FIB's shared memory: plain SharedArrayBuffers that the writer creates and hands to
 * readers (postMessage them to another thread as they are; structured clone shares, not copies).
 */
import { ENTRY_WORDS, INSTANCE_WORDS, MAX_RLOC_POOL_WORDS, NODE_TOUCH_WORDS } from './fib-layout';
import { FibInputError } from './fib-address';

export interface FibBuffers {
  /** Entry records, ENTRY_WORDS Int32 words each. */
  readonly entries: SharedArrayBuffer;
  /** Per entry: packets, bytes (Float64); written by the data plane only. */
  readonly counters: SharedArrayBuffer;
  /** RLOC blocks (Int32 words). */
  readonly rlocs: SharedArrayBuffer;
  /** Trie roots and range nodes (Int32 words). */
  readonly nodes: SharedArrayBuffer;
  /** Instance-id directory (open addressing, INSTANCE_WORDS per slot). */
  readonly instances: SharedArrayBuffer;
}

export interface FibCapacity {
  /** Most entries (prefixes) at once, all instance-ids and families together. */
  readonly maxEntries: number;
  /** Most instance-ids. Each costs 512 KB of roots (touched only where prefixes are). */
  readonly maxInstances: number;
  /** RLOC pool size in words (an IPv4 RLOC takes 2, an IPv6 RLOC 5; blocks round up to powers of 2). */
  readonly rlocWords: number;
  /** Node pool size in words (roots are 65,536 words each). */
  readonly nodeWords: number;
}

/** Default pool sizes for a number of entries. Memory is reserved, but the OS commits pages only when touched. */
export function defaultCapacity(maxEntries: number, maxInstances = 64): FibCapacity {
  return {
    maxEntries,
    maxInstances,
    rlocWords: Math.min(MAX_RLOC_POOL_WORDS, Math.max(1024, maxEntries * 8)),
    nodeWords: maxInstances * 2 * 65536 + Math.max(65536, maxEntries * 16),
  };
}

function powerOfTwoAtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export function allocateBuffers(capacity: FibCapacity): FibBuffers {
  const check = (name: string, value: number, max: number): void => {
    if (!Number.isInteger(value) || value < 1 || value > max) throw new FibInputError(name, `${value} is not an integer in 1..${max}`);
  };
  check('maxEntries', capacity.maxEntries, 2 ** 27);
  check('maxInstances', capacity.maxInstances, 2 ** 16);
  check('rlocWords', capacity.rlocWords, MAX_RLOC_POOL_WORDS);
  check('nodeWords', capacity.nodeWords, 2 ** 30);
  return {
    entries: new SharedArrayBuffer(capacity.maxEntries * ENTRY_WORDS * 4),
    counters: new SharedArrayBuffer(capacity.maxEntries * 16),
    rlocs: new SharedArrayBuffer(capacity.rlocWords * 4),
    nodes: new SharedArrayBuffer((capacity.nodeWords + NODE_TOUCH_WORDS) * 4),
    // Half full at most, so probes stay short.
    instances: new SharedArrayBuffer(powerOfTwoAtLeast(capacity.maxInstances * 2) * INSTANCE_WORDS * 4),
  };
}
