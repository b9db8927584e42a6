// AFI-encoded addresses (RFC 9301 §5, IANA address family numbers) and LCAFs (RFC 8060).
import {
  AFI_IPV4, AFI_IPV6, AFI_LCAF, AFI_NAME, AFI_NONE,
  LCAF_AFI_LIST, LCAF_GEO, LCAF_INSTANCE_ID, LCAF_JSON, LCAF_MULTICAST_INFO, LCAF_NAT_TRAVERSAL, LCAF_RLE, LCAF_SECURITY_KEY,
} from './afi';
import { cipherSuiteName } from './cipher-suites';
import { WireError } from './errors';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from './ip';
import { Reader } from './reader';
import type {
  Address, AfiListLcaf, GeoLcaf, InstanceIdLcaf, JsonLcaf, Lcaf, MulticastInfoLcaf, NatTraversalLcaf, RleEntry, RleLcaf,
  SecurityKeyLcaf,
} from './types';
import { Writer } from './writer';

const NONE: Address = Object.freeze({ kind: 'none' });
/** lispers caps names at 255 characters; a longer run without NUL is garbage, not a name. */
const MAX_NAME = 1024;

export function decodeAddress(r: Reader, what: string): Address {
  const afiAt = r.pos;
  const afi = r.u16(`${what} AFI`);
  switch (afi) {
    case AFI_NONE:
      return NONE;
    case AFI_IPV4: {
      r.need(4, `${what} IPv4 address`);
      const ip = formatIpv4(r.buf, r.pos);
      r.pos += 4;
      return { kind: 'ipv4', ip };
    }
    case AFI_IPV6: {
      r.need(16, `${what} IPv6 address`);
      const ip = formatIpv6(r.buf, r.pos);
      r.pos += 16;
      return { kind: 'ipv6', ip };
    }
    case AFI_NAME:
      return { kind: 'name', name: readName(r, what) };
    case AFI_LCAF:
      return { kind: 'lcaf', lcaf: decodeLcaf(r, what) };
    default:
      // RFC 9301 §5.1: a control message with an unknown AFI MUST be dropped.
      throw new WireError(`${what}: unknown AFI ${afi}`, afiAt);
  }
}

function readName(r: Reader, what: string): string {
  const start = r.pos;
  const limit = Math.min(r.end, start + MAX_NAME);
  const b = r.buf;
  let i = start;
  while (i < limit && b[i] !== 0) i++;
  if (i >= limit) throw new WireError(`${what}: distinguished name has no NUL terminator`, start);
  r.pos = i + 1;
  // latin1 maps bytes 1:1 to code units, so any byte sequence round-trips.
  return Buffer.from(b.buffer, b.byteOffset + start, i - start).toString('latin1');
}

function decodeLcaf(r: Reader, what: string): Lcaf {
  const at = r.pos - 2;
  r.need(6, `${what} LCAF header`);
  const rsvd1 = r.u8('');
  const flags = r.u8('');
  const type = r.u8('');
  const rsvd2 = r.u8('');
  const length = r.u16('');
  const bodyStart = r.pos;
  const extras = headerExtras(rsvd1, flags);

  if (type === LCAF_MULTICAST_INFO) {
    const mc = decodeMulticastInfo(r, bodyStart, length, rsvd2, extras, what, at);
    return mc;
  }
  if (length > r.end - bodyStart) {
    throw new WireError(`${what}: LCAF type ${type} length ${length} exceeds the ${r.end - bodyStart} bytes left`, at + 6);
  }
  const body = new Reader(r.buf, bodyStart, bodyStart + length);
  r.pos = bodyStart + length;
  switch (type) {
    case LCAF_AFI_LIST:
      return decodeAfiList(body, rsvd2, extras, what);
    case LCAF_INSTANCE_ID:
      return decodeInstanceId(body, rsvd2, extras, what);
    case LCAF_RLE:
      return decodeRle(body, rsvd2, extras, what);
    case LCAF_SECURITY_KEY:
      return decodeSecurityKey(body, rsvd2, extras, what);
    case LCAF_GEO:
      return tryOrOpaque(() => decodeGeo(body, rsvd2, extras, what), type, rsvd2, extras, r.buf, bodyStart, length);
    case LCAF_JSON:
      return tryOrOpaque(() => decodeJson(body, rsvd2, extras, what), type, rsvd2, extras, r.buf, bodyStart, length);
    case LCAF_NAT_TRAVERSAL:
      return tryOrOpaque(() => decodeNatTraversalBody(body, rsvd2, extras, what), type, rsvd2, extras, r.buf, bodyStart, length);
    default:
      return opaque(type, rsvd2, extras, r.buf, bodyStart, length);
  }
}

