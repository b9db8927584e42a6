// The control plane's runtime configuration (already validated; the YAML loader builds it).
import type { PullConfig } from './decent/pull-hash';
import type { NatConfig } from './nat';
import type { CryptoConfig } from './keys';
import type { Eid } from '../mapping/eid';

export interface GroupConfig {
  /** The mapping-system group G (RFC 9962 §4): an IPv4 or IPv6 multicast address. */
  readonly address: string;
  /** Head-end replication over the overlay, or underlay IP multicast (RFC 9962 §4.2). */
  readonly replication: 'her' | 'multicast';
  /** Member RLOCs to bootstrap from (RFC 9962 §4.4): registrations also go to them unicast. */
  readonly seeds: readonly string[];
  /** Instance-id of the group entry (0.0.0.0/0, G). */
  readonly instanceId: number;
}

export interface AuthConfig {
  readonly key: string;
  readonly keyId: number;
  /** 1 HMAC-SHA-1, 2 HMAC-SHA-256 (RFC 9301 §12.5). */
  readonly algorithm: 1 | 2;
}

/**
 * Bounds on what members may put in our Map-Server (every input from the network is bounded and
 * each refusal counted): a keyed member must not be able to exhaust memory or the data plane.
 */
export interface LimitsConfig {
  /** EID-records one xTR-ID may hold in the site cache. */
  readonly eidsPerMember: number;
  /** Locators in one registration, and in an EID's merged RLOC-set (the wire allows 255). */
  readonly rlocsPerEid: number;
  /** xTR-IDs in the group entry (members). */
  readonly members: number;
  /** Site-cache entries in all. */
  readonly siteCache: number;
}

export const DEFAULT_LIMITS: LimitsConfig = { eidsPerMember: 1024, rlocsPerEid: 32, members: 4096, siteCache: 100_000 };

export interface PolicyConfig {
  /** EID prefixes a key may register (with accept-more-specifics); empty = anything. */
  readonly allowed: readonly Eid[];
  /** Accept lispers' unauthenticated (alg 0) group joins and RLE Map-Notifys (lispers.net sends them unsigned). */
  readonly acceptUnauthenticatedGroupJoins: boolean;
  /**
   * Site-IDs whose xTRs may register the same EID (a multihomed site); any other EID stays with
   * the xTR-ID that holds it while its registration lives.
   */
  readonly multihomedSites?: readonly bigint[];
}

export interface TimerConfig {
  /** Map-Register period (RFC 9301 §8.2: 60 s). */
  readonly registerIntervalMs: number;
  /** Registration lifetime sent as Record TTL with T=1 (RFC 9301: 3 min). */
  readonly registrationTtlMs: number;
  /** How often the site cache is scanned for expired registrations. */
  readonly expiryScanMs: number;
  /** RLOC-probe period (0 = off). */
  readonly probeIntervalMs: number;
  /** Record TTL of our proxy Map-Replies, minutes. */
  readonly mapReplyTtlMin: number;
  /** Unsolicited Map-Notify retransmission interval and count (RFC 9301 §5.7; lispers 2 s × 3). */
  readonly notifyRetransmitMs: number;
  readonly notifyRetries: number;
  /** How old a Map-Register's timestamp nonce may be (replay.ts); 0 = only monotonic per xTR-ID. */
  readonly replayWindowMs?: number;
}

/** Members' clocks must agree within this (NTP); a replayed register is refused after it. */
export const DEFAULT_REPLAY_WINDOW_MS = 10 * 60_000;

export interface ControlConfig {
  /** Node name: lispers' rloc-name, shown to operators. */
  readonly name: string;
  /** Own EIDs (the database). */
  readonly eids: readonly Eid[];
  /** Own RLOCs at start; roaming updates them at run time. */
  readonly rlocs: readonly string[];
  /** Push (a group, RFC 9962 §4) or pull (hashed DNS names, §5). */
  readonly mode?: 'push' | 'pull';
  /** Pull mode's settings; `group` is unused then. */
  readonly pull?: PullConfig;
  readonly group: GroupConfig;
  readonly auth: AuthConfig;
  readonly policy: PolicyConfig;
  readonly timers: TimerConfig;
  /** Defaults: DEFAULT_LIMITS. */
  readonly limits?: LimitsConfig;
  readonly xtrId: bigint;
  /** `xtr-id: auto`: a restarted control worker takes a fresh xTR-ID (thread.ts). */
  readonly xtrIdAuto?: boolean;
  readonly siteId: bigint;
  /** Produce lispers.net's wire forms (padded Multicast-Info, named RLEs, AFI-List RLOCs). */
  readonly lispers: boolean;
  /** NAT detection and keepalive, RTR offer (nat.ts); defaults: DEFAULT_NAT. */
  readonly nat?: NatConfig;
  /** LISP-crypto (RFC 8061) key exchange; absent = off. */
  readonly crypto?: CryptoConfig;
}

export const DEFAULT_TIMERS: TimerConfig = {
  registerIntervalMs: 60_000,
  registrationTtlMs: 180_000,
  expiryScanMs: 1_000,
  probeIntervalMs: 10_000,
  mapReplyTtlMin: 15,
  notifyRetransmitMs: 2_000,
  notifyRetries: 3,
};
