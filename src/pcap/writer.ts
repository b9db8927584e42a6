// Writes classic pcap files (Ethernet link type, microsecond timestamps, little-endian) holding UDP
// datagrams over IPv4 or IPv6 with correct IP and UDP checksums, so that tshark rates them "Good"
// and dissects exactly the payload we built.
import { writeFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { internetChecksum, onesComplementSum, parseIpv4, parseIpv6 } from './ip';
import { LinkType } from './reader';

export interface UdpDatagramSpec {
  /** IPv4 or IPv6 text; both ends must be of the same family. */
  readonly source: string;
  readonly destination: string;
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly payload: Uint8Array;
  /** IPv4 TTL / IPv6 hop limit; default 64. */
  readonly ttl?: number;
  /** Send UDP checksum 0 (legal for LISP data over IPv4, RFC 9300 §5.3). */
  readonly zeroUdpChecksum?: boolean;
  /** Capture time in seconds; default: 1 s apart from 1,700,000,000 by frame index. */
  readonly time?: number;
}

const SOURCE_MAC = Uint8Array.of(0x02, 0x00, 0x00, 0x00, 0x00, 0x01);
const DESTINATION_MAC = Uint8Array.of(0x02, 0x00, 0x00, 0x00, 0x00, 0x02);

/** One Ethernet frame carrying `spec` as IPv4/IPv6 + UDP. */
export function buildUdpFrame(spec: UdpDatagramSpec): Buffer {
  const v4 = isIPv4(spec.source) && isIPv4(spec.destination);
  const v6 = isIPv6(spec.source) && isIPv6(spec.destination);
  if (!v4 && !v6) throw new Error(`source ${spec.source} and destination ${spec.destination} must both be IPv4 or both IPv6`);
  const udpLength = 8 + spec.payload.length;
  if (udpLength > 0xffff) throw new Error(`UDP payload of ${spec.payload.length} bytes is too long`);
  const udp = Buffer.alloc(udpLength);
  udp.writeUInt16BE(spec.sourcePort, 0);
  udp.writeUInt16BE(spec.destinationPort, 2);
  udp.writeUInt16BE(udpLength, 4);
  udp.set(spec.payload, 8);
  const ttl = spec.ttl ?? 64;

  let ip: Buffer;
  let pseudo: Buffer;
  if (v4) {
    const src = parseIpv4(spec.source);
    const dst = parseIpv4(spec.destination);
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + udpLength, 2);
    ip.writeUInt16BE(0x4000, 6); // DF: we never fragment
    ip[8] = ttl;
    ip[9] = 17;
    ip.set(src, 12);
    ip.set(dst, 16);
    ip.writeUInt16BE(internetChecksum(ip), 10);
    pseudo = Buffer.alloc(12);
    pseudo.set(src, 0);
    pseudo.set(dst, 4);
    pseudo[9] = 17;
    pseudo.writeUInt16BE(udpLength, 10);
  } else {
    const src = parseIpv6(spec.source);
    const dst = parseIpv6(spec.destination);
    ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(udpLength, 4);
    ip[6] = 17;
    ip[7] = ttl;
    ip.set(src, 8);
    ip.set(dst, 24);
    pseudo = Buffer.alloc(40);
    pseudo.set(src, 0);
    pseudo.set(dst, 16);
    pseudo.writeUInt32BE(udpLength, 32);
    pseudo[39] = 17;
  }
  if (!spec.zeroUdpChecksum || v6) {
    // A computed 0 is sent as 0xffff (RFC 768); IPv6 UDP must always carry a checksum (RFC 8200 §8.1).
    const sum = internetChecksum(udp, onesComplementSum(pseudo));
    udp.writeUInt16BE(sum === 0 ? 0xffff : sum, 6);
  }
  const ethernet = Buffer.alloc(14);
  ethernet.set(DESTINATION_MAC, 0);
  ethernet.set(SOURCE_MAC, 6);
  ethernet.writeUInt16BE(v4 ? 0x0800 : 0x86dd, 12);
  return Buffer.concat([ethernet, ip, udp]);
}

export interface FrameSpec {
  readonly data: Uint8Array;
  /** Seconds since the epoch. */
  readonly time: number;
}

/** A pcap file image of the given Ethernet frames. */
export function encodePcap(frames: readonly FrameSpec[], linkType: number = LinkType.Ethernet): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(linkType, 20);
  const parts: Buffer[] = [header];
  for (const frame of frames) {
    const record = Buffer.alloc(16);
    const seconds = Math.floor(frame.time);
    record.writeUInt32LE(seconds, 0);
    record.writeUInt32LE(Math.min(999_999, Math.round((frame.time - seconds) * 1e6)), 4);
    record.writeUInt32LE(frame.data.length, 8);
    record.writeUInt32LE(frame.data.length, 12);
    parts.push(record, Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength));
  }
  return Buffer.concat(parts);
}

/** A pcap file image of UDP datagrams, one frame each. */
export function encodeUdpPcap(datagrams: readonly UdpDatagramSpec[]): Buffer {
  return encodePcap(datagrams.map((d, i) => ({ data: buildUdpFrame(d), time: d.time ?? 1_700_000_000 + i })));
}

export function writeUdpPcap(path: string, datagrams: readonly UdpDatagramSpec[]): void {
  writeFileSync(path, encodeUdpPcap(datagrams));
}