export interface Extras { rsvd1?: number; flags?: number }

export function headerExtras(rsvd1: number, flags: number): Extras {
  if (rsvd1 === 0 && flags === 0) return {};
  const e: Extras = {};
  if (rsvd1 !== 0) e.rsvd1 = rsvd1;
  if (flags !== 0) e.flags = flags;
  return e;
}

function opaque(type: number, rsvd2: number, extras: Extras, buf: Uint8Array, start: number, len: number): Lcaf {
  return { type: 'opaque', lcafType: type, rsvd2, body: buf.slice(start, start + len), ...extras };
}

/** Informational LCAFs whose layouts vary between drafts are kept as bytes when they do not parse. */
function tryOrOpaque(parse: () => Lcaf, type: number, rsvd2: number, extras: Extras, buf: Uint8Array, start: number, len: number): Lcaf {
  try {
    return parse();
  } catch (e) {
    if (e instanceof WireError) return opaque(type, rsvd2, extras, buf, start, len);
    throw e;
  }
}

function expectConsumed(body: Reader, what: string): void {
  if (body.pos !== body.end) {
    throw new WireError(`${what}: ${body.end - body.pos} bytes left over inside the LCAF`, body.pos);
  }
}

function withRsvd2<T extends object>(obj: T, rsvd2: number): T {
  if (rsvd2 !== 0) (obj as T & { rsvd2: number }).rsvd2 = rsvd2;
  return obj;
}

function decodeAfiList(body: Reader, rsvd2: number, extras: Extras, what: string): AfiListLcaf {
  const items: Address[] = [];
  while (body.pos < body.end) items.push(decodeAddress(body, `${what} AFI-List item`));
  return withRsvd2({ type: 'afi-list' as const, items, ...extras }, rsvd2);
}

function decodeInstanceId(body: Reader, rsvd2: number, extras: Extras, what: string): InstanceIdLcaf {
  const iid = body.u32(`${what} instance-id`);
  const address = decodeAddress(body, `${what} IID address`);
  expectConsumed(body, `${what} instance-id LCAF`);
  return { type: 'instance-id', iid, iidMaskLen: rsvd2, address, ...extras };
}

function decodeRle(body: Reader, rsvd2: number, extras: Extras, what: string): RleLcaf {
  const entries: RleEntry[] = [];
  while (body.pos < body.end) {
    const rsvd = (body.u8(`${what} RLE entry`) << 16) | body.u16(`${what} RLE entry`);
    const level = body.u8(`${what} RLE level`);
    const address = decodeAddress(body, `${what} RLE entry`);
    const entry: { level: number; address: Address; name?: string; rsvd?: number } = { level, address };
    // lispers.net appends `AFI 17 + name` after an RLE entry (RFC 8060's Replication List, LCAF
    // type 13, has no name); unambiguous because an entry starts with reserved zero bits, never 0x0011.
    if (body.end - body.pos >= 2 && body.buf[body.pos] === 0 && body.buf[body.pos + 1] === AFI_NAME) {
      body.pos += 2;
      entry.name = readName(body, `${what} RLE entry name`);
    }
    if (rsvd !== 0) entry.rsvd = rsvd;
    entries.push(entry);
  }
  return withRsvd2({ type: 'rle' as const, entries, ...extras }, rsvd2);
}

