// Messages between the main thread (data plane, API) and the control worker. Plain data only:
// structured clone carries them, BigInt included.
import type { ControlConfig } from './config';
import type { MapCacheEvent, MapCacheEntry } from './map-cache';
import type { EidSpaceChange } from '../mapping/entry';
import type { SiteEntry } from './site-cache';
import type { WireError } from './errors';
import type { KeyEvent } from '../crypto';

export interface WorkerOptions {
  readonly config: ControlConfig;
  /** Interfaces whose addresses are our RLOCs; watched for roaming. Empty: config.rlocs are fixed. */
  readonly rlocInterfaces: readonly string[];
  /** Bind UDP 4341 in the worker too (no data plane in this process), for head-end replicated control. */
  readonly bindDataPort: boolean;
  /** How often interface addresses are checked for roaming. */
  readonly rlocPollMs: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export type Query = 'site-cache' | 'map-cache' | 'database' | 'peers' | 'peer-rows' | 'counters' | 'status' | 'conflicts';

/** A registration our Map-Server refused: an EID owned by another member, or a limit. */
export interface ConflictRow {
  readonly at: number;
  readonly from: string;
  readonly xtrId: string;
  readonly message: string;
}

export type ToWorker =
  /** A batch of head-end replicated packets (instance-id 0xFFFFFF) from the data plane; answered with 'encapsulated-done'. */
  | { readonly t: 'encapsulated'; readonly packets: readonly Uint8Array[]; readonly sources: readonly string[]; readonly ports: readonly number[] }
  | { readonly t: 'resolve'; readonly eid: string }
  | { readonly t: 'rloc-alive'; readonly rloc: string }
  /** Packets sealed / opened per peer RLOC and key-id (the data plane's key table, batched): the packet-count rekey, idle decap keys. */
  | { readonly t: 'keys-used'; readonly used: readonly KeyUsage[] }
  | { readonly t: 'reconfigure'; readonly config: ControlConfig }
  | { readonly t: 'query'; readonly id: number; readonly what: Query }
  | { readonly t: 'lig'; readonly id: number; readonly eid: string; readonly resolver: string | undefined; readonly timeoutMs: number }
  | { readonly t: 'clear-map-cache'; readonly id: number }
  | { readonly t: 'stop'; readonly id: number; readonly withdraw: boolean }
  /** Tests of the restart path: the worker throws an uncaught exception. */
  | { readonly t: 'crash-for-test' };

/** Packets sealed to (`encap`) or opened from (`decap`) `peerRloc` under key-id `keyId` since that key was installed. */
export interface KeyUsage {
  readonly direction: 'encap' | 'decap';
  readonly peerRloc: string;
  readonly keyId: number;
  readonly packets: number;
}

/** LISP-crypto through RTRs (the data plane's setRelayPeers): relay shims accepted from `rtrs`; as an RTR, members' data ports. */
export interface RelayPeers {
  readonly rtrs: readonly string[];
  readonly targets: readonly { readonly address: string; readonly port: number }[];
}

export type FromWorker =
  | { readonly t: 'ready'; readonly rlocs: readonly string[] }
  | { readonly t: 'map-cache'; readonly event: MapCacheEvent }
  | { readonly t: 'rlocs'; readonly rlocs: readonly string[] }
  | { readonly t: 'eid-space'; readonly change: EidSpaceChange }
  /** The group members' RLOCs (push mode): the data plane accepts data only from these (null: from anyone). */
  | { readonly t: 'member-rlocs'; readonly rlocs: readonly string[] | null }
  /** A LISP-crypto key installed or removed (keys.ts): the data plane's key table follows. Carries key material: never logged. */
  | { readonly t: 'crypto-keys'; readonly event: KeyEvent }
  | { readonly t: 'reply'; readonly id: number; readonly ok: true; readonly data: unknown }
  | { readonly t: 'reply'; readonly id: number; readonly ok: false; readonly error: WireError }
  /** The worker cannot run (e.g. UDP 4342 in use) and exits right after this. */
  | { readonly t: 'fatal'; readonly error: WireError }
  | { readonly t: 'encapsulated-done'; readonly packets: number }
  /** A datagram to send from the data plane's data socket (UDP 4341): data-port Info-Requests (nat.ts). */
  | { readonly t: 'send-data'; readonly dst: string; readonly port: number; readonly bytes: Uint8Array }
  /** Behind a NAT with RTRs, or no longer: the data plane sends all data from its data socket then. */
  | { readonly t: 'nat'; readonly behindNat: boolean }
  /** LISP-crypto through RTRs: the RTRs whose relay shims we accept, and as an RTR the members' data ports (DataPlane.setRelayPeers). */
  | { readonly t: 'relay-peers'; readonly peers: RelayPeers }
  | { readonly t: 'log'; readonly level: WorkerOptions['logLevel']; readonly msg: string; readonly fields?: Record<string, unknown> };

/** Site-cache rows as the API shows them. */
export interface SiteCacheRow {
  readonly eid: string;
  readonly rlocs: readonly string[];
  readonly firstRegistered: number;
  readonly lastRegistered: number;
  readonly lastRegisterer: string;
  readonly registrations: readonly {
    readonly xtrId?: string; readonly siteId?: string; readonly registerer: string; readonly via: string;
    readonly expiresAt: number; readonly flags: string; readonly authenticated: boolean;
  }[];
}

export type { MapCacheEntry, SiteEntry };

/**
 * A group member as `decent show peers` and `GET /api/peers` show it. State: `registered` (its
 * group registration is live here), `registered-unauthenticated` (accepted by policy without a
 * key, lispers' group joins), `notified` (named by a Map-Notify, not yet registered to us),
 * `seed-not-registered` (a configured seed we hold nothing from). Reachability: its RLOCs' state
 * in the map-cache (RLOC-probing, ICMP), `unknown` while no map-cache entry uses them.
 */
export interface PeerRow {
  readonly name: string | null;
  readonly rlocs: readonly string[];
  readonly eids: readonly string[];
  readonly lastRegistered: number | null;
  readonly expiresAt: number | null;
  readonly state: 'registered' | 'registered-unauthenticated' | 'notified' | 'seed-not-registered';
  readonly reachability: 'up' | 'down' | 'unknown';
  /**
   * How our data reaches it (README "Behind NAT"): `direct`; `via RTR X (it is behind NAT)`;
   * `via RTR X (we are behind NAT)`; `direct to its NAT A:P (we are its RTR)`.
   */
  readonly path: string;
  readonly xtrId?: string;
}
