// How registrations reach Map-Servers and how the ITR resolves, per LISP-Decent mode (RFC 9962):
// push (§4: every member is a Map-Server of the whole group) or pull (§5: a hash of the EID picks
// a Map-Server set named in the DNS). The roles call this interface and never branch on the mode.
import type { Eid } from '../../mapping/eid';
import type { MapCacheEntry } from '../../mapping/entry';
import type { MapReply } from '../../wire';
import type { Via } from '../context';

export interface MappingSystem {
  readonly mode: 'push' | 'pull';
  start(): void;
  stop(): void;
  /**
   * Sends our registrations; `ttlMs` 0 withdraws them. `withGroup` adds our membership (push);
   * `paced`: a periodic refresh, which may be spread over part of the period (push).
   */
  register(ttlMs: number, eids: readonly Eid[], reason: string, withGroup?: boolean, paced?: boolean): void;
  /** What the ITR forwards with for `eid` now (pull mode may answer later through the map-cache). */
  resolve(eid: Eid): MapCacheEntry | undefined;
  /** A verified Map-Notify acknowledging one of our M=1 registers; true if it was one. */
  registerAcked(nonce: bigint, src: string): boolean;
  /** A Map-Reply to a resolution we asked for; true if it was one. */
  replyArrived(m: MapReply): boolean;
  /** Whether `ip` is a known member (or seed): unauthenticated group notifies are taken only from them. */
  isMember(ip: string): boolean;
  /** Members named by the group entry of an authenticated Map-Notify from `src`. */
  membersNotified(ips: readonly string[], src: string): void;
  /**
   * An accepted group registration from another member, directly (`udp`: it bootstraps through
   * us) or replicated; `newRegistrant` when we did not hold its xTR-ID (new, or restarted).
   */
  memberRegistered(rloc: string, via: Via, newRegistrant: boolean): void;
  /** Once per registration period, after our round. */
  periodic(): void;
  /** The group entry in our site cache changed. */
  groupChanged(): void;
  /** Drops expired map-cache entries (each expiry scan). */
  expireMapCache(now: number): void;
  /**
   * The Map-Resolvers an operator's lookup (`decent lig` without --to) asks for `eid`, in order;
   * empty: our own RLOC (push mode: every member's Map-Server holds the whole group).
   */
  resolversFor(eid: Eid): Promise<string[]>;
  /** The members we replicate to (operator view). */
  peers(): string[];
  /** What is wrong, in words an operator acts on (empty when nothing is). */
  diagnostics(): string[];
}
