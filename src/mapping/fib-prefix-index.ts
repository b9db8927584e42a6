/**
 * Exact-match index (instance-id, family, length, address) → entry index, for the writer only:
 * upsert and remove find their entry here, and a removal finds the next shorter covering prefix
 * by probing each shorter length. Open addressing with linear probing in an Int32Array (no
 * object per prefix); the key itself lives in the entry record, so a slot holds only entry + 1.
 */
import { ENTRY_ADDRESS, ENTRY_IID, ENTRY_META, ENTRY_WORDS, META_LENGTH_SHIFT, META_V6 } from './fib-layout';

export class PrefixIndex {
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(maxEntries: number, private readonly entries: Int32Array) {
    // Load factor at most ~0.7 at full capacity: linear probes stay short.
    let size = 16;
    while (size * 0.7 < maxEntries) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
  }

  get byteLength(): number {
    return this.slots.byteLength;
  }

  private static hash(iid: number, meta: number, w0: number, w1: number, w2: number, w3: number): number {
    let h = Math.imul(iid ^ 0x2545f491, 0x9e3779b1) ^ meta;
    h = Math.imul(h ^ w0, 0x85ebca6b);
    h = Math.imul(h ^ w1 ^ (h >>> 15), 0xc2b2ae35);
    h = Math.imul(h ^ w2 ^ (h >>> 13), 0x85ebca6b);
    h = Math.imul(h ^ w3 ^ (h >>> 16), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  private hashOfEntry(entry: number): number {
    const b = entry * ENTRY_WORDS;
    const e = this.entries;
    return PrefixIndex.hash(e[b + ENTRY_IID] ?? 0, keyMeta(e[b + ENTRY_META] ?? 0), e[b + ENTRY_ADDRESS] ?? 0,
      e[b + ENTRY_ADDRESS + 1] ?? 0, e[b + ENTRY_ADDRESS + 2] ?? 0, e[b + ENTRY_ADDRESS + 3] ?? 0);
  }

  /** Entry index of the exact prefix, or -1. `words` are already masked to `length`. */
  find(iid: number, v6: boolean, length: number, w0: number, w1: number, w2: number, w3: number): number {
    const meta = (v6 ? META_V6 : 0) | (length << META_LENGTH_SHIFT);
    const e = this.entries;
    let i = PrefixIndex.hash(iid, meta, w0 | 0, w1 | 0, w2 | 0, w3 | 0) & this.mask;
    for (;;) {
      const slot = this.slots[i] ?? 0;
      if (slot === 0) return -1;
      const b = (slot - 1) * ENTRY_WORDS;
      if (e[b + ENTRY_IID] === iid && keyMeta(e[b + ENTRY_META] ?? 0) === meta
        && e[b + ENTRY_ADDRESS] === (w0 | 0) && e[b + ENTRY_ADDRESS + 1] === (w1 | 0)
        && e[b + ENTRY_ADDRESS + 2] === (w2 | 0) && e[b + ENTRY_ADDRESS + 3] === (w3 | 0)) {
        return slot - 1;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Adds an entry whose key fields are already written (and not present yet). */
  add(entry: number): void {
    let i = this.hashOfEntry(entry) & this.mask;
    while ((this.slots[i] ?? 0) !== 0) i = (i + 1) & this.mask;
    this.slots[i] = entry + 1;
  }

  /** Removes an entry (its key fields must still be in place). Backward-shift deletion: no tombstones. */
  delete(entry: number): void {
    let i = this.hashOfEntry(entry) & this.mask;
    while (this.slots[i] !== entry + 1) {
      if ((this.slots[i] ?? 0) === 0) return;
      i = (i + 1) & this.mask;
    }
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & this.mask;
      const slot = this.slots[j] ?? 0;
      if (slot === 0) break;
      const home = this.hashOfEntry(slot - 1) & this.mask;
      // Move slot j into the hole unless its home lies cyclically in (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        this.slots[hole] = slot;
        hole = j;
      }
    }
    this.slots[hole] = 0;
  }
}

/** The part of the meta word that belongs to the key (family and length, not the in-use bit). */
function keyMeta(meta: number): number {
  return meta & (META_V6 | (0xff << META_LENGTH_SHIFT));
}
