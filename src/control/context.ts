// What every control-plane role shares: the environment (I/O, clock, timers), the configuration,
// our RLOCs, the two tables and the counters. ControlNode (node.ts) implements it and owns the
// life cycle; each role (etr.ts, map-server.ts, map-resolver.ts, itr.ts, probing.ts, and the
// mapping systems in decent/) receives it and keeps only its own state. No role does I/O itself,
// so the same code runs in the control worker and, with a simulated network and clock, in tests.
import type { RelayPeers } from './protocol';
import type { ControlConfig } from './config';
import type { CounterName } from './counters';
import type { MapCache } from './map-cache';
import type { SiteCache, Registration } from './site-cache';
import type { Eid } from '../mapping/eid';
import type { EidSpaceChange, MapCacheEvent } from '../mapping/entry';
import type { MapReply } from '../wire';
import type { KeyEvent } from './keys';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ControlEnv {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** A UDP datagram from our control port (4342) to dst:port. */
  sendControl(dst: string, port: number, bytes: Buffer): void;
  /** A LISP data packet to dst:4341 with instance-id 0xFFFFFF around the IP packet `inner`. */
  sendEncapsulated(dst: string, inner: Buffer): void;
  /** Resolves a DNS name to addresses (pull mode, RFC 9962 §5). */
  resolveName?(name: string): Promise<string[]>;
  /** Underlay multicast to G:4342, not looped back to us. */
  sendMulticast?(group: string, bytes: Buffer): void;
  mapCacheChanged(event: MapCacheEvent): void;
  /** The registered unicast EID space (site cache, less our own EIDs) changed: what to route into the TUN. */
  eidSpaceChanged?(change: EidSpaceChange): void;
  /**
   * Push mode: the RLOCs of the group's members (and of their registrations) changed; the data
   * plane accepts LISP data only from these (issue 14: until data-plane encryption, a host without
   * the group key must not inject by sending to UDP 4341). Never called in pull mode: any source.
   */
  memberRlocsChanged?(rlocs: readonly string[]): void;
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  /** LISP-crypto keys to install in or remove from the data plane's key table (keys.ts). */
  cryptoKeysChanged?(event: KeyEvent): void;
  /**
   * A UDP datagram from our data port (4341), the socket our data leaves from behind a NAT:
   * data-port Info-Requests to our RTRs (nat.ts), whose NAT binding is the one our data uses.
   */
  sendFromDataPort?(dst: string, port: number, bytes: Buffer): void;
  /** We found ourselves behind a NAT with RTRs, or no longer: the data plane sends from one port then. */
  natChanged?(behindNat: boolean): void;
  /** The RTRs whose relay shims the data plane accepts, and as an RTR the members' data ports (rtr.ts relayPeers). */
  relayPeersChanged?(peers: RelayPeers): void;
}

export type Via = Registration['via'];

export interface LigResult {
  readonly reply: MapReply;
  readonly rttMs: number;
  readonly from: string;
  /** The Map-Resolver that was asked (the last one, when the mapping system picked several in turn). */
  readonly resolver: string;
  /** Map-Resolvers asked before it that gave no answer in time. */
  readonly unanswered: readonly string[];
}

export interface NodeContext {
  readonly env: ControlEnv;
  readonly config: ControlConfig;
  readonly rlocs: readonly string[];
  /** The RLOCs the group knows us by: ours, or behind a NAT the translated one (nat.ts). */
  readonly registeredRlocs: readonly string[];
  readonly running: boolean;
  readonly siteCache: SiteCache;
  readonly mapCache: MapCache;
  /** The group entry (0.0.0.0/0, G) (RFC 9962 §2) and its site-cache key. */
  readonly groupEid: Eid;
  readonly groupKey: string;
  /** When this node started (probing counts missed answers from then). */
  readonly startedAt: number;
  readonly counters: ReadonlyMap<CounterName, number>;
  count(name: CounterName, n?: number): void;
  /** A control message to our own roles, as if received: members include themselves (RFC 9962 §4). */
  deliverLocally(bytes: Uint8Array): void;
  /** The site cache changed: map-cache entries, routes and the member list follow. */
  siteCacheChanged(): void;
  /** The group entry's RLE changed. */
  groupChanged(): void;
  /**
   * A member's group registration was accepted (not our own): directly (`udp`) or replicated;
   * `newRegistrant` when we did not hold its xTR-ID (a new member, or one restarted).
   */
  memberRegistered(rloc: string, via: Via, newRegistrant: boolean): void;
  /** Whether `ip` is an RLOC registered in our site cache (it has proven reachability, RFC 9301 §9). */
  isRegisteredRloc(ip: string): boolean;
  /** Proof that an RLOC is reachable (an authenticated registration from it). */
  rlocReachable(rloc: string): void;
}
