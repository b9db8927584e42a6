// RLOC -> small integer for the hot path, without allocation: an open-addressing hash of the
// address bytes in typed arrays, rebuilt from a Map on each (rare) change. Used for LISP-crypto
// key sets per peer RLOC (crypto.ts), the RTRs whose relay shims we accept, and an RTR's relay
// targets (the data port of each member behind NAT it serves).
import { familyOf, ipToBytes } from '../native';

const CAP = 2048; // power of two; at most CAP / 2 addresses (every user bounds its own count first)

export class AddressIndex {
  private readonly keys = new Uint8Array(CAP * 17);
  private readonly values = new Int32Array(CAP);
  private readonly truth = new Map<string, number>();

  /** Sets (value > 0) or removes (0) one address. */
  set(address: string, value: number): void {
    if (value > 0) this.truth.set(address, value); else this.truth.delete(address);
    this.rebuild();
  }

  /** Replaces everything (values > 0; at most CAP / 2 addresses, the rest are ignored). */
  replace(entries: Iterable<readonly [string, number]>): void {
    this.truth.clear();
    for (const [a, v] of entries) if (v > 0 && this.truth.size < CAP / 2) this.truth.set(a, v);
    this.rebuild();
  }

  get size(): number {
    return this.truth.size;
  }

  private rebuild(): void {
    this.keys.fill(0);
    this.values.fill(0);
    for (const [a, v] of this.truth) {
      const fam = familyOf(a), b = ipToBytes(a);
      let h = hashOf(fam, b, 0, b.length);
      while (this.values[h] !== 0) h = (h + 1) & (CAP - 1);
      this.keys[h * 17] = fam;
      this.keys.set(b, h * 17 + 1);
      this.values[h] = v;
    }
  }

  /** The value of the address entry at `at` (AddressTable layout: [0] family, [4..] address); 0 = none. */
  lookup(entries: Uint8Array, at: number): number {
    return this.lookupBytes(entries[at], entries, at + 4);
  }

  /** The value of the `fam` (4 | 6) address whose bytes start at b[at]; 0 = none. */
  lookupBytes(fam: number, b: Uint8Array, at: number): number {
    const n = fam === 6 ? 16 : 4;
    if (fam !== 4 && fam !== 6) return 0;
    for (let h = hashOf(fam, b, at, n), probes = 0; probes < CAP; h = (h + 1) & (CAP - 1), probes++) {
      const v = this.values[h];
      if (v === 0) return 0;
      const k = h * 17;
      if (this.keys[k] !== fam) continue;
      let same = true;
      for (let j = 0; j < n; j++) if (this.keys[k + 1 + j] !== b[at + j]) { same = false; break; }
      if (same) return v;
    }
    return 0;
  }
}

function hashOf(fam: number, b: Uint8Array, at: number, n: number): number {
  let h = 2166136261 ^ fam;
  for (let j = 0; j < n; j++) h = Math.imul(h ^ b[at + j], 16777619);
  return (h >>> 0) & (CAP - 1);
}
