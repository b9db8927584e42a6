// Protocol constants, in one place: every module outside the codec imports them from here
// (src/wire/index.ts re-exports them). Plain `export const`s, so the data plane's per-packet
// loops read a property of this module, not a re-export getter.

/** UDP port of LISP control messages (RFC 9301 §5). */
export const LISP_CONTROL_PORT = 4342;
/** UDP destination port of LISP-encapsulated data (RFC 9300 §5.3). */
export const LISP_DATA_PORT = 4341;

/** The LISP data header after the outer UDP header: flags, nonce, instance-id/LSBs (RFC 9300 §5.1). */
export const DATA_HEADER_LENGTH = 8;
/** The ECM header in front of the inner IP packet (RFC 9301 §5.8). */
export const ECM_HEADER_LENGTH = 4;

/** First byte of the data header (RFC 9300 §5.3): nonce present. */
export const DATA_FLAG_N = 0x80;
/** Locator-Status-Bits in use. */
export const DATA_FLAG_L = 0x40;
/** Echo-nonce request. */
export const DATA_FLAG_E = 0x20;
/** Map-Version present. */
export const DATA_FLAG_V = 0x10;
/** Instance-ID present (the second word is IID << 8 | 8 LSBs). */
export const DATA_FLAG_I = 0x08;
/** Reserved; RFC 9300 sends it 0, receivers ignore it. */
export const DATA_FLAG_R = 0x04;
/** The two K bits: key-id of LISP-crypto (RFC 8061 §5), 0 when the payload is plain. */
export const DATA_KEY_ID_MASK = 0x03;

/** Instance-ids are 24 bits (RFC 9300 §5.3, RFC 8060 §4.1). */
export const MAX_INSTANCE_ID = 0xffffff;
/**
 * The instance-id that marks head-end replicated control packets: RFC 9962 §4.2 has the ITR
 * encapsulate a registration to each member; lispers.net sends these with the all-ones instance-id,
 * which no EID table uses, and decent does the same so both recognise each other's replicas.
 */
export const HER_INSTANCE_ID = 0xffffff;