/** RFC 8061 §4: Key Count, Rsvd3, Cipher Suite, Rsvd4|R, then Key Count × (Key Length, Key Material), then AFI + locator. */
function decodeSecurityKey(body: Reader, rsvd2: number, extras: Extras, what: string): SecurityKeyLcaf {
  const keyCount = body.u8(`${what} security-key key count`);
  const rsvd3 = body.u8('');
  const cipherSuite = body.u8(`${what} security-key cipher suite`);
  const bits = body.u8(`${what} security-key R bit`);
  const keys: Uint8Array[] = [];
  for (let i = 0; i < keyCount; i++) {
    const len = body.u16(`${what} security-key key ${i + 1} length`);
    body.need(len, `${what} security-key key ${i + 1} material`);
    // A plain Uint8Array copy, also when the message came in a Buffer.
    keys.push(new Uint8Array(body.buf.subarray(body.pos, body.pos + len)));
    body.pos += len;
  }
  const lcaf: { -readonly [K in keyof SecurityKeyLcaf]: SecurityKeyLcaf[K] } = {
    type: 'security-key', cipherSuite, revoke: (bits & 1) !== 0, keys, ...extras,
  };
  if (body.pos < body.end) lcaf.address = decodeAddress(body, `${what} security-key locator`);
  expectConsumed(body, `${what} security-key LCAF`);
  if (rsvd2 !== 0) lcaf.rsvd2 = rsvd2;
  if (rsvd3 !== 0) lcaf.rsvd3 = rsvd3;
  if ((bits >>> 1) !== 0) lcaf.rsvd4 = bits >>> 1;
  return lcaf;
}

function decodeGeo(body: Reader, rsvd2: number, extras: Extras, what: string): GeoLcaf {
  const lat = body.u16(`${what} geo latitude`);
  const latMinutes = body.u8('');
  const latSeconds = body.u8('');
  const lon = body.u16(`${what} geo longitude`);
  const lonMinutes = body.u8('');
  const lonSeconds = body.u8('');
  const altitude = body.u32(`${what} geo altitude`) | 0;
  const address = decodeAddress(body, `${what} geo address`);
  expectConsumed(body, `${what} geo LCAF`);
  return withRsvd2({
    type: 'geo' as const,
    north: (lat & 0x8000) !== 0, latDegrees: lat & 0x7fff, latMinutes, latSeconds,
    east: (lon & 0x8000) !== 0, lonDegrees: lon & 0x7fff, lonMinutes, lonSeconds,
    altitude, address, ...extras,
  }, rsvd2);
}

function decodeJson(body: Reader, rsvd2: number, extras: Extras, what: string): JsonLcaf {
  const len = body.u16(`${what} JSON length`);
  body.need(len, `${what} JSON text`);
  const raw = Buffer.from(body.buf.buffer, body.buf.byteOffset + body.pos, len);
  const json = raw.toString('utf8');
  if (Buffer.byteLength(json) !== len || !Buffer.from(json).equals(raw)) {
    throw new WireError(`${what}: JSON text is not valid UTF-8`, body.pos);
  }
  body.pos += len;
  const address = decodeAddress(body, `${what} JSON address`);
  expectConsumed(body, `${what} JSON LCAF`);
  return withRsvd2({ type: 'json' as const, json, address, ...extras }, rsvd2);
}

/**
 * The body of a NAT-Traversal LCAF (draft-ietf-lisp-nat-traversal §5.2): two ports, three
 * addresses, then RTR RLOCs up to the end of `body`.
 */
export function decodeNatTraversalBody(body: Reader, rsvd2: number, extras: Extras, what: string): NatTraversalLcaf {
  const msPort = body.u16(`${what} NAT-Traversal MS UDP port`);
  const etrPort = body.u16(`${what} NAT-Traversal ETR UDP port`);
  const globalEtrRloc = decodeAddress(body, `${what} global ETR RLOC`);
  const msRloc = decodeAddress(body, `${what} MS RLOC`);
  const privateEtrRloc = decodeAddress(body, `${what} private ETR RLOC`);
  const rtrRlocs: Address[] = [];
  while (body.pos < body.end) rtrRlocs.push(decodeAddress(body, `${what} RTR RLOC ${rtrRlocs.length}`));
  return withRsvd2({
    type: 'nat-traversal' as const, msPort, etrPort, globalEtrRloc, msRloc, privateEtrRloc, rtrRlocs, ...extras,
  }, rsvd2);
}

