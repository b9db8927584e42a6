/**
 * Word layouts shared by the FIB writer and the readers (both on the main thread today; the
 * tables are SharedArrayBuffers so a reader may run in another thread). Both sides must agree on
 * every bit here, so the layout lives in one place.
 */
import { MAX_INSTANCE_ID } from '../wire/constants';

/** Map-cache action, with the wire ACT codes [RFC 9301 §5.4] so map-cache actions are stored as received. */
export const enum FibAction {
  /** Encapsulate to the RLOC set (a positive entry). */
  NoAction = 0,
  NativelyForward = 1,
  SendMapRequest = 2,
  /** Drop/No-Reason; 4 (Policy-Denied), 5 (Auth-Failure) and unknown codes are drops too. */
  Drop = 3,
  DropPolicyDenied = 4,
  DropAuthFailure = 5,
}

// ---- Entry record: ENTRY_WORDS Int32 words per entry in `entries` --------------------------
export const ENTRY_WORDS = 8;
/** The route word: action, RLOC count and RLOC block, all in one word so one atomic store swaps them. */
export const ENTRY_ROUTE = 0;
/**
 * Prefix meta: family bit, in-use bit, prefix length, TTL code. Family and length are immutable
 * while the entry is in use; the TTL code changes with a refresh (one word store).
 */
export const ENTRY_META = 1;
export const ENTRY_IID = 2;
/** Four address words (IPv4 uses the first). */
export const ENTRY_ADDRESS = 3;
/** Expiry in whole seconds of the Unix epoch (uint32); 0 = never. */
export const ENTRY_EXPIRES = 7;

export const META_V6 = 1 << 0;
export const META_IN_USE = 1 << 1;
export const META_LENGTH_SHIFT = 8;
/**
 * The TTL as received, for display only (expiry is exact and separate), in 16 bits so the entry
 * stays small: seconds up to 32767, else minutes with the top bit set (up to ~22 days; clamped).
 */
export const META_TTL_SHIFT = 16;

export function encodeTtl(seconds: number): number {
  return seconds <= 0x7fff ? seconds : 0x8000 | Math.min(0x7fff, Math.ceil(seconds / 60));
}

export function decodeTtl(code: number): number {
  return (code & 0x8000) !== 0 ? (code & 0x7fff) * 60 : code;
}

/**
 * Route word: bits 0-2 action, bits 3-7 RLOC count (0..31), bits 8-31 RLOC block offset in
 * units of 2 words (RLOC blocks start at even offsets), so the RLOC pool may hold 2^25 words.
 */
export const ROUTE_ACTION_MASK = 7;
export const ROUTE_COUNT_SHIFT = 3;
export const ROUTE_COUNT_MASK = 31;
export const ROUTE_BLOCK_SHIFT = 8;
export const MAX_RLOCS = 31;
export const MAX_RLOC_POOL_WORDS = 2 ** 25;

export function packRoute(action: number, count: number, blockOffsetWords: number): number {
  return (action | (count << ROUTE_COUNT_SHIFT) | ((blockOffsetWords >>> 1) << ROUTE_BLOCK_SHIFT)) | 0;
}

// ---- RLOC record in `rlocs`: one head word, then 1 (IPv4) or 4 (IPv6) address words -------
export const RLOC_PRIORITY_MASK = 0xff;
export const RLOC_WEIGHT_SHIFT = 8;
export const RLOC_LSB_SHIFT = 16;
export const RLOC_LSB_MASK = 0x3f;
export const RLOC_V6 = 1 << 24;
/** Our reachability verdict (RLOC probing, ICMP): cleared = down, skipped at once. */
export const RLOC_UP = 1 << 25;
/** The R bit from the Locator record: 0 means the ITR MUST NOT encapsulate to it. */
export const RLOC_REACHABLE = 1 << 26;
export const RLOC_USABLE = RLOC_UP | RLOC_REACHABLE;
/**
 * A destination UDP port other than 4341 follows the address in one more word: the translated
 * port of a member behind a NAT, to which its RTR re-encapsulates (draft-ietf-lisp-nat-traversal
 * §6). Records without it keep their size, so the common case costs nothing.
 */
export const RLOC_PORT = 1 << 27;
/** Priority 255: never use for unicast. */
export const PRIORITY_NEVER = 255;

export function rlocRecordWords(head: number): number {
  return ((head & RLOC_V6) !== 0 ? 5 : 2) + ((head & RLOC_PORT) !== 0 ? 1 : 0);
}

// ---- Trie nodes in `nodes` ----------------------------------------------------------------
/**
 * A root is ROOT_SLOTS words indexed by the top 16 address bits. A slot value >= 0 is a leaf
 * (entry index + 1, or 0 for no route); a value < 0 is ~(offset of a range node).
 *
 * A range node covers one level of bits below its parent: [count n, levelLeaf, n sorted lower
 * bounds (the first is 0), n values]. A value > 0 is a leaf, 0 means "no prefix of this level
 * covers it" (use the best found above), < 0 is ~(offset of the child node). levelLeaf is the
 * best prefix of the parent level covering the whole node (0 if none).
 *
 * Bounds are uint32 words on 32-bit levels and uint16, two to a word (the last word padded), on
 * 16-bit levels: every IPv4 node and IPv6's last level. Half-size bounds put the ~30 ranges of a
 * /16 at 1M random prefixes in ~190 bytes (three cache lines) instead of 256, and a 16-bit key
 * allows the branch-free search of the reader. The values follow the bounds (nodeValues).
 */
export const ROOT_BITS = 16;
export const ROOT_SLOTS = 1 << ROOT_BITS;
export const NODE_COUNT = 0;
export const NODE_LEVEL_LEAF = 1;
export const NODE_BOUNDS = 2;

/** Whether a level of `width` bits stores its bounds as uint16. */
export function halfBounds(width: number): boolean {
  return width <= 16;
}

/** Word offset of the first value of node `node` with `n` ranges. */
export function nodeValues(node: number, n: number, half: boolean): number {
  return node + NODE_BOUNDS + (half ? (n + 1) >>> 1 : n);
}

/** Size in words of a node with `n` ranges. */
export function nodeWords(n: number, half: boolean): number {
  return NODE_BOUNDS + (half ? (n + 1) >>> 1 : n) + n;
}

/**
 * lookup4Batch loads words up to this far past a node's start without reading its size first
 * (so the loads of a batch overlap), so the node pool has this many spare words at its end.
 */
export const NODE_TOUCH_WORDS = 48;

/** Levels below the root: [first bit, width in bits]. IPv4 needs one, IPv6 four. */
export const LEVELS_V4: readonly (readonly [number, number])[] = [[16, 16]];
export const LEVELS_V6: readonly (readonly [number, number])[] = [[16, 32], [48, 32], [80, 32], [112, 16]];

// ---- Instance-id directory in `instances` -------------------------------------------------
/** Per slot: iid + 1 (0 = free), IPv4 root offset, IPv6 root offset. The key is stored last. */
export const INSTANCE_WORDS = 3;
export const INSTANCE_KEY = 0;
export const INSTANCE_ROOT4 = 1;
export const INSTANCE_ROOT6 = 2;
export const MAX_IID = MAX_INSTANCE_ID;

export function instanceHash(iid: number): number {
  return Math.imul(iid ^ (iid >>> 13), 0x9e3779b1) >>> 0;
}
