// LISP control messages (RFC 9301 §5): Map-Request, Map-Reply, Map-Register, Map-Notify,
// Map-Notify-Ack and the Encapsulated Control Message.
import { decodeAddress, encodeAddress } from './address';
import { WireError } from './errors';
import { decodeAuthHeader } from './auth-header';
import { decodeInfo, encodeInfo, TYPE_INFO } from './info';
import { decodeInnerUdpAt, encodeInnerUdp } from './inner';
import { Reader } from './reader';
import { decodeEidRecord, decodeRequestRecord, encodeEidRecord, encodeRequestRecord } from './records';
import type {
  Address, ControlMessage, Ecm, EidRecord, MapNotify, MapRegister, MapReply, MapRequest, RequestRecord,
} from './types';
import { Writer } from './writer';

export const TYPE_MAP_REQUEST = 1;
export const TYPE_MAP_REPLY = 2;
export const TYPE_MAP_REGISTER = 3;
export const TYPE_MAP_NOTIFY = 4;
export const TYPE_MAP_NOTIFY_ACK = 5;
export const TYPE_ECM = 8;
export { TYPE_INFO };

const TYPE_NAMES: Record<number, string> = {
  1: 'Map-Request', 2: 'Map-Reply', 3: 'Map-Register', 4: 'Map-Notify', 5: 'Map-Notify-Ack',
  6: 'Map-Referral', 7: 'Info-Request/Reply', 8: 'Encapsulated Control Message', 15: 'Shared Extension',
};

/** Human name of a control message type code (RFC 9301 §5.1; 7 is Info-Request/Reply). */
export function controlTypeName(code: number): string {
  return TYPE_NAMES[code] ?? `unassigned type ${code}`;
}

// First-word flag masks of each message (RFC 9301 §5.2, §5.4, §5.6, §5.7).
const RQ_A = 0x08000000, RQ_M = 0x04000000, RQ_P = 0x02000000, RQ_S = 0x01000000;
const RQ_p = 0x00800000, RQ_s = 0x00400000, RQ_L = 0x00004000, RQ_D = 0x00002000;
const RQ_RESERVED = 0x003f8000;
const RP_P = 0x08000000, RP_E = 0x04000000, RP_S = 0x02000000;
const RP_RESERVED = 0x01ffff00;
const RG_P = 0x08000000, RG_S = 0x04000000, RG_I = 0x02000000;
const RG_E = 0x1000, RG_T = 0x0800, RG_a = 0x0400, RG_R = 0x0200, RG_M = 0x0100;
const RG_RESERVED = 0x01ffe000;
const NT_RESERVED = 0x0fffff00;
const ECM_S = 0x08000000, ECM_D = 0x04000000;
const ECM_RESERVED = 0x03ffffff;

/** Offsets of the authentication fields; identical for Map-Register, Map-Notify(-Ack). */
export const AUTH_KEY_ID_OFFSET = 12;
export const AUTH_LENGTH_OFFSET = 14;
export const AUTH_DATA_OFFSET = 16;

/**
 * Decodes one control message (a UDP 4342 payload). Throws WireError for anything malformed,
 * including unknown AFIs (RFC 9301 §5.1) and unsupported message types.
 */
export function decodeControl(bytes: Uint8Array): ControlMessage {
  return decodeControlIn(new Reader(bytes), 0);
}

function decodeControlIn(r: Reader, depth: number): ControlMessage {
  const start = r.pos;
  const w0 = r.u32('control message header');
  const type = w0 >>> 28;
  switch (type) {
    case TYPE_MAP_REQUEST:
      return decodeMapRequest(r, w0);
    case TYPE_MAP_REPLY:
      return decodeMapReply(r, w0);
    case TYPE_MAP_REGISTER:
      return decodeMapRegister(r, w0);
    case TYPE_MAP_NOTIFY:
    case TYPE_MAP_NOTIFY_ACK:
      return decodeMapNotify(r, w0, type === TYPE_MAP_NOTIFY ? 'map-notify' : 'map-notify-ack');
    case TYPE_INFO:
      return decodeInfo(r, w0);
    case TYPE_ECM:
      if (depth > 0) throw new WireError('an ECM inside an ECM is not allowed', start);
      return decodeEcm(r, w0);
    default:
      throw new WireError(`unsupported control message type ${type} (${controlTypeName(type)})`, start);
  }
}

