// Reading and building the locator forms Decent uses: a plain RLOC, lispers' "interface" form
// AFI-List{RLOC, AFI-17 name}, and the replication list of a group entry, either a bare RLE
// (RFC 8378) or lispers.net's AFI-List{AFI 0, [name], RLE}.
import type { Address, LocatorRecord, RleEntry, SecurityKeyLcaf } from '../wire';

/**
 * The IP address of a unicast locator, or undefined for forms that carry none: a plain address,
 * lispers' AFI-List{RLOC, name, …}, or a Security Key LCAF around the RLOC (RFC 8061 §4: how an
 * ITR-RLOC or RLOC-record carries its key).
 */
export function locatorIp(a: Address): string | undefined {
  if (a.kind === 'ipv4' || a.kind === 'ipv6') return a.ip;
  if (a.kind === 'lcaf' && a.lcaf.type === 'afi-list') {
    for (const item of a.lcaf.items) if (item.kind === 'ipv4' || item.kind === 'ipv6') return item.ip;
  }
  if (a.kind === 'lcaf' && a.lcaf.type === 'security-key' && a.lcaf.address) return locatorIp(a.lcaf.address);
  return undefined;
}

/** The Security Key LCAF of a locator: bare, or nested in lispers' AFI-List (RFC 8061 §4). */
export function locatorSecurityKey(a: Address): SecurityKeyLcaf | undefined {
  if (a.kind !== 'lcaf') return undefined;
  if (a.lcaf.type === 'security-key') return a.lcaf;
  if (a.lcaf.type === 'afi-list') {
    for (const item of a.lcaf.items) {
      const k = locatorSecurityKey(item);
      if (k) return k;
    }
  }
  return undefined;
}

/** A Security Key LCAF for `ip` carrying `publicKey` as key-id `keyId` (Key Count = key-id; RFC 8061 §4). */
export function securityKeyLcaf(ip: string, suite: number, publicKey: Uint8Array, keyId = 1): SecurityKeyLcaf {
  return { type: 'security-key', cipherSuite: suite, revoke: false, keys: Array.from({ length: keyId }, () => publicKey), address: ipAddress(ip) };
}

/** The RLOC-name carried next to a locator (lispers' AFI-List form), if any. */
export function locatorName(a: Address): string | undefined {
  if (a.kind === 'lcaf' && a.lcaf.type === 'afi-list') {
    for (const item of a.lcaf.items) if (item.kind === 'name') return item.name;
  }
  return undefined;
}

/** RLE entries of a group locator: a bare RLE or one nested in an AFI-List. */
export function rleEntries(a: Address): readonly RleEntry[] | undefined {
  if (a.kind !== 'lcaf') return undefined;
  if (a.lcaf.type === 'rle') return a.lcaf.entries;
  if (a.lcaf.type === 'afi-list') {
    for (const item of a.lcaf.items) {
      const inner = rleEntries(item);
      if (inner) return inner;
    }
  }
  return undefined;
}

export interface RlocOptions {
  /** lispers' interface form: AFI-List{RLOC, AFI-17 name} (RFC 8060 §4.1.1 AFI List). */
  name?: string;
  priority?: number;
  weight?: number;
  local?: boolean;
  reachable?: boolean;
  /** LISP-crypto key of this RLOC (RFC 8061 §4): the address becomes a Security Key LCAF around it. */
  key?: SecurityKeyLcaf;
}

export function ipAddress(ip: string): Address {
  return ip.includes(':') ? { kind: 'ipv6', ip } : { kind: 'ipv4', ip };
}

export function unicastLocator(ip: string, o: RlocOptions = {}): LocatorRecord {
  // lispers' form with a key: AFI-List{RLOC, name, Security Key} (what its Map-Replies carry).
  const key: Address[] = o.key ? [{ kind: 'lcaf', lcaf: o.key }] : [];
  let address: Address = ipAddress(ip);
  if (o.name !== undefined) address = { kind: 'lcaf', lcaf: { type: 'afi-list', items: [ipAddress(ip), { kind: 'name', name: o.name }, ...key] } };
  else if (o.key) address = { kind: 'lcaf', lcaf: o.key };
  return {
    priority: o.priority ?? 1, weight: o.weight ?? 100, mPriority: 255, mWeight: 0,
    local: o.local ?? false, probed: false, reachable: o.reachable ?? true, address,
  };
}

/**
 * A group entry's locator: priority 255 (never unicast), M-priority 1 / M-weight 100, L and R
 * (RFC 9962 §2, RFC 8378 §5.1.2). `lispers` wraps the RLE as AFI-List{AFI 0, RLE} with per-node names,
 * the only form a lispers.net Map-Server merges without crashing.
 */
export function rleLocator(entries: readonly RleEntry[], local: boolean, lispers: boolean): LocatorRecord {
  const rle: Address = { kind: 'lcaf', lcaf: { type: 'rle', entries } };
  const address: Address = lispers ? { kind: 'lcaf', lcaf: { type: 'afi-list', items: [{ kind: 'none' }, rle] } } : rle;
  return { priority: 255, weight: 0, mPriority: 1, mWeight: 100, local, probed: false, reachable: true, address };
}

export function rleEntry(ip: string, name?: string): RleEntry {
  // RFC 8378 §5.1.2: registrations use level 128.
  return name !== undefined ? { level: 128, address: ipAddress(ip), name } : { level: 128, address: ipAddress(ip) };
}
