// LISP-Decent pull mode's hash (RFC 9962 §5): a hash of the EID picks one of
// `modulus` Map-Server sets, named `<index>.<suffix>` in the DNS. Map-Registers go to every
// address of the name; Map-Requests to one of them.
import { createHash, createHmac } from 'node:crypto';
import { eidCovers, maskAddress, type Eid } from '../../mapping/eid';

export type PullHash = 'rfc' | 'lispers';

export interface LookupLength {
  /** An EID range, e.g. [0]240.11.0.0/16. */
  readonly range: Eid;
  /** Prefix length, in bits, that lookups inside the range are hashed at. */
  readonly length: number;
}

export interface PullConfig {
  readonly modulus: number;
  readonly dnsSuffix: string;
  readonly hash: PullHash;
  /** RFC 9962 §5.2 (EID range, lookup-length) pairs; the longest matching range wins. */
  readonly lookupLengths: readonly LookupLength[];
  /** How long resolved Map-Server addresses are reused (lispers: 30 s). */
  readonly dnsRefreshMs: number;
}

/**
 * The ASCII string the hash covers (RFC 9962 §5, in lispers.net's print form): `[iid]eid/ml`,
 * `[iid]'name'`, `[iid]group/gml-source/sml` for (S,G). (*,G) registrations hash with source 0.0.0.0/0.
 */
export function hashString(eid: Eid): string {
  switch (eid.kind) {
    case 'ipv4':
    case 'ipv6':
      return `[${eid.iid}]${eid.address}/${eid.maskLen}`;
    case 'name':
      return `[${eid.iid}]'${eid.name}'`;
    case 'group':
      return `[${eid.iid}]${eid.group}/${eid.groupMaskLen}-${eid.source}/${eid.sourceMaskLen}`;
  }
}

/** The EID a lookup hashes: masked to the lookup-length of the longest configured range covering it. */
export function lookupKey(eid: Eid, lengths: readonly LookupLength[]): Eid {
  if (eid.kind !== 'ipv4' && eid.kind !== 'ipv6') return eid;
  let best: LookupLength | undefined;
  for (const l of lengths) {
    if ((l.range.kind === 'ipv4' || l.range.kind === 'ipv6') && eidCovers(l.range, eid)) {
      if (!best || (best.range.kind === l.range.kind && l.range.maskLen > best.range.maskLen)) best = l;
    }
  }
  if (!best || best.length >= eid.maskLen) return eid;
  return { ...eid, address: maskAddress(eid.address, best.length), maskLen: best.length };
}

/**
 * Index of the Map-Server set. `rfc`: SHA-256 of the string as a big-endian integer, mod the
 * modulus (RFC 9962 §5 leaves the integer conversion open; this is our reading). `lispers`:
 * HMAC-SHA-256 keyed "lisp-decent", first 6 bytes, mod the modulus (what lispers.net computes).
 */
export function hashIndex(text: string, modulus: number, hash: PullHash): number {
  const m = BigInt(modulus);
  if (hash === 'lispers') {
    const d = createHmac('sha256', 'lisp-decent').update(text).digest();
    return Number(BigInt(`0x${d.subarray(0, 6).toString('hex')}`) % m);
  }
  return Number(BigInt(`0x${createHash('sha256').update(text).digest('hex')}`) % m);
}

export function mapServerName(eid: Eid, cfg: PullConfig): string {
  return `${hashIndex(hashString(eid), cfg.modulus, cfg.hash)}.${cfg.dnsSuffix}`;
}
