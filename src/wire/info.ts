// Info-Request and Info-Reply (message type 7; draft-ietf-lisp-nat-traversal §5.1, §5.2), with
// the forms lispers.net puts on the wire (draft-farinacci-lisp-lispers-net-nat; the layouts are in
// test/vectors/next/lispers-nat-README.md).
import { decodeAddress, decodeNatTraversalBody, encodeAddress, headerExtras } from './address';
import { decodeAuthHeader } from './auth-header';
import { AFI_LCAF, LCAF_NAT_TRAVERSAL } from './afi';
import { WireError } from './errors';
import { Reader } from './reader';
import type { InfoReply, InfoRequest } from './types';
import { Writer } from './writer';

export const TYPE_INFO = 7;
/** R: this is an Info-Reply (draft-ietf-lisp-nat-traversal §5.2). */
const INFO_R = 0x08000000;
const INFO_RESERVED = 0x07ffffff;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Decodes the rest of an Info message after its first word `w0`. */
export function decodeInfo(r: Reader, w0: number): InfoRequest | InfoReply {
  const reply = (w0 & INFO_R) !== 0;
  const what = reply ? 'Info-Reply' : 'Info-Request';
  // The header is the Map-Register's (§5.1 "as in Map-Register"): key-id, algorithm, auth length.
  const { nonce, keyId, algorithm, authData } = decodeAuthHeader(r, what);
  const ttl = r.u32(`${what} TTL`);
  const eidRsvd = r.u8(`${what} EID reserved byte`);
  const eidMaskLen = r.u8(`${what} EID mask-len`);
  const eid = decodeAddress(r, `${what} EID-prefix`);
  const base = { nonce, keyId, algorithm, authData, ttl, eidMaskLen, eid };
  let m: Mutable<InfoRequest> | Mutable<InfoReply>;
  if (!reply) {
    m = { type: 'info-request', ...base, requester: decodeAddress(r, 'Info-Request requester') };
  } else {
    m = { type: 'info-reply', ...base, nat: decodeNatLcaf(r) };
  }
  if (eidRsvd !== 0) m.eidRsvd = eidRsvd;
  if (w0 & INFO_RESERVED) m.reservedBits = w0 & INFO_RESERVED;
  if (r.pos < r.end) m.trailing = r.bytes(r.end - r.pos, 'trailing bytes');
  return m;
}

/**
 * The NAT-Traversal LCAF that ends an Info-Reply. Its Length counts the body in the draft;
 * lispers always writes 16 and reads the body to the end of the message, so a Length shorter
 * than what is left is taken the lispers way (and kept, for a byte-exact re-encoding).
 */
function decodeNatLcaf(r: Reader): InfoReply['nat'] {
  const at = r.pos;
  const afi = r.u16('Info-Reply NAT-Traversal LCAF AFI');
  if (afi !== AFI_LCAF) throw new WireError(`Info-Reply: expected the NAT-Traversal LCAF (AFI ${AFI_LCAF}), got AFI ${afi}`, at);
  r.need(6, 'Info-Reply LCAF header');
  const rsvd1 = r.u8('');
  const flags = r.u8('');
  const type = r.u8('');
  const rsvd2 = r.u8('');
  const length = r.u16('');
  if (type !== LCAF_NAT_TRAVERSAL) throw new WireError(`Info-Reply: expected LCAF type ${LCAF_NAT_TRAVERSAL} (NAT-Traversal), got ${type}`, at + 4);
  const left = r.end - r.pos;
  if (length > left) throw new WireError(`Info-Reply: NAT-Traversal LCAF length ${length} exceeds the ${left} bytes left`, at + 6);
  const body = new Reader(r.buf, r.pos, r.end);
  const nat = decodeNatTraversalBody(body, rsvd2, headerExtras(rsvd1, flags), 'Info-Reply');
  r.pos = body.pos;
  return length === left ? nat : { ...nat, declaredLength: length };
}

export function encodeInfo(w: Writer, m: InfoRequest | InfoReply): void {
  w.u32(((TYPE_INFO << 28) | (m.type === 'info-reply' ? INFO_R : 0) | ((m.reservedBits ?? 0) & INFO_RESERVED)) >>> 0);
  w.u64(m.nonce);
  w.u8(m.keyId);
  w.u8(m.algorithm);
  w.u16(m.authData.length);
  w.bytes(m.authData);
  w.u32(m.ttl >>> 0);
  w.u8(m.eidRsvd ?? 0);
  w.u8(m.eidMaskLen);
  encodeAddress(w, m.eid);
  if (m.type === 'info-request') encodeAddress(w, m.requester);
  else encodeAddress(w, { kind: 'lcaf', lcaf: m.nat });
}
