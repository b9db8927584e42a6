// The decoded shape of everything LISP puts on the wire (RFC 9300, RFC 9301, RFC 8060).
//
// Round-trip rule: `encode(decode(bytes))` reproduces `bytes` exactly, so every field a peer can
// set is kept, including reserved bits and lispers.net quirks. To keep hand-built messages short,
// a field that only carries a non-default quirk or reserved value is present only when it is not
// zero/false; `decode(encode(m))` then equals `m` for messages built without them.

/** An address as it appears after an AFI (RFC 9301 §5; LCAFs, RFC 8060). */
export type Address =
  | NoAddress
  | Ipv4Address
  | Ipv6Address
  | NameAddress
  | LcafAddress;

/** AFI 0: no address (legal inside AFI-Lists and as the source EID of probes). */
export interface NoAddress { readonly kind: 'none' }
/** AFI 1. `ip` is dotted-quad. */
export interface Ipv4Address { readonly kind: 'ipv4'; readonly ip: string }
/** AFI 2. `ip` is the RFC 5952 canonical text form. */
export interface Ipv6Address { readonly kind: 'ipv6'; readonly ip: string }
/** AFI 17: distinguished name, ASCII, NUL-terminated on the wire. */
export interface NameAddress { readonly kind: 'name'; readonly name: string }
/** AFI 16387: LISP Canonical Address Format (RFC 8060). */
export interface LcafAddress { readonly kind: 'lcaf'; readonly lcaf: Lcaf }

export type Lcaf =
  | AfiListLcaf
  | InstanceIdLcaf
  | GeoLcaf
  | MulticastInfoLcaf
  | RleLcaf
  | JsonLcaf
  | SecurityKeyLcaf
  | NatTraversalLcaf
  | OpaqueLcaf;

/** Header fields every LCAF carries; kept for byte-exact round trips (RFC 8060 §3). */
interface LcafHeaderExtras {
  /** Rsvd1 byte; present only when non-zero. */
  readonly rsvd1?: number;
  /** Flags byte; present only when non-zero. */
  readonly flags?: number;
}

/** Type 1 (RFC 8060 §4.1.1). lispers wraps RLEs and RLOC names in it. */
export interface AfiListLcaf extends LcafHeaderExtras {
  readonly type: 'afi-list';
  readonly items: readonly Address[];
  /** Rsvd2 byte; present only when non-zero. */
  readonly rsvd2?: number;
}

/** Type 2 (RFC 8060 §4.1.2): IID(32) + address; Rsvd2 is the IID mask-len. */
export interface InstanceIdLcaf extends LcafHeaderExtras {
  readonly type: 'instance-id';
  readonly iid: number;
  /** IID mask length (Rsvd2); 0 for an exact IID. */
  readonly iidMaskLen: number;
  readonly address: Address;
}

/** Type 5 (RFC 8060 §4.3): geo-coordinates with a trailing address. */
export interface GeoLcaf extends LcafHeaderExtras {
  readonly type: 'geo';
  readonly north: boolean;
  readonly latDegrees: number;
  readonly latMinutes: number;
  readonly latSeconds: number;
  readonly east: boolean;
  readonly lonDegrees: number;
  readonly lonMinutes: number;
  readonly lonSeconds: number;
  /** Altitude in metres, signed 32 bits. */
  readonly altitude: number;
  readonly address: Address;
  readonly rsvd2?: number;
}

/** Type 9 (RFC 8060 §4.10.2): an (S,G) entry. */
export interface MulticastInfoLcaf extends LcafHeaderExtras {
  readonly type: 'multicast-info';
  readonly iid: number;
  /** Rsvd2 bits `00000RLJ`; present only when non-zero. */
  readonly rlj?: number;
  /** The 16 reserved bits after the IID; present only when non-zero. */
  readonly rsvd3?: number;
  readonly sourceMaskLen: number;
  readonly groupMaskLen: number;
  readonly source: Address;
  readonly group: Address;
  /**
   * lispers.net quirk Q5: two zero bytes between Length and IID, which Length does not count.
   * Present (true) only in that layout.
   */
  readonly lispersPad?: true;
}