function decodeMulticastInfoBody(r: Reader, start: number, end: number, rsvd2: number, extras: Extras, what: string): MulticastInfoLcaf {
  const body = new Reader(r.buf, start, end);
  const iid = body.u32(`${what} multicast-info IID`);
  const rsvd3 = body.u16('');
  const sourceMaskLen = body.u8(`${what} source mask-len`);
  const groupMaskLen = body.u8(`${what} group mask-len`);
  const sAt = body.pos;
  const source = decodeAddress(body, `${what} (S,G) source`);
  const gAt = body.pos;
  const group = decodeAddress(body, `${what} (S,G) group`);
  if (!isIp(source)) throw new WireError(`${what}: (S,G) source must be IPv4 or IPv6`, sAt);
  if (!isIp(group)) throw new WireError(`${what}: (S,G) group must be IPv4 or IPv6`, gAt);
  expectConsumed(body, `${what} multicast-info LCAF`);
  const mc: { -readonly [K in keyof MulticastInfoLcaf]: MulticastInfoLcaf[K] } = {
    type: 'multicast-info', iid, sourceMaskLen, groupMaskLen, source, group, ...extras,
  };
  if (rsvd2 !== 0) mc.rlj = rsvd2;
  if (rsvd3 !== 0) mc.rsvd3 = rsvd3;
  return mc;
}

function decodeMulticastInfo(r: Reader, bodyStart: number, length: number, rsvd2: number, extras: Extras, what: string, at: number): MulticastInfoLcaf {
  const left = r.end - bodyStart;
  let rfcError: WireError | undefined;
  if (length <= left) {
    try {
      const mc = decodeMulticastInfoBody(r, bodyStart, bodyStart + length, rsvd2, extras, what);
      r.pos = bodyStart + length;
      return mc;
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      rfcError = e;
    }
  }
  // lispers.net writes the Multicast-Info LCAF (RFC 8060, type 9) with two zero pad bytes after
  // Length that Length does not count.
  if (length + 2 <= left && r.buf[bodyStart] === 0 && r.buf[bodyStart + 1] === 0) {
    try {
      const mc = decodeMulticastInfoBody(r, bodyStart + 2, bodyStart + 2 + length, rsvd2, extras, what);
      r.pos = bodyStart + 2 + length;
      return { ...mc, lispersPad: true };
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
    }
  }
  if (rfcError) throw rfcError;
  throw new WireError(`${what}: LCAF type 9 length ${length} exceeds the ${left} bytes left`, at + 6);
}

function isIp(a: Address): boolean {
  return a.kind === 'ipv4' || a.kind === 'ipv6';
}

// ---------------------------------------------------------------------------------------------
// Encoding

export function encodeAddress(w: Writer, a: Address): void {
  switch (a.kind) {
    case 'none':
      w.u16(AFI_NONE);
      return;
    case 'ipv4':
      w.u16(AFI_IPV4);
      writeIpv4(w, a.ip);
      return;
    case 'ipv6':
      w.u16(AFI_IPV6);
      writeIpv6(w, a.ip);
      return;
    case 'name':
      w.u16(AFI_NAME);
      writeName(w, a.name);
      return;
    case 'lcaf':
      w.u16(AFI_LCAF);
      encodeLcaf(w, a.lcaf);
      return;
    default:
      throw new TypeError(`cannot encode address kind ${(a as { kind: string }).kind}`);
  }
}

export function writeIpv4(w: Writer, ip: string): void {
  w.zeros(4);
  if (!parseIpv4(ip, w.buf, w.pos - 4)) throw new TypeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
}

export function writeIpv6(w: Writer, ip: string): void {
  w.zeros(16);
  if (!parseIpv6(ip, w.buf, w.pos - 16)) throw new TypeError(`not an IPv6 address: ${JSON.stringify(ip)}`);
}

function writeName(w: Writer, name: string): void {
  if (name.includes('\0')) throw new TypeError(`a distinguished name cannot contain NUL: ${JSON.stringify(name)}`);
  const bytes = Buffer.from(name, 'latin1');
  w.bytes(bytes);
  w.u8(0);
}

function lcafHeader(w: Writer, lcaf: Lcaf, type: number, rsvd2: number): number {
  w.u8(lcaf.rsvd1 ?? 0);
  w.u8(lcaf.flags ?? 0);
  w.u8(type);
  w.u8(rsvd2);
  return w.placeholder16();
}

