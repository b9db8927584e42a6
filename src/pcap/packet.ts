// Takes a captured frame apart: link layer → IPv4/IPv6 → UDP. Anything else is reported, not
// parsed. IPv4 and IPv6 fragments are reported as such and not reassembled: LISP control messages
// stay far below the path MTU, and reassembly is work we have no vector for.
import { LinkType } from './reader';
import { formatIpv4, formatIpv6 } from './ip';

export interface IpInfo {
  readonly version: 4 | 6;
  readonly source: string;
  readonly destination: string;
  /** IPv4 TTL / IPv6 hop limit. */
  readonly ttl: number;
  /** Upper-layer protocol (after IPv6 extension headers). */
  readonly protocol: number;
  /** Offset of the IP header within the parsed buffer. */
  readonly offset: number;
  /** Header plus payload as the IP header states it. */
  readonly totalLength: number;
}

export interface UdpInfo {
  readonly sourcePort: number;
  readonly destinationPort: number;
  /** The UDP length field (header + payload). */
  readonly length: number;
  readonly checksum: number;
  /** Offset of the UDP header within the parsed buffer. */
  readonly offset: number;
}

export type PacketContent =
  | { readonly kind: 'udp'; readonly ip: IpInfo; readonly udp: UdpInfo; readonly payload: Uint8Array }
  | {
    readonly kind: 'fragment'; readonly ip: IpInfo; readonly identification: number;
    /** Fragment offset in bytes. */
    readonly fragmentOffset: number; readonly moreFragments: boolean;
  }
  /** IP but not UDP (ICMP, TCP, …). */
  | { readonly kind: 'ip'; readonly ip: IpInfo }
  /** Not IP at all (ARP, LLDP, …): `what` names it. */
  | { readonly kind: 'other'; readonly what: string }
  /** Claims to be IP/UDP but does not hold together; `offset` is within the parsed buffer. */
  | { readonly kind: 'malformed'; readonly reason: string; readonly offset: number };

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_ARP = 0x0806;
/** 802.1Q, 802.1ad and the old QinQ tag types: each adds 4 bytes before the real EtherType. */
const VLAN_TAGS = new Set([0x8100, 0x88a8, 0x9100]);
const IPPROTO_UDP = 17;

/** Parses one captured frame of the given pcap link type. */
export function parseFrame(linkType: number, frame: Uint8Array): PacketContent {
  switch (linkType) {
    case LinkType.Ethernet: return parseEthernet(frame);
    case LinkType.LinuxSll: {
      if (frame.length < 16) return malformed('truncated Linux cooked (SLL) header', frame.length);
      return byEtherType(frame, (frame[14] << 8) | frame[15], 16);
    }
    case LinkType.LinuxSll2: {
      if (frame.length < 20) return malformed('truncated Linux cooked v2 (SLL2) header', frame.length);
      return byEtherType(frame, (frame[0] << 8) | frame[1], 20);
    }
    case LinkType.Raw: return parseIpPacket(frame, 0);
    case LinkType.Null: {
      if (frame.length < 4) return malformed('truncated loopback (null) header', frame.length);
      // The family is in the writer's byte order, which the file does not tell: accept either.
      const le = frame[0] | (frame[1] << 8);
      const family = le !== 0 ? le : (frame[2] << 8) | frame[3];
      if (family === 2) return parseIpPacket(frame, 4);
      if (family === 10 || family === 24 || family === 28 || family === 30) return parseIpPacket(frame, 4);
      return { kind: 'other', what: `loopback family ${family}` };
    }
    default:
      return { kind: 'other', what: `unsupported link type ${linkType}` };
  }
}

function parseEthernet(frame: Uint8Array): PacketContent {
  let at = 12;
  for (;;) {
    if (frame.length < at + 2) return malformed('truncated Ethernet header', frame.length);
    const etherType = (frame[at] << 8) | frame[at + 1];
    if (!VLAN_TAGS.has(etherType)) return byEtherType(frame, etherType, at + 2);
    at += 4;
  }
}

function byEtherType(frame: Uint8Array, etherType: number, at: number): PacketContent {
  if (etherType === ETHERTYPE_IPV4 || etherType === ETHERTYPE_IPV6) {
    const version = frame.length > at ? frame[at] >> 4 : 0;
    const expected = etherType === ETHERTYPE_IPV4 ? 4 : 6;
    if (frame.length > at && version !== expected) {
      return malformed(`EtherType says IPv${expected} but the IP version is ${version}`, at);
    }
    return parseIpPacket(frame, at);
  }
  if (etherType === ETHERTYPE_ARP) return { kind: 'other', what: 'ARP' };
  return { kind: 'other', what: `EtherType 0x${etherType.toString(16).padStart(4, '0')}` };
}

/** Parses an IPv4 or IPv6 packet starting at `at` (e.g. the inner packet of LISP data). */
export function parseIpPacket(b: Uint8Array, at = 0): PacketContent {
  if (b.length <= at) return malformed('no IP header', at);
  const version = b[at] >> 4;
  if (version === 4) return parseIpv4(b, at);
  if (version === 6) return parseIpv6(b, at);
  return malformed(`IP version ${version}`, at);
}