/** One replication target of an RLE (RFC 8060 §4.11, RFC 8378). */
export interface RleEntry {
  readonly level: number;
  readonly address: Address;
  /** lispers.net appends `AFI 17 + name` (the node's RLOC-name) after an entry. */
  readonly name?: string;
  /** Reserved 24 bits before the level; present only when non-zero. */
  readonly rsvd?: number;
}

/** Type 13: Replication List Entry. */
export interface RleLcaf extends LcafHeaderExtras {
  readonly type: 'rle';
  readonly entries: readonly RleEntry[];
  readonly rsvd2?: number;
}

/** Type 14 (RFC 8060 §4.10.5): JSON text plus an address (AFI 0 when none). */
export interface JsonLcaf extends LcafHeaderExtras {
  readonly type: 'json';
  readonly json: string;
  readonly address: Address;
  /** Rsvd2 carries the B bit (RFC 8060) or lispers' encrypted/key-id bits. */
  readonly rsvd2?: number;
}

/**
 * Type 11, Security Key (RFC 8061 §4, RFC 8060 §4.7): the LISP-crypto public keys of the locator
 * that follows. `keys[i]` is the key material of key-id i + 1 (RFC 8061 §4: at most 3 keys).
 */
export interface SecurityKeyLcaf extends LcafHeaderExtras {
  readonly type: 'security-key';
  /** Cipher suite (RFC 8061 §5; RFC 8060 calls it the Key Algorithm). */
  readonly cipherSuite: number;
  /** R: the key is revoked (RFC 8060). lispers always sends 0. */
  readonly revoke: boolean;
  readonly keys: readonly Uint8Array[];
  /** The locator the keys belong to; absent when the body ends after the keys. */
  readonly address?: Address;
  /** Rsvd2 byte; present only when non-zero. */
  readonly rsvd2?: number;
  /** Rsvd3 byte (after Key Count); present only when non-zero. */
  readonly rsvd3?: number;
  /** The 7 reserved bits before R; present only when non-zero. */
  readonly rsvd4?: number;
}

/**
 * Type 7, NAT-Traversal (RFC 8060 §4.6; draft-ietf-lisp-nat-traversal §5.2): what a Map-Server
 * saw of an Info-Request's source, and the RTRs to use.
 */
export interface NatTraversalLcaf extends LcafHeaderExtras {
  readonly type: 'nat-traversal';
  readonly msPort: number;
  /** The translated source port of the Info-Request. */
  readonly etrPort: number;
  /** The translated source address of the Info-Request. */
  readonly globalEtrRloc: Address;
  readonly msRloc: Address;
  /** AFI 0 in the draft; lispers puts the requester's hostname (AFI 17) here. */
  readonly privateEtrRloc: Address;
  /** lispers writes one AFI 0 entry when it has no RTR. */
  readonly rtrRlocs: readonly Address[];
  readonly rsvd2?: number;
  /**
   * The Length field as carried, present only when it does not count the body: lispers writes 16
   * whatever follows and readers take the body to the end of the Info-Reply.
   */
  readonly declaredLength?: number;
}

/** Any other LCAF type, or a known one whose body does not parse: kept as bytes (RFC 8060 §3). */
export interface OpaqueLcaf extends LcafHeaderExtras {
  readonly type: 'opaque';
  readonly lcafType: number;
  readonly rsvd2: number;
  readonly body: Uint8Array;
}

/** Locator-record (RFC 9301 §5.4). */
export interface LocatorRecord {
  readonly priority: number;
  readonly weight: number;
  readonly mPriority: number;
  readonly mWeight: number;
  /** L: the locator is local to the sender. */
  readonly local: boolean;
  /** p: this locator is the one being RLOC-probed. */
  readonly probed: boolean;
  /** R: the sender has a route to the locator. */
  readonly reachable: boolean;
  /** The 13 unused flag bits; present only when non-zero. */
  readonly unusedFlags?: number;
  readonly address: Address;
}

/** ACT values (RFC 9301 §5.4); lispers uses 6 and 7 too. */
export const enum MapReplyAction {
  NoAction = 0,
  NativelyForward = 1,
  SendMapRequest = 2,
  DropNoReason = 3,
  DropPolicyDenied = 4,
  DropAuthFailure = 5,
}

