// EIDs as both planes see them: an instance-id plus an IPv4/IPv6 prefix, a distinguished
// name, or an (S,G) group entry. Converts to and from the wire's EID-record address (RFC 9301
// §5.4; IID-LCAF RFC 8060 §4.1.2; Multicast-Info RFC 8060 §4.10.2) and gives each a canonical text
// key in lispers' print form, e.g. `[0]10.0.0.1/32`, `[0]'nexus-n1'`, `[0](0.0.0.0/0, 224.1.1.1/32)`.
import { isIPv4, isIPv6 } from 'node:net';
import { MAX_INSTANCE_ID } from '../wire/constants';
import { parseIpv4, parseIpv6, formatIpv4, formatIpv6 } from '../wire/ip';
import type { Address, EidRecord } from '../wire';

export type Eid =
  | { readonly iid: number; readonly kind: 'ipv4' | 'ipv6'; readonly address: string; readonly maskLen: number }
  | { readonly iid: number; readonly kind: 'name'; readonly name: string }
  | {
    readonly iid: number; readonly kind: 'group';
    readonly source: string; readonly sourceMaskLen: number; readonly group: string; readonly groupMaskLen: number;
  };

export class EidError extends Error {
  override readonly name = 'EidError';
}

export function eidKey(e: Eid): string {
  switch (e.kind) {
    case 'ipv4':
    case 'ipv6':
      return `[${e.iid}]${e.address}/${e.maskLen}`;
    case 'name':
      return `[${e.iid}]'${e.name}'`;
    case 'group':
      return `[${e.iid}](${e.source}/${e.sourceMaskLen}, ${e.group}/${e.groupMaskLen})`;
  }
}

/** Address bytes of an IPv4/IPv6 text. */
export function addressBytes(text: string): Uint8Array {
  if (isIPv4(text)) {
    const b = new Uint8Array(4);
    parseIpv4(text, b, 0);
    return b;
  }
  const b = new Uint8Array(16);
  if (!parseIpv6(text, b, 0)) throw new EidError(`not an IP address: ${JSON.stringify(text)}`);
  return b;
}

/** Zeroes host bits, so `10.1.2.3/16` and `10.1.0.0/16` name the same prefix. */
export function maskAddress(text: string, maskLen: number): string {
  const b = addressBytes(text);
  for (let bit = maskLen; bit < b.length * 8; bit++) b[bit >> 3] &= ~(0x80 >> (bit & 7));
  return b.length === 4 ? formatIpv4(b, 0) : formatIpv6(b, 0);
}

/** True when `inner` (an address or prefix) lies inside `outer`, same iid and family. */
export function eidCovers(outer: Eid, inner: Eid): boolean {
  if (outer.iid !== inner.iid) return false;
  if ((outer.kind === 'ipv4' || outer.kind === 'ipv6') && inner.kind === outer.kind) {
    if (inner.maskLen < outer.maskLen) return false;
    return maskAddress(inner.address, outer.maskLen) === outer.address;
  }
  return eidKey(outer) === eidKey(inner);
}

/**
 * Parses an EID as written in config or on the command line: `10.0.0.0/8`, `10.0.0.1` (a host),
 * `fd00::/64`, `'nexus-n1'`, `(0.0.0.0/0, 224.1.1.1/32)`, each optionally prefixed by `[iid]`.
 */
export function parseEid(text: string, defaultIid = 0): Eid {
  let rest = text.trim();
  let iid = defaultIid;
  const iidMatch = /^\[(\d+)\](.*)$/.exec(rest);
  if (iidMatch) {
    iid = Number(iidMatch[1]);
    rest = iidMatch[2];
  }
  if (!Number.isInteger(iid) || iid < 0 || iid > MAX_INSTANCE_ID) {
    throw new EidError(`instance-id must be 0..${MAX_INSTANCE_ID} (24 bits, RFC 9300 §5.3): ${JSON.stringify(text)}`);
  }
  const name = /^'([^'\0]{1,255})'$/.exec(rest);
  if (name) return { iid, kind: 'name', name: name[1] };
  const group = /^\(\s*([^,\s]+)\s*,\s*([^)\s]+)\s*\)$/.exec(rest);
  if (group) {
    const s = parseEid(group[1], iid);
    const g = parseEid(group[2], iid);
    if ((s.kind !== 'ipv4' && s.kind !== 'ipv6') || s.kind !== g.kind) {
      throw new EidError(`(S,G) needs two addresses of one family: ${JSON.stringify(text)}`);
    }
    if (g.kind !== 'ipv4' && g.kind !== 'ipv6') throw new EidError(`bad group in ${JSON.stringify(text)}`);
    return { iid, kind: 'group', source: s.address, sourceMaskLen: s.maskLen, group: g.address, groupMaskLen: g.maskLen };
  }
  const slash = rest.indexOf('/');
  const addr = slash === -1 ? rest : rest.slice(0, slash);
  const kind = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
  if (!kind) throw new EidError(`not an EID (address/prefix, 'name' or (S,G)): ${JSON.stringify(text)}`);
  const max = kind === 'ipv4' ? 32 : 128;
  const maskText = slash === -1 ? String(max) : rest.slice(slash + 1);
  if (!/^\d{1,3}$/.test(maskText) || Number(maskText) > max) {
    throw new EidError(`prefix length must be 0..${max}: ${JSON.stringify(text)}`);
  }
  const maskLen = Number(maskText);
  // Host bits are cleared, so 10.1.2.3/16 names the prefix 10.1.0.0/16.
  return { iid, kind, address: maskAddress(addr, maskLen), maskLen };
}

export interface WireEidOptions {
  /** lispers.net's Multicast-Info LCAF layout, with two pad bytes after Length (see wire/address.ts). */
  lispersPad?: boolean;
}