function trailingOf(r: Reader): Uint8Array | undefined {
  return r.pos < r.end ? r.bytes(r.end - r.pos, 'trailing bytes') : undefined;
}

function decodeMapRequest(r: Reader, w0: number): MapRequest {
  const nonce = r.u64('Map-Request nonce');
  const sourceEid = decodeAddress(r, 'Map-Request source EID');
  const irc = ((w0 >>> 8) & 0x1f) + 1;
  const itrRlocs: Address[] = new Array<Address>(irc);
  for (let i = 0; i < irc; i++) itrRlocs[i] = decodeAddress(r, `Map-Request ITR-RLOC ${i}`);
  const count = w0 & 0xff;
  const records: RequestRecord[] = new Array<RequestRecord>(count);
  for (let i = 0; i < count; i++) records[i] = decodeRequestRecord(r, i);
  const m: { -readonly [K in keyof MapRequest]: MapRequest[K] } = {
    type: 'map-request',
    authoritative: (w0 & RQ_A) !== 0,
    mapDataPresent: (w0 & RQ_M) !== 0,
    probe: (w0 & RQ_P) !== 0,
    smr: (w0 & RQ_S) !== 0,
    pitr: (w0 & RQ_p) !== 0,
    smrInvoked: (w0 & RQ_s) !== 0,
    nonce,
    sourceEid,
    itrRlocs,
    records,
  };
  if (w0 & RQ_L) m.localXtr = true;
  if (w0 & RQ_D) m.dontReply = true;
  if (m.mapDataPresent) m.mapReplyRecord = decodeEidRecord(r, count);
  if (w0 & RQ_RESERVED) m.reservedBits = w0 & RQ_RESERVED;
  const trailing = trailingOf(r);
  if (trailing) m.trailing = trailing;
  return m;
}

function decodeMapReply(r: Reader, w0: number): MapReply {
  const nonce = r.u64('Map-Reply nonce');
  const count = w0 & 0xff;
  const records: EidRecord[] = new Array<EidRecord>(count);
  for (let i = 0; i < count; i++) records[i] = decodeEidRecord(r, i);
  const m: { -readonly [K in keyof MapReply]: MapReply[K] } = {
    type: 'map-reply',
    probe: (w0 & RP_P) !== 0,
    echoNonceCapable: (w0 & RP_E) !== 0,
    security: (w0 & RP_S) !== 0,
    nonce,
    records,
  };
  if (w0 & RP_RESERVED) m.reservedBits = w0 & RP_RESERVED;
  const trailing = trailingOf(r);
  if (trailing) m.trailing = trailing;
  return m;
}

interface AuthPart { nonce: bigint; keyId: number; algorithm: number; authData: Uint8Array; records: EidRecord[] }

function decodeAuthAndRecords(r: Reader, w0: number, what: string): AuthPart {
  const { nonce, keyId, algorithm, authData } = decodeAuthHeader(r, what);
  const count = w0 & 0xff;
  const records: EidRecord[] = new Array<EidRecord>(count);
  for (let i = 0; i < count; i++) records[i] = decodeEidRecord(r, i);
  return { nonce, keyId, algorithm, authData, records };
}

