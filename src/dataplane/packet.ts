// Inner-packet field access for the hot path: plain reads from the slot buffer, no objects.
// Offsets follow RFC 791 §3.1 (IPv4) and RFC 8200 §3 (IPv6).
import { ADDR_STRIDE, D, DESC_STRIDE, F, SHIM_MASK, SHIM_SHIFT } from '../native/layout';
import { DATA_HEADER_LENGTH, HER_INSTANCE_ID, LISP_DATA_PORT } from '../wire/constants';

// Descriptor fields as plain module constants: the package index re-exports through getters
// (tsc's CommonJS output), which would cost a call per access in the per-packet loops.
export const DESC = DESC_STRIDE;
export const ADDR = ADDR_STRIDE;
export const D_LEN = D.LEN;
export const D_OFF = D.OFF;
export const D_ADDR = D.ADDR;
export const D_TTLTOS = D.TTLTOS;
export const D_FLAGS = D.FLAGS;
export const D_GSO = D.GSO;
export const D_HDR = D.HDR;
export const D_AUX = D.AUX;
export const D_KEY = D.KEY;
export const F_GSO_TCP = F.GSO_TCP4 | F.GSO_TCP6;
export const F_GSO_ANY = F.GSO_TCP4 | F.GSO_TCP6 | F.GSO_UDP;
export const F_TRUNC = F.TRUNC;
/** D.FLAGS: a relay shim of this many bytes is in front of each datagram's LISP header (src/native/layout.ts). */
export const FLAG_SHIM_SHIFT = SHIM_SHIFT;
export const FLAG_SHIM_MASK = SHIM_MASK;

/** LISP data header (RFC 9300 §5.1). */
export const LISP_HEADER_LEN = DATA_HEADER_LENGTH;
/** H of RFC 9300 §7.1, outer IP + UDP + LISP: 20 + 8 + 8 and 40 + 8 + 8. */
export const OVERHEAD4 = 36;
export const OVERHEAD6 = 56;
/** Path limit L of RFC 9300 §7 ("RECOMMENDED 1500"): the underlay MTU we assume. */
export const UNDERLAY_MTU = 1500;
/** Smallest MTU an IPv6 link may have (RFC 8200 §5); a PTB never advertises less. */
export const IPV6_MIN_MTU = 1280;
/** The instance-id of head-end replicated control traffic (RFC 9962 §4.2; see wire/constants.ts). */
export const HER_IID = HER_INSTANCE_ID;
export const DATA_PORT = LISP_DATA_PORT;

/** Big-endian uint32 at `o`. */
export function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** Big-endian uint16 at `o`. */
export function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

/** murmur3's fmix32: spreads every input bit over the whole word. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function step(h: number, w: number): number {
  return Math.imul(h ^ w, 0x9e3779b1) ^ (h >>> 15);
}

/**
 * Hash of the inner flow (addresses, protocol and, for unfragmented TCP/UDP, the ports), so one
 * flow always takes the same RLOC (RFC 9300 §5.3: the outer source port follows the inner flow).
 * Fragments hash without ports so all pieces of a datagram stay together.
 */
export function flowHash(b: Uint8Array, at: number, len: number, v4: boolean): number {
  let h = 0x2545f491;
  if (v4) {
    const proto = b[at + 9];
    h = step(h, u32(b, at + 12));
    h = step(h, u32(b, at + 16));
    h = step(h, proto);
    const ihl = (b[at] & 0x0f) << 2;
    const frag = u16(b, at + 6) & 0x3fff; // MF + fragment offset
    if (frag === 0 && (proto === 6 || proto === 17) && len >= ihl + 4) h = step(h, u32(b, at + ihl));
  } else {
    const next = b[at + 6];
    for (let o = 8; o < 40; o += 4) h = step(h, u32(b, at + o));
    h = step(h, next);
    if ((next === 6 || next === 17) && len >= 44) h = step(h, u32(b, at + 40));
  }
  return mix(h);
}

/**
 * Bytes of IP + transport header in front of each segment's payload of a TSO/USO super-packet,
 * so segment size = this + D.GSO. Linux hands TUN super-packets without IPv6 extension headers.
 */
export function segmentHeaderLength(b: Uint8Array, at: number, v4: boolean, flags: number): number {
  const ip = v4 ? (b[at] & 0x0f) << 2 : 40;
  if ((flags & F_GSO_TCP) !== 0) return ip + ((b[at + ip + 12] >> 4) << 2);
  return ip + 8;
}
