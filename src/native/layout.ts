// Layout constants shared with native/src/dn.h. Keep both in sync: the addon checks
// DESC_STRIDE, ADDR_STRIDE and STATS_COUNT against these at load time (see addon.ts).

/** Int32 fields of one slot descriptor. */
export const D = {
  /** Packet bytes starting at OFF. TUN read: the inner packet; UDP receive: the whole datagram. */
  LEN: 0,
  /** Offset of the packet inside its slot. */
  OFF: 1,
  /** Send: index into the AddressTable (< 0 drops the slot). TUN write: < 0 skips the slot. */
  ADDR: 2,
  /**
   * Send: bits 0-7 outer TTL / hop limit (0 = socket default), 8-15 TOS / traffic class, bit 16 = set TOS.
   * UDP receive: bits 0-7 the datagram's TTL / hop limit (0 = not reported), 8-15 its TOS / traffic
   * class, bit 16 = TOS reported (IP_RECVTTL / IP_RECVTOS, IPV6_RECVHOPLIMIT / IPV6_RECVTCLASS). With
   * UDP GRO they hold for every datagram of the message (the kernel merges only equal TTL/TOS).
   */
  TTLTOS: 3,
  /** F.* bits. */
  FLAGS: 4,
  /**
   * TUN read: MSS of a super-packet; UDP receive: GRO segment size (0 = a single datagram).
   * Send: segment size; with F.GSO_* set the slot is an inner super-packet to split, without
   * them the slot is sent as one UDP GSO buffer of equal-sized datagrams.
   */
  GSO: 5,
  /** Send: bytes before OFF repeated in front of every segment (outer header). TUN write: bytes stripped per segment. */
  HDR: 6,
  /**
   * UDP send: 1 + index into the AddressTable of the outer source address (IP_PKTINFO ipi_spec_dst /
   * IPV6_PKTINFO ipi6_addr); 0 = the kernel chooses by route. A source that is not local falls back
   * to the kernel's choice (counted as srcFallbacks).
   */
  AUX: 7,
  /**
   * UDP send / TUN write: key set index into the KeyTable (keys.ts), 0 = clear. Send: every segment
   * is sealed after the GSO split (RFC 8061 §7: LISP header with KK ‖ IV ‖ ciphertext ‖ ICV); a set
   * without a send key drops the slot (counted as txNoKey). TUN write: every datagram of the
   * message is verified and decrypted in place before coalescing; failures are dropped and counted
   * per key. Receive leaves it 0.
   */
  KEY: 8,
} as const;

export const DESC_STRIDE = 9;
export const ADDR_STRIDE = 20;
export const VNET_HDR_LEN = 10;

/** Descriptor flag bits (D.FLAGS). */
export const F = {
  GSO_TCP4: 1 << 0,
  GSO_TCP6: 1 << 1,
  GSO_UDP: 1 << 2,
  ECN: 1 << 3,
  CSUM_DONE: 1 << 4,
  TRUNC: 1 << 5,
  /**
   * KeyTable.open() decrypted the slot: each datagram is LISP header (KK cleared) ‖ inner packet ‖
   * leftover bytes; TUN write cuts each at its inner IP length.
   */
  OPENED: 1 << 6,
  /** KeyTable.open(): each datagram of the slot opens under its own set, from the segSets argument (64 per slot). */
  SEG_KEYS: 1 << 7,
} as const;

/**
 * D.FLAGS bits 16-23 (dn.h DN_F_SHIM_SHIFT): bytes in front of each datagram's LISP header that
 * LISP-crypto leaves alone, the relay shim (src/wire/relay-shim.ts). UDP send seals after them;
 * KeyTable.open() opens after them. 0 = none.
 */
export const SHIM_SHIFT = 16;
export const SHIM_MASK = 0xff;

/** Offload bits passed to and reported by the addon. */
export const OFF = {
  VNET: 1 << 0,
  TSO4: 1 << 1,
  TSO6: 1 << 2,
  USO4: 1 << 3,
  USO6: 1 << 4,
  UDP_GSO: 1 << 5,
  UDP_GRO: 1 << 6,
  COALESCE: 1 << 7,
  /** SO_REUSEPORT on the socket. */
  REUSEPORT: 1 << 8,
  /** IPv4: outer DF=0 and the kernel may fragment (IP_PMTUDISC_DONT); default DF=1 on every datagram (RFC 9300 §7.1). */
  FRAG: 1 << 9,
} as const;

/** Counters kept by the addon, one Float64Array slot each (order = enum in dn.h). */
export const STAT_NAMES = [
  'tunReads', 'tunReadBytes', 'tunWrites', 'tunWritePackets', 'tunCoalesced',
  'tunErrors', 'checksumBad', 'udpSendCalls', 'udpSentMessages', 'udpSentDatagrams',
  'udpSendDrops', 'udpRecvCalls', 'udpRecvMessages', 'udpRecvDatagrams', 'badPackets',
  'gsoFallbacks', 'srcFallbacks',
] as const;
export type StatName = (typeof STAT_NAMES)[number];
export type IoStats = Record<StatName, number>;

export type TunStats = Pick<IoStats, 'tunReads' | 'tunReadBytes' | 'tunWrites' | 'tunWritePackets' | 'tunCoalesced' |
  'tunErrors' | 'checksumBad' | 'badPackets'>;
export type UdpStats = Pick<IoStats, 'udpSendCalls' | 'udpSentMessages' | 'udpSentDatagrams' | 'udpSendDrops' |
  'udpRecvCalls' | 'udpRecvMessages' | 'udpRecvDatagrams' | 'badPackets' | 'gsoFallbacks' | 'srcFallbacks'>;

/** Snapshot of the counters whose names pass `keep` (each handle only touches its own). */
export function readStats<K extends StatName>(a: Float64Array, keep: (n: StatName) => n is K): Pick<IoStats, K> {
  const out = {} as Pick<IoStats, K>;
  STAT_NAMES.forEach((n, i) => { if (keep(n)) out[n] = a[i]; });
  return out;
}

export const isTunStat = (n: StatName): n is keyof TunStats => n.startsWith('tun') || n === 'checksumBad' || n === 'badPackets';
export const isUdpStat = (n: StatName): n is keyof UdpStats => n.startsWith('udp') || n === 'badPackets' || n === 'gsoFallbacks' || n === 'srcFallbacks';

/**
 * Key table layout (native/src/crypto.h): `sets` key sets of KEYSET_STRIDE bytes; a set is a
 * header plus one KEY_STRIDE entry per key-id 1..3 from KEY_OFFSET. Byte offsets below.
 */
export const KEYSET_STRIDE = 1040;
export const KEY_STRIDE = 336;
export const KEY_OFFSET = 32;
/** Set header: uint32 at 0 = send key-id (JS writes; 0 = none); float64 counters at 8 and 16. */
export const KS = { TX_KID: 0, UNKNOWN_KID: 8, TX_NO_KEY: 16 } as const;
/** Key entry: uint32 active, suite, ivLen, icvLen; uint64 txIv (last IV counter sent), rxTop; float64 counters. */
export const KE = { ACTIVE: 0, SUITE: 4, IV_LEN: 8, ICV_LEN: 12, TX_IV: 16, RX_TOP: 24, COUNTERS: 32 } as const;
export const KEY_COUNTER_NAMES = ['encrypted', 'decrypted', 'authFailures', 'replays', 'outOfWindow'] as const;
export type KeyCounterName = (typeof KEY_COUNTER_NAMES)[number];