function decodeMapRegister(r: Reader, w0: number): MapRegister {
  const a = decodeAuthAndRecords(r, w0, 'Map-Register');
  const m: { -readonly [K in keyof MapRegister]: MapRegister[K] } = {
    type: 'map-register',
    proxyReply: (w0 & RG_P) !== 0,
    security: (w0 & RG_S) !== 0,
    useTtl: (w0 & RG_T) !== 0,
    merge: (w0 & RG_a) !== 0,
    wantMapNotify: (w0 & RG_M) !== 0,
    nonce: a.nonce,
    keyId: a.keyId,
    algorithm: a.algorithm,
    authData: a.authData,
    records: a.records,
  };
  if (w0 & RG_E) m.eidNotify = true;
  if (w0 & RG_R) m.rBit = true;
  if (w0 & RG_I) {
    // RFC 9301 §5.6: with I set, the 128-bit xTR-ID and 64-bit site-ID follow the records.
    r.need(24, 'Map-Register xTR-ID and site-ID');
    const hi = r.u64('xTR-ID');
    const lo = r.u64('xTR-ID');
    m.xtrId = hi === 0n ? lo : (hi << 64n) | lo;
    m.siteId = r.u64('site-ID');
  }
  if (w0 & RG_RESERVED) m.reservedBits = w0 & RG_RESERVED;
  const trailing = trailingOf(r);
  if (trailing) m.trailing = trailing;
  return m;
}

function decodeMapNotify(r: Reader, w0: number, type: 'map-notify' | 'map-notify-ack'): MapNotify {
  const a = decodeAuthAndRecords(r, w0, type === 'map-notify' ? 'Map-Notify' : 'Map-Notify-Ack');
  const m: { -readonly [K in keyof MapNotify]: MapNotify[K] } = {
    type,
    nonce: a.nonce,
    keyId: a.keyId,
    algorithm: a.algorithm,
    authData: a.authData,
    records: a.records,
  };
  if (w0 & NT_RESERVED) m.reservedBits = w0 & NT_RESERVED;
  // lispers copies the Map-Register's xTR-ID/site-ID trailer (and, in acks, records it does not
  // count) after the last record: kept as `trailing` so the message re-encodes byte for byte.
  const trailing = trailingOf(r);
  if (trailing) m.trailing = trailing;
  return m;
}

