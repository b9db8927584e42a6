// The inner IPv4/IPv6 + UDP header that carries a control message inside an ECM (RFC 9301 §5.8)
// or inside a LISP data packet (head-end replication to the group's members, RFC 9962 §4.2).
import { WireError } from './errors';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from './ip';
import { finishChecksum, onesSum, udpChecksum } from './checksum';
import type { InnerUdpHeader } from './types';

export interface InnerUdpPacket {
  readonly header: InnerUdpHeader;
  /** The UDP payload: a view into the decoded buffer. */
  readonly payload: Uint8Array;
  /** Offset just past the IP packet (its total length). */
  readonly end: number;
}

/** Parses IPv4/IPv6 + UDP starting at `start`; the IP packet must fit in `[start, end)`. */
export function decodeInnerUdpAt(buf: Uint8Array, start: number, end: number): InnerUdpPacket {
  if (end - start < 1) throw new WireError('truncated inner IP header: no bytes', start);
  const version = buf[start] >>> 4;
  let ipEnd: number;
  let udpStart: number;
  let header: InnerUdpHeader;
  if (version === 4) {
    if (end - start < 28) throw new WireError(`truncated inner IPv4+UDP header: need 28 bytes, ${end - start} left`, start);
    const ihl = (buf[start] & 0x0f) * 4;
    if (ihl !== 20) throw new WireError(`inner IPv4 header length ${ihl} is not supported (options)`, start);
    const total = (buf[start + 2] << 8) | buf[start + 3];
    if (total < 28 || total > end - start) throw new WireError(`inner IPv4 total length ${total} does not fit the ${end - start} bytes left`, start + 2);
    if (buf[start + 9] !== 17) throw new WireError(`inner IPv4 protocol ${buf[start + 9]} is not UDP`, start + 9);
    const fragment = (buf[start + 6] << 8) | buf[start + 7];
    if ((fragment & 0x3fff) !== 0) throw new WireError('inner IPv4 packet is a fragment', start + 6);
    ipEnd = start + total;
    udpStart = start + 20;
    header = {
      version: 4,
      source: formatIpv4(buf, start + 12),
      destination: formatIpv4(buf, start + 16),
      ttl: buf[start + 8],
      tos: buf[start + 1],
      id: (buf[start + 4] << 8) | buf[start + 5],
      fragment,
      flowLabel: 0,
      sourcePort: (buf[udpStart] << 8) | buf[udpStart + 1],
      destinationPort: (buf[udpStart + 2] << 8) | buf[udpStart + 3],
      ipChecksum: (buf[start + 10] << 8) | buf[start + 11],
      udpChecksum: (buf[udpStart + 6] << 8) | buf[udpStart + 7],
    };
  } else if (version === 6) {
    if (end - start < 48) throw new WireError(`truncated inner IPv6+UDP header: need 48 bytes, ${end - start} left`, start);
    const payloadLen = (buf[start + 4] << 8) | buf[start + 5];
    if (payloadLen < 8 || payloadLen > end - start - 40) throw new WireError(`inner IPv6 payload length ${payloadLen} does not fit the ${end - start - 40} bytes left`, start + 4);
    if (buf[start + 6] !== 17) throw new WireError(`inner IPv6 next header ${buf[start + 6]} is not UDP`, start + 6);
    ipEnd = start + 40 + payloadLen;
    udpStart = start + 40;
    header = {
      version: 6,
      source: formatIpv6(buf, start + 8),
      destination: formatIpv6(buf, start + 24),
      ttl: buf[start + 7],
      tos: ((buf[start] & 0x0f) << 4) | (buf[start + 1] >>> 4),
      id: 0,
      fragment: 0,
      flowLabel: ((buf[start + 1] & 0x0f) << 16) | (buf[start + 2] << 8) | buf[start + 3],
      sourcePort: (buf[udpStart] << 8) | buf[udpStart + 1],
      destinationPort: (buf[udpStart + 2] << 8) | buf[udpStart + 3],
      udpChecksum: (buf[udpStart + 6] << 8) | buf[udpStart + 7],
    };
  } else {
    throw new WireError(`inner IP version ${version} is neither 4 nor 6`, start);
  }
  const udpLen = (buf[udpStart + 4] << 8) | buf[udpStart + 5];
  if (udpLen !== ipEnd - udpStart) {
    throw new WireError(`inner UDP length ${udpLen} disagrees with the IP payload length ${ipEnd - udpStart}`, udpStart + 4);
  }
  return { header, payload: buf.subarray(udpStart + 8, ipEnd), end: ipEnd };
}

/** Parses a whole buffer as IPv4/IPv6 + UDP; bytes after the IP packet are an error. */
export function decodeInnerUdp(bytes: Uint8Array): { header: InnerUdpHeader; payload: Uint8Array } {
  const p = decodeInnerUdpAt(bytes, 0, bytes.length);
  if (p.end !== bytes.length) throw new WireError(`${bytes.length - p.end} bytes follow the inner IP packet`, p.end);
  return { header: p.header, payload: p.payload };
}

/**
 * Builds IPv4/IPv6 + UDP around `payload`. Checksums given in `header` are written as they are
 * (so decoded packets re-encode byte for byte); missing ones are computed.
 */
export function encodeInnerUdp(header: InnerUdpHeader, payload: Uint8Array): Buffer {
  const ipLen = header.version === 4 ? 20 : 40;
  const out = Buffer.alloc(ipLen + 8 + payload.length);
  const udpLen = 8 + payload.length;
  if (udpLen > 0xffff) throw new RangeError(`inner UDP payload of ${payload.length} bytes is too long`);
  let src: Uint8Array;
  let dst: Uint8Array;
  if (header.version === 4) {
    src = new Uint8Array(4);
    dst = new Uint8Array(4);
    if (!parseIpv4(header.source, src, 0)) throw new TypeError(`inner source is not IPv4: ${header.source}`);
    if (!parseIpv4(header.destination, dst, 0)) throw new TypeError(`inner destination is not IPv4: ${header.destination}`);
    out[0] = 0x45;
    out[1] = header.tos;
    out.writeUInt16BE(ipLen + udpLen, 2);
    out.writeUInt16BE(header.id & 0xffff, 4);
    out.writeUInt16BE(header.fragment & 0xffff, 6);
    out[8] = header.ttl;
    out[9] = 17;
    out.set(src, 12);
    out.set(dst, 16);
    out.writeUInt16BE(header.ipChecksum ?? finishChecksum(onesSum(out, 0, 20)), 10);
  } else {
    src = new Uint8Array(16);
    dst = new Uint8Array(16);
    if (!parseIpv6(header.source, src, 0)) throw new TypeError(`inner source is not IPv6: ${header.source}`);
    if (!parseIpv6(header.destination, dst, 0)) throw new TypeError(`inner destination is not IPv6: ${header.destination}`);
    out.writeUInt32BE(((6 << 28) | ((header.tos & 0xff) << 20) | (header.flowLabel & 0xfffff)) >>> 0, 0);
    out.writeUInt16BE(udpLen, 4);
    out[6] = 17;
    out[7] = header.ttl;
    out.set(src, 8);
    out.set(dst, 24);
  }
  out.writeUInt16BE(header.sourcePort, ipLen);
  out.writeUInt16BE(header.destinationPort, ipLen + 2);
  out.writeUInt16BE(udpLen, ipLen + 4);
  out.set(payload, ipLen + 8);
  out.writeUInt16BE(header.udpChecksum ?? udpChecksum(src, dst, out, ipLen, ipLen + udpLen), ipLen + 6);
  return out;
}