function closeLength(w: Writer, lenAt: number, bodyStart: number): void {
  const len = w.pos - bodyStart;
  if (len > 0xffff) throw new RangeError(`LCAF body of ${len} bytes does not fit its 16-bit length`);
  w.patch16(lenAt, len);
}

function encodeLcaf(w: Writer, lcaf: Lcaf): void {
  switch (lcaf.type) {
    case 'afi-list': {
      const lenAt = lcafHeader(w, lcaf, LCAF_AFI_LIST, lcaf.rsvd2 ?? 0);
      const start = w.pos;
      for (const item of lcaf.items) encodeAddress(w, item);
      closeLength(w, lenAt, start);
      return;
    }
    case 'instance-id': {
      const lenAt = lcafHeader(w, lcaf, LCAF_INSTANCE_ID, lcaf.iidMaskLen);
      const start = w.pos;
      w.u32(lcaf.iid);
      encodeAddress(w, lcaf.address);
      closeLength(w, lenAt, start);
      return;
    }
    case 'multicast-info': {
      const lenAt = lcafHeader(w, lcaf, LCAF_MULTICAST_INFO, lcaf.rlj ?? 0);
      if (lcaf.lispersPad) w.u16(0);
      const start = w.pos;
      w.u32(lcaf.iid);
      w.u16(lcaf.rsvd3 ?? 0);
      w.u8(lcaf.sourceMaskLen);
      w.u8(lcaf.groupMaskLen);
      encodeAddress(w, lcaf.source);
      encodeAddress(w, lcaf.group);
      closeLength(w, lenAt, start);
      return;
    }
    case 'rle': {
      const lenAt = lcafHeader(w, lcaf, LCAF_RLE, lcaf.rsvd2 ?? 0);
      const start = w.pos;
      for (const e of lcaf.entries) {
        const rsvd = e.rsvd ?? 0;
        w.u8(rsvd >>> 16);
        w.u16(rsvd & 0xffff);
        w.u8(e.level);
        encodeAddress(w, e.address);
        if (e.name !== undefined) {
          w.u16(AFI_NAME);
          writeName(w, e.name);
        }
      }
      closeLength(w, lenAt, start);
      return;
    }
    case 'geo': {
      const lenAt = lcafHeader(w, lcaf, LCAF_GEO, lcaf.rsvd2 ?? 0);
      const start = w.pos;
      w.u16((lcaf.north ? 0x8000 : 0) | (lcaf.latDegrees & 0x7fff));
      w.u8(lcaf.latMinutes);
      w.u8(lcaf.latSeconds);
      w.u16((lcaf.east ? 0x8000 : 0) | (lcaf.lonDegrees & 0x7fff));
      w.u8(lcaf.lonMinutes);
      w.u8(lcaf.lonSeconds);
      w.u32(lcaf.altitude >>> 0);
      encodeAddress(w, lcaf.address);
      closeLength(w, lenAt, start);
      return;
    }
    case 'json': {
      const lenAt = lcafHeader(w, lcaf, LCAF_JSON, lcaf.rsvd2 ?? 0);
      const start = w.pos;
      const text = Buffer.from(lcaf.json, 'utf8');
      w.u16(text.length);
      w.bytes(text);
      encodeAddress(w, lcaf.address);
      closeLength(w, lenAt, start);
      return;
    }
    case 'security-key': {
      if (lcaf.keys.length > 0xff) throw new RangeError(`a security-key LCAF holds at most 255 keys, got ${lcaf.keys.length}`);
      const lenAt = lcafHeader(w, lcaf, LCAF_SECURITY_KEY, lcaf.rsvd2 ?? 0);
      const start = w.pos;
      w.u8(lcaf.keys.length);
      w.u8(lcaf.rsvd3 ?? 0);
      w.u8(lcaf.cipherSuite);
      w.u8(((lcaf.rsvd4 ?? 0) << 1) | (lcaf.revoke ? 1 : 0));
      for (const key of lcaf.keys) {
        if (key.length > 0xffff) throw new RangeError(`security-key material of ${key.length} bytes does not fit its 16-bit length`);
        w.u16(key.length);
        w.bytes(key);
      }
      if (lcaf.address) encodeAddress(w, lcaf.address);
      closeLength(w, lenAt, start);
      return;
    }
    case 'nat-traversal': {
      const lenAt = lcafHeader(w, lcaf, LCAF_NAT_TRAVERSAL, lcaf.rsvd2 ?? 0);
      const start = w.pos;
      w.u16(lcaf.msPort);
      w.u16(lcaf.etrPort);
      encodeAddress(w, lcaf.globalEtrRloc);
      encodeAddress(w, lcaf.msRloc);
      encodeAddress(w, lcaf.privateEtrRloc);
      for (const rtr of lcaf.rtrRlocs) encodeAddress(w, rtr);
      if (lcaf.declaredLength !== undefined) w.patch16(lenAt, lcaf.declaredLength);
      else closeLength(w, lenAt, start);
      return;
    }
    case 'opaque': {
      const lenAt = lcafHeader(w, lcaf, lcaf.lcafType, lcaf.rsvd2);
      const start = w.pos;
      w.bytes(lcaf.body);
      closeLength(w, lenAt, start);
      return;
    }
    default:
      throw new TypeError(`cannot encode LCAF type ${(lcaf as { type: string }).type}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Text form, close to lispers' print_address so operators can compare outputs.

export function formatAddress(a: Address, maskLen?: number): string {
  const withMask = (s: string): string => (maskLen === undefined ? s : `${s}/${maskLen}`);
  switch (a.kind) {
    case 'none':
      return '-';
    case 'ipv4':
    case 'ipv6':
      return withMask(a.ip);
    case 'name':
      return `'${a.name}'`;
    case 'lcaf':
      return formatLcaf(a.lcaf, maskLen);
  }
}

function formatLcaf(l: Lcaf, maskLen?: number): string {
  switch (l.type) {
    case 'instance-id':
      return `[${l.iid}]${formatAddress(l.address, l.address.kind === 'name' ? undefined : maskLen)}`;
    case 'multicast-info': {
      const iid = l.iid !== 0 ? `[${l.iid}]` : '';
      return `${iid}(${formatAddress(l.source, l.sourceMaskLen)}, ${formatAddress(l.group, l.groupMaskLen)})`;
    }
    case 'afi-list':
      return `{${l.items.filter((i) => i.kind !== 'none').map((i) => formatAddress(i)).join(', ')}}`;
    case 'rle':
      return `rle{${l.entries.map((e) => `${formatAddress(e.address)}${e.name !== undefined ? `(${e.name})` : ''}${e.level !== 128 ? `@${e.level}` : ''}`).join(', ')}}`;
    case 'geo':
      return `geo(${l.latDegrees}-${l.latMinutes}-${l.latSeconds}-${l.north ? 'N' : 'S'}, ${l.lonDegrees}-${l.lonMinutes}-${l.lonSeconds}-${l.east ? 'E' : 'W'}, ${l.altitude}m)`;
    case 'json':
      return `json${l.json}`;
    case 'security-key': {
      // RFC 8061 §4: the n-th key is key-id n; the key-id travels in the data header's KK bits.
      const keys = l.keys.map((k, i) => `key-id ${i + 1} ${Buffer.from(k).toString('hex')}`);
      const parts = [`suite ${l.cipherSuite} (${cipherSuiteName(l.cipherSuite)})`, ...keys];
      if (l.revoke) parts.push('revoked');
      if (l.address && l.address.kind !== 'none') parts.push(formatAddress(l.address));
      return `security-key{${parts.join(', ')}}`;
    }
    case 'nat-traversal': {
      const rtrs = l.rtrRlocs.filter((a) => a.kind !== 'none').map((a) => formatAddress(a)).join(', ');
      return `nat(global ${formatAddress(l.globalEtrRloc)}:${l.etrPort}, ms ${formatAddress(l.msRloc)}:${l.msPort}, `
        + `private ${formatAddress(l.privateEtrRloc)}, rtrs [${rtrs}])`;
    }
    case 'opaque':
      return `lcaf-${l.lcafType}(${Buffer.from(l.body).toString('hex')})`;
  }
}