function parseIpv4(b: Uint8Array, at: number): PacketContent {
  if (b.length - at < 20) return malformed(`truncated IPv4 header: ${b.length - at} of 20 bytes`, at);
  const headerLength = (b[at] & 0x0f) * 4;
  if (headerLength < 20) return malformed(`IPv4 header length ${headerLength} < 20`, at);
  if (b.length - at < headerLength) return malformed(`truncated IPv4 options: ${b.length - at} of ${headerLength} bytes`, at);
  const totalLength = (b[at + 2] << 8) | b[at + 3];
  if (totalLength < headerLength) return malformed(`IPv4 total length ${totalLength} < header length ${headerLength}`, at + 2);
  if (b.length - at < totalLength) {
    return malformed(`truncated IPv4 packet: ${b.length - at} of ${totalLength} bytes captured`, b.length);
  }
  const ip: IpInfo = {
    version: 4,
    source: formatIpv4(b, at + 12),
    destination: formatIpv4(b, at + 16),
    ttl: b[at + 8],
    protocol: b[at + 9],
    offset: at,
    totalLength,
  };
  const flagsFragment = (b[at + 6] << 8) | b[at + 7];
  const moreFragments = (flagsFragment & 0x2000) !== 0;
  const fragmentOffset = (flagsFragment & 0x1fff) * 8;
  if (moreFragments || fragmentOffset !== 0) {
    return { kind: 'fragment', ip, identification: (b[at + 4] << 8) | b[at + 5], fragmentOffset, moreFragments };
  }
  // Slicing to the total length drops Ethernet padding of short frames.
  return upper(b.subarray(0, at + totalLength), ip, at + headerLength);
}

/** IPv6 extension headers that we step over to find the upper layer (RFC 8200 §4). */
const IPV6_SKIPPABLE = new Set([0, 43, 60]);
const IPV6_FRAGMENT = 44;
const IPV6_AH = 51;

function parseIpv6(b: Uint8Array, at: number): PacketContent {
  if (b.length - at < 40) return malformed(`truncated IPv6 header: ${b.length - at} of 40 bytes`, at);
  const payloadLength = (b[at + 4] << 8) | b[at + 5];
  if (payloadLength === 0 && b[at + 6] === 0) return malformed('IPv6 jumbogram (payload length 0) not supported', at + 4);
  const totalLength = 40 + payloadLength;
  if (b.length - at < totalLength) {
    return malformed(`truncated IPv6 packet: ${b.length - at} of ${totalLength} bytes captured`, b.length);
  }
  const end = at + totalLength;
  let next = b[at + 6];
  let p = at + 40;
  const base = {
    version: 6 as const,
    source: formatIpv6(b, at + 8),
    destination: formatIpv6(b, at + 24),
    ttl: b[at + 7],
    offset: at,
    totalLength,
  };
  for (;;) {
    if (IPV6_SKIPPABLE.has(next) || next === IPV6_AH) {
      if (end - p < 8) return malformed(`truncated IPv6 extension header ${next}`, p);
      const length = next === IPV6_AH ? (b[p + 1] + 2) * 4 : (b[p + 1] + 1) * 8;
      if (end - p < length) return malformed(`IPv6 extension header ${next} runs past the packet`, p);
      next = b[p];
      p += length;
      continue;
    }
    if (next === IPV6_FRAGMENT) {
      if (end - p < 8) return malformed('truncated IPv6 fragment header', p);
      const word = (b[p + 2] << 8) | b[p + 3];
      const identification = ((b[p + 4] << 24) | (b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]) >>> 0;
      return {
        kind: 'fragment', ip: { ...base, protocol: b[p] }, identification,
        fragmentOffset: word & 0xfff8, moreFragments: (word & 1) !== 0,
      };
    }
    break;
  }
  return upper(b.subarray(0, end), { ...base, protocol: next }, p);
}

function upper(b: Uint8Array, ip: IpInfo, at: number): PacketContent {
  if (ip.protocol !== IPPROTO_UDP) return { kind: 'ip', ip };
  if (b.length - at < 8) return malformed(`truncated UDP header: ${b.length - at} of 8 bytes`, at);
  const length = (b[at + 4] << 8) | b[at + 5];
  if (length < 8) return malformed(`UDP length ${length} < 8`, at + 4);
  if (length > b.length - at) {
    return malformed(`UDP length ${length} exceeds the ${b.length - at} bytes the IP packet holds`, at + 4);
  }
  const udp: UdpInfo = {
    sourcePort: (b[at] << 8) | b[at + 1],
    destinationPort: (b[at + 2] << 8) | b[at + 3],
    length,
    checksum: (b[at + 6] << 8) | b[at + 7],
    offset: at,
  };
  return { kind: 'udp', ip, udp, payload: b.subarray(at + 8, at + length) };
}

function malformed(reason: string, offset: number): PacketContent {
  return { kind: 'malformed', reason, offset };
}

/** Protocol numbers worth naming in summaries. */
export function protocolName(protocol: number): string {
  switch (protocol) {
    case 1: return 'ICMP';
    case 2: return 'IGMP';
    case 6: return 'TCP';
    case 17: return 'UDP';
    case 58: return 'ICMPv6';
    default: return `proto ${protocol}`;
  }
}