function decodeEcm(r: Reader, w0: number): Ecm {
  const m: { -readonly [K in keyof Ecm]: Ecm[K] } = {
    type: 'ecm',
    security: (w0 & ECM_S) !== 0,
    ddt: (w0 & ECM_D) !== 0,
  };
  if (w0 & ECM_RESERVED) m.reservedBits = w0 & ECM_RESERVED;
  if (m.security) {
    // LISP-SEC authentication data (RFC 9303) precedes the inner packet; not parsed yet.
    m.body = r.bytes(r.remaining, 'ECM body');
    return m;
  }
  const inner = decodeInnerUdpAt(r.buf, r.pos, r.end);
  m.inner = inner.header;
  const payloadStart = inner.payload.byteOffset - r.buf.byteOffset;
  m.message = decodeControlIn(new Reader(r.buf, payloadStart, payloadStart + inner.payload.length), 1);
  r.pos = inner.end;
  const trailing = trailingOf(r);
  if (trailing) m.trailing = trailing;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Encoding

const scratch = new Writer(2048);

/** Encodes a control message. The auth field is written as given; use signControl() to fill it. */
export function encodeControl(m: ControlMessage): Buffer {
  const w = scratch.reset();
  encodeInto(w, m);
  return w.take();
}

function count8(n: number, what: string): number {
  if (n > 255) throw new RangeError(`${what}: at most 255, got ${n}`);
  return n;
}

function encodeInto(w: Writer, m: ControlMessage): void {
  switch (m.type) {
    case 'map-request': {
      if (m.itrRlocs.length < 1 || m.itrRlocs.length > 32) {
        throw new RangeError(`a Map-Request carries 1 to 32 ITR-RLOCs, got ${m.itrRlocs.length}`);
      }
      w.u32(((TYPE_MAP_REQUEST << 28) | (m.authoritative ? RQ_A : 0) | (m.mapDataPresent ? RQ_M : 0) |
        (m.probe ? RQ_P : 0) | (m.smr ? RQ_S : 0) | (m.pitr ? RQ_p : 0) | (m.smrInvoked ? RQ_s : 0) |
        (m.localXtr ? RQ_L : 0) | (m.dontReply ? RQ_D : 0) | ((m.reservedBits ?? 0) & RQ_RESERVED) |
        ((m.itrRlocs.length - 1) << 8) | count8(m.records.length, 'Map-Request records')) >>> 0);
      w.u64(m.nonce);
      encodeAddress(w, m.sourceEid);
      for (const a of m.itrRlocs) encodeAddress(w, a);
      for (const rec of m.records) encodeRequestRecord(w, rec);
      if (m.mapDataPresent) {
        if (!m.mapReplyRecord) throw new TypeError('Map-Request with M set needs mapReplyRecord');
        encodeEidRecord(w, m.mapReplyRecord);
      }
      break;
    }
    case 'map-reply':
      w.u32(((TYPE_MAP_REPLY << 28) | (m.probe ? RP_P : 0) | (m.echoNonceCapable ? RP_E : 0) |
        (m.security ? RP_S : 0) | ((m.reservedBits ?? 0) & RP_RESERVED) |
        count8(m.records.length, 'Map-Reply records')) >>> 0);
      w.u64(m.nonce);
      for (const rec of m.records) encodeEidRecord(w, rec);
      break;
    case 'map-register':
      w.u32(((TYPE_MAP_REGISTER << 28) | (m.proxyReply ? RG_P : 0) | (m.security ? RG_S : 0) |
        (m.xtrId !== undefined ? RG_I : 0) | (m.eidNotify ? RG_E : 0) | (m.useTtl ? RG_T : 0) |
        (m.merge ? RG_a : 0) | (m.rBit ? RG_R : 0) | (m.wantMapNotify ? RG_M : 0) |
        ((m.reservedBits ?? 0) & RG_RESERVED) | count8(m.records.length, 'Map-Register records')) >>> 0);
      encodeAuthAndRecords(w, m.nonce, m.keyId, m.algorithm, m.authData, m.records);
      if (m.xtrId !== undefined) {
        w.u64((m.xtrId >> 64n) & 0xffffffffffffffffn);
        w.u64(m.xtrId & 0xffffffffffffffffn);
        w.u64(m.siteId ?? 0n);
      }
      break;
    case 'map-notify':
    case 'map-notify-ack':
      w.u32((((m.type === 'map-notify' ? TYPE_MAP_NOTIFY : TYPE_MAP_NOTIFY_ACK) << 28) |
        ((m.reservedBits ?? 0) & NT_RESERVED) | count8(m.records.length, 'Map-Notify records')) >>> 0);
      encodeAuthAndRecords(w, m.nonce, m.keyId, m.algorithm, m.authData, m.records);
      break;
    case 'info-request':
    case 'info-reply':
      encodeInfo(w, m);
      break;
    case 'ecm': {
      w.u32(((TYPE_ECM << 28) | (m.security ? ECM_S : 0) | (m.ddt ? ECM_D : 0) | ((m.reservedBits ?? 0) & ECM_RESERVED)) >>> 0);
      if (m.body) {
        w.bytes(m.body);
      } else {
        if (!m.inner || !m.message) throw new TypeError('an ECM needs either body or inner + message');
        if (m.message.type === 'ecm') throw new TypeError('an ECM cannot carry an ECM');
        const innerMessage = new Writer(512);
        encodeInto(innerMessage, m.message);
        w.bytes(encodeInnerUdp(m.inner, innerMessage.buf.subarray(0, innerMessage.pos)));
      }
      break;
    }
    default:
      throw new TypeError(`cannot encode control message type ${(m as { type: string }).type}`);
  }
  if (m.trailing) w.bytes(m.trailing);
}

function encodeAuthAndRecords(w: Writer, nonce: bigint, keyId: number, algorithm: number, authData: Uint8Array, records: readonly EidRecord[]): void {
  w.u64(nonce);
  w.u8(keyId);
  w.u8(algorithm);
  w.u16(authData.length);
  w.bytes(authData);
  for (const rec of records) encodeEidRecord(w, rec);
}
