// `decent decode` human output: one header line per datagram, then indented fields, in the spirit
// of tshark's summary line and lispers' log lines (addresses printed as lispers prints them).
import type { DecodedDatagram } from './decode-analyze';
import {
  HER_INSTANCE_ID, actionName, controlTypeName, formatAddress,
  type ControlMessage, type InfoReply, type InfoRequest, type DataHeader, type EidRecord, type InnerUdpHeader, type LocatorRecord,
  type MapNotify, type MapRegister, type MapReply, type MapRequest, type Address,
} from '../wire';

const TYPE_TITLE: Readonly<Record<string, string>> = {
  'map-request': 'Map-Request', 'map-reply': 'Map-Reply', 'map-register': 'Map-Register',
  'map-notify': 'Map-Notify', 'map-notify-ack': 'Map-Notify-Ack', 'info-request': 'Info-Request',
  'info-reply': 'Info-Reply', ecm: 'ECM', data: 'Data',
};

const ALGORITHMS: Readonly<Record<number, string>> = { 0: 'none', 1: 'HMAC-SHA-1', 2: 'HMAC-SHA-256', 3: 'HMAC-SHA-256+HKDF' };

const INDENT = '    ';

export function datagramText(d: DecodedDatagram): string {
  const { datagram: g } = d;
  const endpoint = (ip: string, port: number): string => (g.ip.version === 6 ? `[${ip}]:${port}` : `${ip}:${port}`);
  const title = d.type ? TYPE_TITLE[d.type]
    : d.unknownType !== undefined ? `unknown control message type ${d.unknownType} (${controlTypeName(d.unknownType)})`
      : 'unknown control message';
  const head = `#${g.frame.number} ${d.time.toFixed(6)} ${endpoint(g.ip.source, g.udp.sourcePort)} -> `
    + `${endpoint(g.ip.destination, g.udp.destinationPort)} ${title}, ${g.payload.length} bytes`
    + `${d.auth && !d.inner && d.message && hasAuthField(d.message) ? `, auth ${d.auth}` : ''}`;
  const lines: string[] = [head];
  const body = (indent: string): void => {
    const m = d.message;
    if (m === undefined) {
      if (d.unknownType !== undefined) lines.push(`${indent}not decoded: ${Buffer.from(g.payload).toString('hex')}`);
      return;
    }
    if (m.type === 'data') {
      lines.push(`${indent}${dataHeaderText(m.header)}`);
    } else {
      controlLines(m, indent, lines);
    }
    if (d.inner && !d.innerIp) {
      // A control message right after a data header (lispers' data-port Info-Request).
      lines.push(`${indent}inner ${TYPE_TITLE[d.inner.type]}`);
      controlLines(d.inner, `${indent}  `, lines);
    }
    if (d.innerIp) {
      const auth = d.inner && d.auth && hasAuthField(d.inner) ? `, auth ${d.auth}` : '';
      lines.push(`${indent}inner ${innerIpText(d.innerIp)}${auth}`);
      if (d.inner) {
        lines.push(`${indent}  ${TYPE_TITLE[d.inner.type]}`);
        controlLines(d.inner, `${indent}    `, lines);
      }
    }
    if (d.decrypted) {
      const x = d.decrypted;
      lines.push(`${indent}${x.verdict === 'ok' ? `decrypted (suite ${x.suite}, ${x.variant === 'lispers' ? 'lispers.net keys' : 'RFC 8061 keys'})` : x.verdict === 'icv' ? 'not decrypted: ICV does not verify' : 'not decrypted: no key exchange with a known key for this pair'}`);
    }
    if (d.innerPacket) {
      const p = d.innerPacket;
      const ports = p.ports ? ` ${p.ports[0]} > ${p.ports[1]}` : '';
      lines.push(`${indent}inner IPv${p.version} ${p.source} -> ${p.destination} ${p.protocol}${ports}, ${p.length} bytes`);
    }
  };
  body(INDENT);
  if (d.error) {
    const where = d.error.offset === undefined ? '' : ` at byte ${d.error.offset}`;
    lines.push(`${INDENT}ERROR decoding ${d.error.part === 'inner' ? 'the inner message' : 'the message'}${where}: ${d.error.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

function flags(pairs: readonly (readonly [boolean | undefined, string])[]): string {
  const set = pairs.filter(([on]) => on === true).map(([, n]) => n);
  return set.length === 0 ? 'flags -' : `flags ${set.join(' ')}`;
}

function hex(n: bigint, digits: number): string {
  return `0x${n.toString(16).padStart(digits, '0')}`;
}

function extrasText(m: ControlMessage): string {
  const parts: string[] = [];
  if (m.reservedBits) parts.push(`reserved bits 0x${m.reservedBits.toString(16)}`);
  if (m.trailing && m.trailing.length > 0) parts.push(`${m.trailing.length} trailing bytes ${Buffer.from(m.trailing).toString('hex')}`);
  return parts.length === 0 ? '' : `, ${parts.join(', ')}`;
}

function controlLines(m: ControlMessage, indent: string, lines: string[]): void {
  switch (m.type) {
    case 'map-request': return requestLines(m, indent, lines);
    case 'map-reply': return replyLines(m, indent, lines);
    case 'map-register': return registerLines(m, indent, lines);
    case 'map-notify':
    case 'map-notify-ack': return notifyLines(m, indent, lines);
    case 'info-request':
    case 'info-reply': return infoLines(m, indent, lines);
    case 'ecm':
      // Nearly every ECM has no flags: print the line only when it says something.
      if (m.security || m.ddt || extrasText(m) !== '') {
        lines.push(`${indent}${flags([[m.security, 'S'], [m.ddt, 'D']])}${extrasText(m)}`);
      }
      if (m.body) lines.push(`${indent}body ${m.body.length} bytes (not decoded)`);
      return;
  }
}

function requestLines(m: MapRequest, indent: string, lines: string[]): void {
  lines.push(`${indent}${flags([[m.authoritative, 'A'], [m.mapDataPresent, 'M'], [m.probe, 'P'], [m.smr, 'S'],
    [m.pitr, 'p'], [m.smrInvoked, 's'], [m.localXtr, 'L'], [m.dontReply, 'D']])}, nonce ${hex(m.nonce, 16)}${extrasText(m)}`);
  lines.push(`${indent}source-EID ${formatAddress(m.sourceEid)}, ITR-RLOCs ${m.itrRlocs.map((a) => formatAddress(a)).join(', ')}`);
  for (const r of m.records) {
    lines.push(`${indent}EID ${prefix(r.eid, r.eidMaskLen)}${r.rsvd ? `, rsvd 0x${r.rsvd.toString(16)}` : ''}`);
  }
  if (m.mapReplyRecord) {
    lines.push(`${indent}map-reply record:`);
    recordLines(m.mapReplyRecord, `${indent}  `, lines);
  }
}

function replyLines(m: MapReply, indent: string, lines: string[]): void {
  lines.push(`${indent}${flags([[m.probe, 'P'], [m.echoNonceCapable, 'E'], [m.security, 'S']])}, nonce ${hex(m.nonce, 16)}${extrasText(m)}`);
  for (const r of m.records) recordLines(r, indent, lines);
}

function authText(m: MapRegister | MapNotify | InfoRequest | InfoReply): string {
  return `key-id ${m.keyId}, alg ${m.algorithm} (${ALGORITHMS[m.algorithm] ?? 'unknown'}), auth-len ${m.authData.length}`;
}

/** Only these types have a key-id/alg/auth field; a verdict on others says nothing. */
function hasAuthField(m: ControlMessage | { type: 'data' }): boolean {
  return m.type === 'map-register' || m.type === 'map-notify' || m.type === 'map-notify-ack';
}

function registerLines(m: MapRegister, indent: string, lines: string[]): void {
  lines.push(`${indent}${flags([[m.proxyReply, 'P'], [m.security, 'S'], [m.xtrId !== undefined, 'I'], [m.eidNotify, 'E'],
    [m.useTtl, 'T'], [m.merge, 'a'], [m.rBit, 'R'], [m.wantMapNotify, 'M']])}, nonce ${hex(m.nonce, 16)}, `
    + `${authText(m)}${extrasText(m)}`);
  if (m.xtrId !== undefined) {
    lines.push(`${indent}xTR-ID ${hex(m.xtrId, 32)}, site-ID ${hex(m.siteId ?? 0n, 16)}`);
  }
  for (const r of m.records) recordLines(r, indent, lines);
}

function notifyLines(m: MapNotify, indent: string, lines: string[]): void {
  lines.push(`${indent}nonce ${hex(m.nonce, 16)}, ${authText(m)}${extrasText(m)}`);
  for (const r of m.records) recordLines(r, indent, lines);
}

function infoLines(m: InfoRequest | InfoReply, indent: string, lines: string[]): void {
  lines.push(`${indent}nonce ${hex(m.nonce, 16)}, ${authText(m)}, ttl ${m.ttl}m, EID ${prefix(m.eid, m.eidMaskLen)}${extrasText(m)}`);
  if (m.type === 'info-request') {
    lines.push(`${indent}requester ${formatAddress(m.requester)}`);
    return;
  }
  const n = m.nat;
  const rtrs = n.rtrRlocs.filter((a) => a.kind !== 'none').map((a) => formatAddress(a));
  lines.push(`${indent}global ETR RLOC ${formatAddress(n.globalEtrRloc)} port ${n.etrPort}, MS RLOC ${formatAddress(n.msRloc)} port ${n.msPort}`);
  lines.push(`${indent}private ETR RLOC ${formatAddress(n.privateEtrRloc)}, RTRs ${rtrs.length === 0 ? '-' : rtrs.join(', ')}`
    + `${n.declaredLength !== undefined ? `, LCAF length field ${n.declaredLength} (lispers)` : ''}`);
}

function ttlText(ttl: number): string {
  if (ttl === 0xffffffff) return 'ttl max';
  // lispers.net sets the high bit of a Record TTL to mean seconds instead of minutes.
  if (ttl >= 0x80000000) return `ttl ${ttl - 0x80000000}s`;
  return `ttl ${ttl}m`;
}

function recordLines(r: EidRecord, indent: string, lines: string[]): void {
  const parts = [
    `EID ${prefix(r.eid, r.eidMaskLen)}`,
    ttlText(r.ttl),
    actionName(r.action),
  ];
  if (r.authoritative) parts.push('A');
  parts.push(`ver ${r.mapVersion}`);
  if (r.rsvd) parts.push(`rsvd 0x${r.rsvd.toString(16)}`);
  if (r.rsvd2) parts.push(`rsvd2 0x${r.rsvd2.toString(16)}`);
  parts.push(`${r.locators.length} RLOC${r.locators.length === 1 ? '' : 's'}`);
  lines.push(`${indent}${parts.join(', ')}`);
  for (const l of r.locators) lines.push(`${indent}  ${locatorText(l)}`);
}

function locatorText(l: LocatorRecord): string {
  const bits = [[l.local, 'L'], [l.probed, 'p'], [l.reachable, 'R']].filter(([on]) => on).map(([, n]) => n).join(' ');
  const unused = l.unusedFlags ? ` unused-flags 0x${l.unusedFlags.toString(16)}` : '';
  return `RLOC ${formatAddress(l.address)} pri/w ${l.priority}/${l.weight} mpri/mw ${l.mPriority}/${l.mWeight}`
    + `${bits ? ` ${bits}` : ''}${unused}`;
}

/** EID prefix text: the mask is meaningful only for IP addresses (names and (S,G) carry their own). */
function prefix(a: Address, maskLen: number): string {
  return formatAddress(a, maskLen);
}

function dataHeaderText(h: DataHeader): string {
  const parts = [flags([[h.noncepresent, 'N'], [h.lsbEnabled, 'L'], [h.echoNonce, 'E'], [h.mapVersioning, 'V'],
    [h.iidPresent, 'I'], [h.rBit, 'R']])];
  if (h.mapVersioning && !h.noncepresent) {
    parts.push(`src-map-version ${h.nonce >> 12}, dst-map-version ${h.nonce & 0xfff}`);
  } else {
    parts.push(`nonce 0x${h.nonce.toString(16).padStart(6, '0')}`);
  }
  if (h.iid !== undefined) parts.push(`IID ${h.iid === HER_INSTANCE_ID ? '0xffffff' : h.iid}`);
  parts.push(`LSB 0x${h.lsb.toString(16)}`);
  if (h.keyId) parts.push(`key-id ${h.keyId}`);
  return parts.join(', ');
}

function innerIpText(h: InnerUdpHeader): string {
  const ep = (ip: string, port: number): string => (h.version === 6 ? `[${ip}]:${port}` : `${ip}:${port}`);
  return `IPv${h.version} ${ep(h.source, h.sourcePort)} -> ${ep(h.destination, h.destinationPort)} ttl ${h.ttl}`;
}