/** EID-record (RFC 9301 §5.4), shared by Map-Reply, Map-Register, Map-Notify(-Ack). */
export interface EidRecord {
  /** Record TTL in minutes; 0xffffffff = receiver decides; high bit set = seconds (lispers Q11). */
  readonly ttl: number;
  readonly eidMaskLen: number;
  /** ACT, 3 bits. */
  readonly action: number;
  readonly authoritative: boolean;
  /** The 12 reserved bits after A; present only when non-zero. */
  readonly rsvd?: number;
  /** The 4 reserved bits before Map-Version; present only when non-zero. */
  readonly rsvd2?: number;
  readonly mapVersion: number;
  readonly eid: Address;
  readonly locators: readonly LocatorRecord[];
}

/** Map-Request EID-record (RFC 9301 §5.2). */
export interface RequestRecord {
  /** The reserved byte; bit 0x80 is lispers'/RFC 9437 N (subscribe). Present only when non-zero. */
  readonly rsvd?: number;
  readonly eidMaskLen: number;
  readonly eid: Address;
}

/** Fields every control message may carry for byte-exact round trips. */
interface ControlExtras {
  /** Bits of the first word that this codec does not name; present only when non-zero. */
  readonly reservedBits?: number;
  /** Bytes after the last parsed field (e.g. lispers' trailer on Map-Notify); present only when non-empty. */
  readonly trailing?: Uint8Array;
}

/** Type 1 (RFC 9301 §5.2). */
export interface MapRequest extends ControlExtras {
  readonly type: 'map-request';
  /** A: authoritative. */
  readonly authoritative: boolean;
  /** M: a Map-Reply record follows the EID-records. */
  readonly mapDataPresent: boolean;
  /** P: RLOC-probe. */
  readonly probe: boolean;
  /** S: SMR. */
  readonly smr: boolean;
  /** p: PITR. */
  readonly pitr: boolean;
  /** s: SMR-invoked. */
  readonly smrInvoked: boolean;
  /** L: local xTR (RFC 9301). */
  readonly localXtr?: boolean;
  /** D: don't reply (RFC 9301: with S, "do not send Map-Reply"). */
  readonly dontReply?: boolean;
  /** 8 opaque bytes as a big-endian integer (lispers packs them little-endian: just bytes). */
  readonly nonce: bigint;
  readonly sourceEid: Address;
  /** At least one (IRC + 1 entries). */
  readonly itrRlocs: readonly Address[];
  readonly records: readonly RequestRecord[];
  /** The sender's own mapping when M is set. */
  readonly mapReplyRecord?: EidRecord;
}

/** Type 2 (RFC 9301 §5.4). */
export interface MapReply extends ControlExtras {
  readonly type: 'map-reply';
  readonly probe: boolean;
  readonly echoNonceCapable: boolean;
  readonly security: boolean;
  readonly nonce: bigint;
  readonly records: readonly EidRecord[];
}

/** Type 3 (RFC 9301 §5.6). */
export interface MapRegister extends ControlExtras {
  readonly type: 'map-register';
  readonly proxyReply: boolean;
  readonly security: boolean;
  /** E (EID-notify); lispers uses this bit for "refresh". */
  readonly eidNotify?: boolean;
  /** T: time out after the record TTL. */
  readonly useTtl: boolean;
  /** a: merge registrations (RFC 8378). */
  readonly merge: boolean;
  /** R: reserved in RFC 9301 (lispers: mobile node). */
  readonly rBit?: boolean;
  /** M: want a Map-Notify. */
  readonly wantMapNotify: boolean;
  readonly nonce: bigint;
  readonly keyId: number;
  readonly algorithm: number;
  /** The authentication field as carried (its length is the Authentication Data Length). */
  readonly authData: Uint8Array;
  readonly records: readonly EidRecord[];
  /** I bit: xTR-ID (128 bits) and site-ID (64 bits) follow the records. */
  readonly xtrId?: bigint;
  readonly siteId?: bigint;
}

/** Type 4 and 5 (RFC 9301 §5.7): same layout as Map-Register, no flags defined. */
export interface MapNotify extends ControlExtras {
  readonly type: 'map-notify' | 'map-notify-ack';
  readonly nonce: bigint;
  readonly keyId: number;
  readonly algorithm: number;
  readonly authData: Uint8Array;
  readonly records: readonly EidRecord[];
}

