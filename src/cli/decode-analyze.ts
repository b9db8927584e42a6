// Turns one captured LISP datagram into everything `decent decode` prints: the decoded message, the
// inner control message of an ECM or of a head-end-replicated data packet, and the auth verdict.
// Rendering (text or JSON) is elsewhere.
import type { LispDatagram } from '../pcap/lisp';
import { parseIpPacket, protocolName } from '../pcap/packet';
import {
  ECM_HEADER_LENGTH, HER_INSTANCE_ID, LISP_CONTROL_PORT, TYPE_INFO, decodeControl, decodeData, decodeInnerUdp, verifyControl, WireError,
  type AuthVerdict, type ControlMessage, type DataPacket, type InnerUdpHeader, type LispMessage,
  type LispMessageType,
} from '../wire';

export interface DecodeFailure {
  /** Which part failed: the UDP payload itself, or the control message inside it. */
  readonly part: 'message' | 'inner';
  readonly reason: string;
  /** Byte offset within that part; undefined for an internal error (a codec bug). */
  readonly offset?: number;
}

/** Short description of the IP packet inside a LISP data packet that is not a control message. */
export interface InnerPacketSummary {
  readonly version: number;
  readonly source: string;
  readonly destination: string;
  readonly protocol: string;
  readonly length: number;
  readonly ports?: readonly [number, number];
}

export interface DecodedDatagram {
  readonly datagram: LispDatagram;
  /** Seconds since the first frame of the capture. */
  readonly time: number;
  /** Undefined only when the message type cannot even be told from the first byte. */
  readonly type?: LispMessageType;
  readonly message?: LispMessage;
  /** Inner IP/UDP header of an ECM or HER copy. */
  readonly innerIp?: InnerUdpHeader;
  /** Inner control message of an ECM or HER copy. */
  readonly inner?: ControlMessage;
  /** For plain LISP data: what the inner packet is. */
  readonly innerPacket?: InnerPacketSummary;
  /**
   * A control message type this codec has no decoder for (Map-Referral, shared extension,
   * unassigned): printed as unknown with its bytes, not a decoding failure.
   */
  readonly unknownType?: number;
  /** With --crypto-key, for encrypted data (KK != 0): opened, ICV failed, or no key for it. */
  readonly decrypted?: { readonly verdict: 'ok' | 'icv' | 'no-key'; readonly suite?: number; readonly variant?: string };
  /** With a key, for every datagram holding a control message (for ECM/HER: the inner one). */
  readonly auth?: AuthVerdict;
  readonly error?: DecodeFailure;
}

const TYPE_BY_CODE: Readonly<Record<number, LispMessageType>> = {
  1: 'map-request', 2: 'map-reply', 3: 'map-register', 4: 'map-notify', 5: 'map-notify-ack', 8: 'ecm',
};

/** Message type 7 with the R bit (draft-ietf-lisp-nat-traversal §5). */
function typeOf(bytes: Uint8Array): LispMessageType | undefined {
  if (bytes.length === 0) return undefined;
  const code = bytes[0] >> 4;
  if (code === TYPE_INFO) return (bytes[0] & 0x08) !== 0 ? 'info-reply' : 'info-request';
  return TYPE_BY_CODE[code];
}

export function analyzeDatagram(datagram: LispDatagram, time: number, key?: string): DecodedDatagram {
  const base = { datagram, time };
  const bytes = datagram.payload;
  if (datagram.plane === 'control') {
    const type = typeOf(bytes);
    if (bytes.length > 0 && type === undefined) return { ...base, unknownType: bytes[0] >> 4 };
    let message: ControlMessage;
    try {
      message = decodeControl(bytes);
    } catch (e) {
      return { ...base, type, error: failure('message', e) };
    }
    if (message.type !== 'ecm') {
      return { ...base, type: message.type, message, auth: key === undefined ? undefined : verifyControl(bytes, key) };
    }
    const out = { ...base, type: message.type, message, innerIp: message.inner, inner: message.message };
    if (!message.message || key === undefined) return out;
    // The codec hands us the inner message decoded; verification needs its bytes.
    let innerBytes: Uint8Array;
    try {
      innerBytes = decodeInnerUdp(bytes.subarray(ECM_HEADER_LENGTH)).payload;
    } catch (e) {
      return { ...out, error: failure('inner', e) };
    }
    return { ...out, auth: verifyControl(innerBytes, key) };
  }

  let packet: DataPacket;
  try {
    packet = decodeData(bytes);
  } catch (e) {
    return { ...base, type: 'data', error: failure('message', e) };
  }
  const out = { ...base, type: 'data' as const, message: packet };
  if (packet.header.iid === HER_INSTANCE_ID && packet.payload.length > 0 && packet.payload[0] >> 4 === TYPE_INFO) {
    // lispers' data-port Info-Request: the message right after the data header, no inner IP
    // (an IP packet starts with 4 or 6; lispers-nat-README "Info-Request, data port").
    let inner: ControlMessage;
    try {
      inner = decodeControl(packet.payload);
    } catch (e) {
      return { ...out, error: failure('inner', e) };
    }
    return { ...out, inner, auth: key === undefined ? undefined : verifyControl(packet.payload, key) };
  }
  const content = parseIpPacket(packet.payload);
  // A control message travels in a data packet when an ITR head-end-replicates a group
  // Map-Register (lispers.net: IID 0xffffff, inner UDP to 4342; RFC 9962 §4.2 head-end replication).
  if (content.kind === 'udp' && content.udp.destinationPort === LISP_CONTROL_PORT) {
    let innerIp: InnerUdpHeader;
    let innerBytes: Uint8Array;
    try {
      ({ header: innerIp, payload: innerBytes } = decodeInnerUdp(packet.payload));
    } catch (e) {
      return { ...out, error: failure('inner', e) };
    }
    let inner: ControlMessage;
    try {
      inner = decodeControl(innerBytes);
    } catch (e) {
      return { ...out, innerIp, error: failure('inner', e) };
    }
    return { ...out, innerIp, inner, auth: key === undefined ? undefined : verifyControl(innerBytes, key) };
  }
  if (packet.header.keyId !== 0) return out; // encrypted (RFC 8061): only --crypto-key looks inside
  const innerPacket = innerPacketSummary(packet.payload);
  return innerPacket ? { ...out, innerPacket } : out;
}

/** What an inner IP packet is (addresses, protocol, ports, length), or undefined when it is not IP. */
export function innerPacketSummary(bytes: Uint8Array): InnerPacketSummary | undefined {
  const content = parseIpPacket(bytes);
  if (content.kind !== 'udp' && content.kind !== 'ip' && content.kind !== 'fragment') return undefined;
  const { ip } = content;
  return {
    version: ip.version, source: ip.source, destination: ip.destination,
    protocol: content.kind === 'fragment' ? `${protocolName(ip.protocol)} fragment` : protocolName(ip.protocol),
    length: ip.totalLength,
    ports: content.kind === 'udp' ? [content.udp.sourcePort, content.udp.destinationPort] : undefined,
  };
}

function failure(part: DecodeFailure['part'], e: unknown): DecodeFailure {
  if (e instanceof WireError) return { part, reason: e.reason, offset: e.offset };
  // Anything but WireError escaping the codec is a codec bug: report it, do not crash the listing.
  return { part, reason: `internal error: ${e instanceof Error ? e.message : String(e)}` };
}
