// The relay shim: decent-to-decent, beyond the drafts. LISP-crypto end to end through an RTR
// (README "Behind NAT"): the RTR never decrypts, so it cannot read the inner destination, and the
// ETR behind it cannot tell from the outer source (the RTR) which ITR's keys open a packet
// (RFC 8061 §5: a key-id is 2 bits, keys are per ITR-ETR pair). A shim in front of the unchanged
// LISP header ‖ IV ‖ ciphertext ‖ ICV says it:
//
//   0      1      2        3     4 ...
//   0x90 | type | family | 0   | address (4 bytes IPv4, 16 bytes IPv6)
//
// Byte 0 sets N and V, which RFC 9300 §5.3 forbids together in a LISP data header (V set: N
// MUST be 0), so no LISP header starts like a shim. type TO (1): ITR -> RTR, the address is the
// ETR's RLOC the RTR forwards to; type FROM (2): RTR -> ETR, the address is the ITR's RLOC whose
// keys open it. The RTR turns TO into FROM in place (same family, same length). The shim is not
// authenticated: it only picks which keys are tried, and a packet that names other keys than
// those it was sealed with fails its ICV (counted). 8 bytes (IPv4) or 20 (IPv6): with an AEAD
// suite (at most 28 bytes of IV and tag) it fits the 51 bytes the ITR leaves for sealing.
// Pure: reads and writes bytes at offsets, allocates nothing (the data plane calls it per packet).

export const SHIM_MARK = 0x90;
export const SHIM_TO = 1;
export const SHIM_FROM = 2;
export const SHIM_LEN4 = 8;
export const SHIM_LEN6 = 20;
/** The longest shim. */
export const SHIM_MAX = SHIM_LEN6;

/**
 * The shim at b[at, at+len): its length (8 or 20), 0 when b[at] is not a shim at all (a LISP
 * header), -1 when it is one but malformed (unknown type or family, reserved byte set, too short
 * to hold itself and an 8-byte LISP header behind it).
 */
export function shimLength(b: Uint8Array, at: number, len: number): number {
  if (len < 1 || b[at] !== SHIM_MARK) return 0;
  if (len < 4) return -1;
  const type = b[at + 1], fam = b[at + 2];
  if ((type !== SHIM_TO && type !== SHIM_FROM) || b[at + 3] !== 0) return -1;
  const n = fam === 4 ? SHIM_LEN4 : fam === 6 ? SHIM_LEN6 : -1;
  return n > 0 && len >= n + 8 ? n : -1;
}

/** The type (SHIM_TO / SHIM_FROM) of a shim shimLength() accepted. */
export function shimType(b: Uint8Array, at: number): number {
  return b[at + 1];
}

/** The family (4 / 6) of a shim shimLength() accepted; its address starts at at + 4. */
export function shimFamily(b: Uint8Array, at: number): number {
  return b[at + 2];
}

/**
 * Writes a shim of `type` at b[at] for the address of entry `e` of an address table (src/native
 * layout: [e] family 4|6, [e+4..] address bytes). Returns its length (0: no family).
 */
export function writeShim(b: Uint8Array, at: number, type: number, table: Uint8Array, e: number): number {
  const fam = table[e], n = fam === 4 ? 4 : fam === 6 ? 16 : 0;
  if (n === 0) return 0;
  b[at] = SHIM_MARK;
  b[at + 1] = type;
  b[at + 2] = fam;
  b[at + 3] = 0;
  for (let k = 0; k < n; k++) b[at + 4 + k] = table[e + 4 + k];
  return 4 + n;
}