/** Inner IPv4/IPv6 + UDP header of an ECM or a head-end-replicated control packet. */
export interface InnerUdpHeader {
  readonly version: 4 | 6;
  readonly source: string;
  readonly destination: string;
  /** IPv4 TTL or IPv6 hop limit. */
  readonly ttl: number;
  /** IPv4 TOS or IPv6 traffic class. */
  readonly tos: number;
  /** IPv4 identification (0 for IPv6). */
  readonly id: number;
  /** IPv4 flags + fragment offset halfword (0 for IPv6). */
  readonly fragment: number;
  /** IPv6 flow label (0 for IPv4). */
  readonly flowLabel: number;
  readonly sourcePort: number;
  readonly destinationPort: number;
  /** Checksums as carried; when absent the encoder computes them. */
  readonly ipChecksum?: number;
  readonly udpChecksum?: number;
}

/** Type 8 (RFC 9301 §5.8). */
export interface Ecm extends ControlExtras {
  readonly type: 'ecm';
  /** S: LISP-SEC authentication data follows (RFC 9303); we keep it and the rest as bytes. */
  readonly security: boolean;
  /** D: DDT originated. */
  readonly ddt: boolean;
  /** Present when S=0 and the inner packet parsed. */
  readonly inner?: InnerUdpHeader;
  readonly message?: ControlMessage;
  /** S=1 or an inner packet we could not parse: everything after the 4-byte ECM header. */
  readonly body?: Uint8Array;
}

/**
 * Type 7 with R=0 / R=1 (draft-ietf-lisp-nat-traversal §5.1, §5.2). The header is the
 * Map-Register's: nonce, key-id, algorithm, authentication data; then TTL and an EID-prefix.
 */
interface InfoMessageBase extends ControlExtras {
  readonly nonce: bigint;
  readonly keyId: number;
  readonly algorithm: number;
  /** lispers sends none (key-id 0, length 0). */
  readonly authData: Uint8Array;
  /** Minutes the RTR information stays valid (Info-Reply); lispers writes 0. */
  readonly ttl: number;
  /** The reserved byte before the EID mask-len; present only when non-zero. */
  readonly eidRsvd?: number;
  readonly eidMaskLen: number;
  /** lispers sends AFI 0 (no EID-prefix) and rejects anything else. */
  readonly eid: Address;
}

export interface InfoRequest extends InfoMessageBase {
  readonly type: 'info-request';
  /** What follows the EID-prefix: AFI 0 in the draft, the sender's hostname (AFI 17) from lispers. */
  readonly requester: Address;
}

export interface InfoReply extends InfoMessageBase {
  readonly type: 'info-reply';
  readonly nat: NatTraversalLcaf;
}

export type ControlMessage = MapRequest | MapReply | MapRegister | MapNotify | InfoRequest | InfoReply | Ecm;
export type ControlMessageType = ControlMessage['type'];

/** The 8-byte LISP data header (RFC 9300 §5.3). */
export interface DataHeader {
  /** N: `nonce` holds a nonce. */
  readonly noncepresent: boolean;
  /** L: locator-status-bits are valid. */
  readonly lsbEnabled: boolean;
  /** E: echo-nonce request. */
  readonly echoNonce: boolean;
  /** V: map-versions instead of a nonce. */
  readonly mapVersioning: boolean;
  /** I: instance-id in word 1. */
  readonly iidPresent: boolean;
  /** R reserved bit; present only when set. */
  readonly rBit?: boolean;
  /** KK: LISP-crypto key-id (RFC 8061); 0 = plaintext. */
  readonly keyId: number;
  /** Low 24 bits of word 0: nonce, or SrcMapVer(12)|DstMapVer(12) when V and not N. */
  readonly nonce: number;
  /** I=1: the 24-bit instance-id; I=0: absent. */
  readonly iid?: number;
  /** I=1: low 8 bits of word 1; I=0: all 32 bits of word 1. */
  readonly lsb: number;
}

/** A LISP data packet (UDP 4341 payload). */
export interface DataPacket {
  readonly type: 'data';
  readonly header: DataHeader;
  /** The inner IP packet. */
  readonly payload: Uint8Array;
}

export type LispMessage = ControlMessage | DataPacket;
export type LispMessageType = LispMessage['type'];

/** The control message interface whose `type` admits T (MapNotify covers two type names). */
export type ControlMessageOf<T extends ControlMessageType> =
  ControlMessage extends infer U ? (U extends { type: infer K } ? (T extends K ? U : never) : never) : never;
