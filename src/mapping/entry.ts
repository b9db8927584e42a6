// A mapping as the ITR forwards with it (RFC 9300 §6, RFC 9301 §6): the shared shape of map-cache
// entries that the control plane produces and the data plane's FIB consumes.
import type { Eid } from './eid';

export type MapCacheSource = 'local-mr' | 'map-reply' | 'static' | 'group';

export interface MapCacheRloc {
  readonly address: string;
  readonly priority: number;
  readonly weight: number;
  /** R bit from the mapping and RLOC-probe state combined. */
  readonly up: boolean;
  /**
   * Destination UDP port when not 4341: the translated port of a member behind a NAT, which only
   * its RTR uses (draft-ietf-lisp-nat-traversal, the RTR: the RTR re-encapsulates to the address and
   * port the member's own packets came from).
   */
  readonly port?: number;
}

/**
 * A change of the registered unicast EID space (what the data plane routes into the TUN): the
 * EIDs added and removed since the last change, or with `replace` the whole space in `added`
 * (a control worker's first publication, so a restarted worker's view wins).
 */
export interface EidSpaceChange {
  readonly replace: boolean;
  readonly added: readonly Eid[];
  readonly removed: readonly Eid[];
}

export interface MapCacheEntry {
  readonly eid: Eid;
  readonly key: string;
  readonly rlocs: readonly MapCacheRloc[];
  /** Negative entries: ACT (RFC 9301 §5.4); 0 for positive entries. */
  readonly action: number;
  readonly negative: boolean;
  readonly ttlMs: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly expiresAt: number;
  readonly source: MapCacheSource;
  /** Group entries: the replication list (RLE node RLOCs). */
  readonly members?: readonly string[];
}

export type MapCacheEvent = { op: 'set'; entry: MapCacheEntry } | { op: 'remove'; key: string; eid: Eid };
