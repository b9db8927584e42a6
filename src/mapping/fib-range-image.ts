/**
 * Range nodes as the FIB writer edits them, and the level geometry they follow. A change to a
 * node is copy-on-write (fib.ts, concurrency rule 2): the writer reads the node into a NodeImage
 * (plain arrays), rewrites the span of keys a prefix covers with mapSpan, and writes the image
 * into a fresh block. Nothing here touches the shared arrays.
 */
import { FibInputError } from './fib-address';
import { LEVELS_V4, LEVELS_V6, ROOT_BITS } from './fib-layout';

/** Range node contents while the writer rebuilds it. */
export interface NodeImage {
  bounds: number[];
  values: number[];
  levelLeaf: number;
}

/**
 * Rewrites the values of keys [a, b] of a node image through `map`, splitting ranges at a and
 * b + 1, then merges neighbouring ranges that ended up with the same leaf.
 */
export function mapSpan(image: NodeImage, width: number, a: number, b: number, map: (value: number) => number): void {
  const end = 2 ** width;
  const bounds: number[] = [];
  const values: number[] = [];
  const push = (bound: number, value: number): void => {
    if (values.length > 0 && value >= 0 && values[values.length - 1] === value) return;
    bounds.push(bound);
    values.push(value);
  };
  const n = image.bounds.length;
  for (let i = 0; i < n; i++) {
    const lo = image.bounds[i] as number;
    const hi = i + 1 < n ? (image.bounds[i + 1] as number) - 1 : end - 1;
    const value = image.values[i] as number;
    if (hi < a || lo > b) {
      push(lo, value);
      continue;
    }
    if (lo < a) push(lo, value);
    push(Math.max(lo, a), map(value));
    if (hi > b) push(b + 1, value);
  }
  image.bounds = bounds;
  image.values = values;
}

/** The level [first bit, width] that holds prefixes of `length`. */
export function levelOf(v6: boolean, length: number): readonly [number, number] {
  const levels = v6 ? LEVELS_V6 : LEVELS_V4;
  const found = levels.find(([start, width]) => length > start && length <= start + width);
  if (found === undefined) throw new FibInputError('prefix', `internal: no level for /${length}`);
  return found;
}

/** Bits [start, start + width) of the address; every level starts 16 bits into a word. */
export function levelKey(w: number[], start: number, width: number): number {
  const i = (start - ROOT_BITS) / 32;
  if (width === 16) return (w[i] as number) & 0xffff;
  return (((w[i] as number) << 16) | ((w[i + 1] as number) >>> 16)) >>> 0;
}

/** The key span [a, b] that a prefix of `length` covers inside the level. */
export function levelSpan(w: number[], start: number, width: number, length: number): [number, number] {
  const size = 2 ** (start + width - length);
  const key = levelKey(w, start, width);
  const a = key - (key % size);
  return [a, a + size - 1];
}

/** Index of the range holding `key`: the last bound at or below it (bounds[0] is always 0). */
export function rangeIndex(bounds: number[], key: number): number {
  let lo = 0;
  let hi = bounds.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((bounds[mid] as number) <= key) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
