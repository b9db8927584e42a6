import type { KeyEvent } from '../crypto';
import type { KeyStat } from './crypto';
// The contract between the node's main thread (daemon) and the data plane. The daemon owns the
// control worker; the data plane owns the TUN, the UDP 4341 socket and the FIB.
import type { Eid } from '../mapping/eid';
import type { EidSpaceChange, MapCacheEntry, MapCacheEvent } from '../mapping/entry';

export interface DataPlaneConfig {
  /** TUN device name. */
  readonly tun: string;
  readonly mtu: number;
  /** TUN/UDP offloads (TSO/USO, GSO/GRO); off = one packet per slot. */
  readonly offloads: boolean;
  /**
   * UDP GSO on send (default true; needs `offloads`). false: the TUN's super-packets are still
   * read whole, but split into single datagrams, one per message, for peers that read with raw
   * sockets and do no GRO.
   */
  readonly udpGso?: boolean;
  /** Own EIDs: put on the host (TUN) so applications can use them as source addresses. */
  readonly localEids: readonly Eid[];
  /** Instance-id the node serves (data header I bit when ≠ 0). */
  readonly instanceId: number;
  /** Own RLOCs at start (outer source addresses). */
  readonly rlocs: readonly string[];
  /** Extra EID prefixes routed into the TUN at start (overlay EID space). */
  readonly routes: readonly Eid[];
  /** Static map-cache entries (static mode: no control plane needed). */
  readonly staticMapCache: readonly { readonly eid: Eid; readonly rlocs: readonly string[] }[];
  /**
   * LISP-crypto (RFC 8061): `required` seals everything and sends nothing to an RLOC without keys
   * (held in the miss queue until its key arrives, at most 3 s; dropped and counted when the queue
   * is full or on timeout) nor accepts clear data; `preferred` seals where keys exist; `off` (the
   * default) neither seals nor opens. Keys come from applyKeyEvent().
   */
  readonly encryption?: 'required' | 'preferred' | 'off';
  /**
   * We are an RTR (`nat.rtr`, draft-ietf-lisp-nat-traversal, the RTR): clear data from a member for an
   * EID that is not ours is decapsulated, looked up and re-encapsulated (inner TTL minus one),
   * never decrypted.
   */
  readonly rtr?: boolean;
}

export interface DataPlaneHooks {
  /**
   * A batch of decapsulated packets with instance-id 0xFFFFFF (head-end replicated control), each
   * the whole UDP 4341 payload, with their outer sources. Return false when busy: the data plane
   * keeps them queued (bounded; a full queue drops and counts) until controlReady() or its tick.
   */
  onEncapsulatedControl(packets: readonly Uint8Array[], outerSources: readonly string[], outerPorts: readonly number[]): boolean;
  /** A packet from the TUN had no map-cache entry: ask the control plane (batched, rate-limited per EID). */
  onMiss(eid: Eid): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
}

export interface DataPlane {
  start(): Promise<void>;
  /** A map-cache change from the control plane; visible to forwarding within 1 ms. */
  applyMapCache(event: MapCacheEvent): void;
  /** The overlay's EID space changed (site cache): route these prefixes into the TUN, remove the rest we added. */
  setRoutedEids(eids: readonly Eid[]): void;
  /** The overlay's EID space changed by these EIDs (or, with `replace`, is exactly `added`). */
  changeRoutedEids(change: EidSpaceChange): void;
  /** Own RLOCs changed (roaming). */
  setRlocs(rlocs: readonly string[]): void;
  /**
   * Behind a NAT with RTRs (the control plane found out): every outer datagram leaves from the
   * data socket (UDP 4341), whose NAT binding the RTRs learnt, instead of per-flow source ports.
   */
  setBehindNat(behind: boolean): void;
  /** One datagram from the data socket (UDP 4341): the control plane's data-port Info-Requests. */
  sendFromDataPort(dst: string, port: number, bytes: Uint8Array): void;
  /** The control plane can take encapsulated control packets again: hand over what is queued. */
  controlReady(): void;
  /**
   * The group members' RLOCs (the control plane's member list, push mode): data from any other
   * outer source is dropped (counted as dropNotMember), except from the static map-cache's
   * RLOCs and our own. null (the default): accept any source.
   */
  setMemberRlocs(rlocs: readonly string[] | null): void;
  /**
   * LISP-crypto through RTRs (src/wire/relay-shim.ts): `rtrs`, the RTRs whose FROM relay shims we
   * accept (RLOCs registered at priority 254); `targets`, as an RTR, the data port of each member
   * behind NAT we relay for, by its translated address.
   */
  setRelayPeers(peers: RelayPeers): void;
  /**
   * A LISP-crypto key event from the control plane's exchange (src/crypto/key-event.ts): installs
   * or wipes a key in the addon's key table. Returns why it was refused, if it was. A no-op (undefined)
   * with encryption off.
   */
  applyKeyEvent(e: KeyEvent): string | undefined;
  /** Per peer RLOC and key-id: suite, send key, IV counter, packets sealed/opened, drops (empty with encryption off). */
  keyStats(): KeyStat[];
  /** Counters: packets/bytes encapsulated/decapsulated, drops by reason, FIB sizes. */
  counters(): Record<string, number>;
  /** The static map-cache (config), in the map-cache's shape: source 'static', expiresAt 0 (never). */
  staticEntries(): MapCacheEntry[];
  /** Per map-cache entry packet/byte counters, keyed by eidKey(). */
  entryCounters(): Record<string, { packets: number; bytes: number }>;
  /** Removes the TUN, routes and addresses it added. */
  stop(): Promise<void>;
}

/** See DataPlane.setRelayPeers. */
export interface RelayPeers {
  readonly rtrs: readonly string[];
  readonly targets: readonly { readonly address: string; readonly port: number }[];
}