/** The EID-record fields (`eid`, `eidMaskLen`) for an EID. */
export function eidToWire(e: Eid, opts: WireEidOptions = {}): { eid: Address; eidMaskLen: number } {
  const wrap = (a: Address, maskLen: number): { eid: Address; eidMaskLen: number } => ({
    eid: e.iid === 0 ? a : { kind: 'lcaf', lcaf: { type: 'instance-id', iid: e.iid, iidMaskLen: 0, address: a } },
    eidMaskLen: maskLen,
  });
  switch (e.kind) {
    case 'ipv4':
      return wrap({ kind: 'ipv4', ip: e.address }, e.maskLen);
    case 'ipv6':
      return wrap({ kind: 'ipv6', ip: e.address }, e.maskLen);
    case 'name':
      // Name EIDs (AFI 17, distinguished names) carry mask-len 0: a name has no prefix.
      return wrap({ kind: 'name', name: e.name }, 0);
    case 'group': {
      const fam = isIPv4(e.group) ? 'ipv4' : 'ipv6';
      return {
        eid: {
          kind: 'lcaf',
          lcaf: {
            type: 'multicast-info', iid: e.iid, sourceMaskLen: e.sourceMaskLen, groupMaskLen: e.groupMaskLen,
            source: { kind: fam, ip: e.source }, group: { kind: fam, ip: e.group },
            ...(opts.lispersPad ? { lispersPad: true as const } : {}),
          },
        },
        // lispers and RFC 14.11 both send mask-len 0 in the record for (S,G).
        eidMaskLen: 0,
      };
    }
  }
}

/** The EID of an EID-record or Map-Request record; throws EidError for forms we do not route. */
export function eidFromWire(eid: Address, maskLen: number, iid = 0): Eid {
  switch (eid.kind) {
    case 'ipv4':
    case 'ipv6': {
      const max = eid.kind === 'ipv4' ? 32 : 128;
      if (maskLen > max) throw new EidError(`EID mask-len ${maskLen} exceeds ${max}`);
      return { iid, kind: eid.kind, address: maskAddress(eid.ip, maskLen), maskLen };
    }
    case 'name':
      return { iid, kind: 'name', name: eid.name };
    case 'lcaf': {
      const l = eid.lcaf;
      if (l.type === 'instance-id') return eidFromWire(l.address, maskLen, l.iid);
      if (l.type === 'multicast-info' && (l.source.kind === 'ipv4' || l.source.kind === 'ipv6') && l.group.kind === l.source.kind) {
        return {
          iid: l.iid, kind: 'group',
          source: maskAddress(l.source.ip, l.sourceMaskLen), sourceMaskLen: l.sourceMaskLen,
          group: maskAddress(l.group.ip, l.groupMaskLen), groupMaskLen: l.groupMaskLen,
        };
      }
      throw new EidError(`EID LCAF type ${l.type} is not routable here`);
    }
    case 'none':
      throw new EidError('EID has no address (AFI 0)');
  }
}

export function eidOfRecord(rec: EidRecord): Eid {
  return eidFromWire(rec.eid, rec.eidMaskLen);
}

/**
 * The EID a record names, or undefined when it names none we route (the caller counts the drop);
 * any other error is a bug and propagates.
 */
export function routableEid(rec: { readonly eid: Address; readonly eidMaskLen: number }): Eid | undefined {
  try {
    return eidFromWire(rec.eid, rec.eidMaskLen);
  } catch (e) {
    if (e instanceof EidError) return undefined;
    throw e;
  }
}

/**
 * Lookup in a table keyed by eidKey(): exact match for names and groups, longest covering prefix
 * for addresses. Control-plane tables are small (the FIB does the per-packet lookups), so a scan
 * is fine here.
 */
export function lookupEid<T extends { readonly eid: Eid }>(table: ReadonlyMap<string, T>, eid: Eid): T | undefined {
  const exact = table.get(eidKey(eid));
  if (exact || eid.kind === 'name' || eid.kind === 'group') return exact;
  if (table.size > PROBE_ABOVE) return probeLongest(table, eid);
  let best: T | undefined;
  for (const e of table.values()) {
    if ((e.eid.kind === 'ipv4' || e.eid.kind === 'ipv6') && eidCovers(e.eid, eid)) {
      if (!best || (best.eid.kind === e.eid.kind && e.eid.maskLen > best.eid.maskLen)) best = e;
    }
  }
  return best;
}

/**
 * Above this many entries a longest-prefix lookup probes each prefix length (at most 33 or 129
 * map lookups) instead of testing every entry: a site cache of N members costs O(N) per new EID
 * otherwise, O(N²) for a group to form.
 */
const PROBE_ABOVE = 64;

function probeLongest<T extends { readonly eid: Eid }>(table: ReadonlyMap<string, T>, eid: Eid & { kind: 'ipv4' | 'ipv6' }): T | undefined {
  const b = addressBytes(eid.address);
  for (let bit = eid.maskLen; bit < b.length * 8; bit++) b[bit >> 3] &= ~(0x80 >> (bit & 7));
  for (let len = eid.maskLen; len >= 0; len--) {
    const hit = table.get(`[${eid.iid}]${b.length === 4 ? formatIpv4(b, 0) : formatIpv6(b, 0)}/${len}`);
    if (hit && hit.eid.kind === eid.kind) return hit;
    if (len > 0) b[(len - 1) >> 3] &= ~(0x80 >> ((len - 1) & 7));
  }
  return undefined;
}

export function isMulticastAddress(text: string): boolean {
  if (isIPv4(text)) {
    const first = Number(text.split('.')[0]);
    return first >= 224 && first <= 239;
  }
  return /^ff/i.test(text);
}
