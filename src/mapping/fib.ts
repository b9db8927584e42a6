/**
 * Map-cache FIB: longest-prefix match per instance-id over IPv4 and IPv6 EID prefixes, to an
 * entry holding the mapping's RLOC set (or a negative action), TTL and counters.
 *
 * ## Shape
 * Per (instance-id, family) a 65,536-slot root indexed by the top 16 address bits. A slot holds
 * either a leaf (entry index + 1; prefixes /0../16 are expanded into the slots they cover) or a
 * pointer to a *range node* for the longer prefixes under that /16: a sorted array of range lower
 * bounds plus one value per range, searched by binary search. IPv4 needs one range level (bits
 * 16-31); IPv6 chains up to four (bits 16-47, 48-79, 80-111, 112-127), a range value pointing to
 * the next level's node when longer prefixes exist under it. All of it lives in Int32Arrays;
levels of 16-bit keys (IPv4, IPv6's last) store their bounds as uint16 (see fib-layout).
 *
 * Why ranges rather than a multibit trie (16-8-8, DIR-24-8): an expanded trie pays a whole node
 * (1 KB for 8-bit strides) for every isolated /24 or /32, which put 1M random prefixes well over
 * 100 bytes each; a range node pays ~2 ranges (12 bytes for IPv4) per prefix and a lookup is still
 * one root load plus a short, branch-free binary search in two or three cache lines (~30 ranges
 * per /16 at 1M prefixes).
 *
 * ## Concurrency: one writer, any number of readers, no locks, no pauses
 * All tables are SharedArrayBuffers (fib-shared.ts). The one FibWriter lives on the main thread,
 * in the data plane (dataplane/fib-sync.ts applies the control worker's map-cache changes to
 * it); the forwarding loops read through it on the same thread, and a FibReader built on the same
 * buffers (postMessage them) may read from any other thread. The rules:
 *  1. Every change that a reader can observe is a single aligned 32-bit Atomics.store: a root
 *     slot, a node pointer, a node's levelLeaf, or an entry's *route word*.
 *  2. Everything bigger is copy-on-write: a changed range node or RLOC set is written into a
 *     fresh block that no reader can reach yet, then published by one pointer store (rule 1).
 *     A lookup therefore sees, per address, either the old or the new table, never a mix inside
 *     one node; there is no version word to retry on, so a writer preempted mid-update (likely
 *     on 2 shared cores) never stalls forwarding, as a seqlock reader would be.
 *  3. An entry's forwarding state (action, RLOC count, RLOC block) is packed into that one route
 *     word, and RLOC blocks are immutable once published; so route() gives a consistent snapshot
 *     of the whole entry. Marking an RLOC down writes a new block and swaps the route: the next
 *     packet sees it. The prefix of an entry is immutable while the entry is in use.
 *  4. Freed blocks and entry slots wait `reclaimDelayMs` (default 1 s) before reuse, because a
 *     reader may have loaded a pointer just before it was swapped out. A reader holds a pointer
 *     only during one lookup / one packet (well under a microsecond), so 1 s is a generous grace
 *     period (an epoch scheme would be exact but would ask the data plane to report quiescence).
 *  5. Counters are written only by the data plane (plain adds, one writer); the control side only
 *     reads them, and zeroes a slot's counters when it reuses the slot (after the delay of 4, so
 *     no increment can be in flight).
 * Updates are visible as soon as the store executes (microseconds, well within 1 ms); an update
 * costs O(prefixes under the same /16) for long prefixes, O(2^(16-len)) slot stores for short ones.
 * Readers use plain loads (Atomics.load is a runtime call costing ~35 ns in Node 20): aligned
 * Int32Array loads never tear by the ECMAScript memory model; seeing a block's contents after
 * loading the pointer to it relies on the writer's Atomics.store (a full fence) and on dependent
 * loads staying ordered on x86-64 and ARM64. The worker-thread test checks this end to end.
 */
export { FibReader } from './fib-reader';
export { FibWriter } from './fib-writer';
export type { MappingSpec, RlocSpec, FibWriterOptions, FibMemoryStats } from './fib-writer';
export type { FibBuffers, FibCapacity } from './fib-shared';
export { defaultCapacity } from './fib-shared';
export { FibFullError } from './fib-allocator';
export { FibAction, MAX_RLOCS, PRIORITY_NEVER } from './fib-layout';
export {
  FibInputError, formatAddress, formatIpv4, formatIpv6, formatPrefix, makePrefix, parseAddress, parseIpv4, parseIpv6,
  parsePrefix,
} from './fib-address';
export type { AddressFamily, NumericAddress, NumericPrefix } from './fib-address';
