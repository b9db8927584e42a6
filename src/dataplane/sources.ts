// Outer sources the ETR accepts data from. Until data-plane encryption (RFC 8061) lands, the
// LISP data header carries nothing a receiver can verify, so anyone who can reach UDP 4341 could
// inject packets into our EID space. A group member's RLOC is known to the control plane (its
// registrations are authenticated), so the ETR takes data only from those RLOCs (plus the static
// map-cache's and our own); other sources are a counted drop. Head-end replicated control
// (instance-id 0xFFFFFF) is not filtered here: the control plane authenticates it, and a member
// that is joining must be able to reach us before we know its RLOC.
//
// The set is an open-addressing hash table in typed arrays: one lookup per received message
// (a GRO message holds datagrams of one source), no allocation. It is rebuilt on each update,
// which comes from the control thread when the member list changes.
import { ADDR } from './packet';
import { ipToBytes } from '../native';
import { isIPv4 } from 'node:net';

/** Key bytes per entry: the family, then 16 address bytes (IPv4 in the first 4). */
const KEY = 17;

export class SourceFilter {
  private keys = new Uint8Array(KEY);
  private used = new Uint8Array(1);
  private mask = 0;
  private enabled = false;
  private count = 0;

  /** The allowed outer sources, or null: accept any source (no member list, e.g. static mode without a group). */
  set(addresses: readonly string[] | null): void {
    if (addresses === null) {
      this.enabled = false;
      this.count = 0;
      return;
    }
    const unique = [...new Set(addresses)];
    let cap = 8;
    while (cap < unique.length * 2) cap <<= 1;
    const keys = new Uint8Array(cap * KEY), used = new Uint8Array(cap), mask = cap - 1;
    const entry = new Uint8Array(ADDR);
    for (const a of unique) {
      entry.fill(0);
      entry[0] = isIPv4(a) ? 4 : 6;
      entry.set(ipToBytes(a), 4);
      let s = hashEntry(entry, 0) & mask;
      while (used[s] !== 0 && !sameKey(keys, s, entry, 0)) s = (s + 1) & mask;
      if (used[s] !== 0) continue;
      used[s] = 1;
      keys[s * KEY] = entry[0];
      keys.set(entry.subarray(4, 20), s * KEY + 1);
    }
    this.keys = keys;
    this.used = used;
    this.mask = mask;
    this.count = unique.length;
    this.enabled = true;
  }

  get size(): number {
    return this.enabled ? this.count : -1;
  }

  /** Is entry `i` of an address table (RecvPool.src) an allowed source? */
  allows(table: Uint8Array, i: number): boolean {
    if (!this.enabled) return true;
    const o = i * ADDR;
    const fam = table[o];
    if (fam !== 4 && fam !== 6) return false;
    const used = this.used, keys = this.keys, mask = this.mask;
    for (let s = hashEntry(table, o) & mask; used[s] !== 0; s = (s + 1) & mask) {
      if (sameKey(keys, s, table, o)) return true;
    }
    return false;
  }
}

/** FNV-1a over the family and the address bytes of the entry at table[o]. */
function hashEntry(t: Uint8Array, o: number): number {
  const n = t[o] === 4 ? 4 : 16;
  let h = Math.imul(0x811c9dc5 ^ t[o], 0x01000193);
  for (let k = 0; k < n; k++) h = Math.imul(h ^ t[o + 4 + k], 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}

function sameKey(keys: Uint8Array, s: number, t: Uint8Array, o: number): boolean {
  const k = s * KEY;
  if (keys[k] !== t[o]) return false;
  const n = t[o] === 4 ? 4 : 16;
  for (let j = 0; j < n; j++) if (keys[k + 1 + j] !== t[o + 4 + j]) return false;
  return true;
}
