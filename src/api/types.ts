// The shapes of the API's JSON answers: what the CLI and scripts read. The CLI talks to the node
// only through these (and src/api/client.ts), never through control or data-plane modules.
import type { MapCacheEntry } from '../mapping/entry';
import type { LigResult } from '../control/node';
import type { ConflictRow, PeerRow, SiteCacheRow } from '../control/protocol';

export type { ConflictRow, PeerRow, SiteCacheRow };

/** `GET /api/map-cache`: the ITR's entries with the data plane's traffic counters. */
export type MapCacheRow = MapCacheEntry & { readonly packets: number; readonly bytes: number };

/** `GET /api/database`: own EIDs and their RLOCs. */
export interface DatabaseRow {
  readonly eid: string;
  readonly rlocs: readonly string[];
}

/** `GET /api/counters` (`decent show stats`). */
export interface CountersAnswer {
  readonly control: Readonly<Record<string, number>>;
  readonly dataplane: Readonly<Record<string, number>>;
  readonly api: Readonly<Record<string, number>>;
}

/** One record of a lookup's Map-Reply, summarised as text. */
export interface LookupSummary {
  readonly eid: string;
  readonly rlocs: readonly string[];
  readonly ttlMin: number;
  readonly action: number;
  /** `natively-forward` etc. (RFC 9301 §5.4). */
  readonly actionName: string;
  /** Whether the record's EID-prefix covers the EID asked for (`asked`, key form). */
  readonly coversAsked: boolean;
  readonly asked: string;
  readonly authoritative: boolean;
}

/** `GET /api/lookup?eid=…&resolver=…&timeout=…` (`decent lig`). */
export type LookupAnswer = LigResult & {
  readonly summary: readonly LookupSummary[];
  readonly resolver: string;
  readonly totalMs: number;
};
