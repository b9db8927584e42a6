// The node's endpoints: the web UI, the JSON REST API under /api/ and Prometheus metrics. Each
// route asks the control worker (through its main-thread handle) and the data plane; the
// server (server.ts) turns what they throw into statuses.
import { isIP } from 'node:net';
import type { LigResult } from '../control/node';
import type { Query } from '../control/protocol';
import { locatorTexts } from '../control/views';
import { EidError, eidCovers, eidKey, parseEid, routableEid, type Eid } from '../mapping/eid';
import { actionName, formatAddress, type EidRecord } from '../wire';
import type { MapCacheEntry } from '../mapping/entry';
import { ApiError } from './errors';
import { renderMetrics } from './metrics';
import { RawResponse, type ApiRoutes } from './server';
import type { CountersAnswer, LookupAnswer, LookupSummary, MapCacheRow } from './types';
import { UI_HTML } from './ui';
import type { KeyStat } from '../dataplane/crypto';

/** What the routes need of the control plane (src/control/thread.ts's ControlThread). */
export interface ControlApi {
  query<T = unknown>(what: Query): Promise<T>;
  lig(eid: string, resolver: string | undefined, timeoutMs: number): Promise<LigResult>;
  clearMapCache(): Promise<void>;
  readonly restarts: number;
}

/** What the routes need of the data plane. */
export interface DataPlaneApi {
  counters(): Record<string, number>;
  entryCounters(): Record<string, { packets: number; bytes: number }>;
  /** The static map-cache (static mode): shown with the learned entries. */
  staticEntries(): MapCacheEntry[];
  /** LISP-crypto per peer RLOC and key-id (src/dataplane/crypto.ts); absent in doubles without a key table. */
  keyStats?(): KeyStat[];
}

export interface NodeApi {
  readonly name: string;
  /** Instance-id of EIDs given without one. */
  readonly instanceId: number;
  readonly control: ControlApi;
  readonly dataPlane?: DataPlaneApi;
  /** The API server's own counters (rejected requests). */
  apiCounters(): Record<string, number>;
}

/** Longest wait a lookup may ask for (`timeout=` in ms). */
export const MAX_LOOKUP_TIMEOUT_MS = 60_000;

export function nodeRoutes(node: NodeApi): ApiRoutes {
  const { control, dataPlane } = node;
  const page = (): RawResponse => new RawResponse('text/html; charset=utf-8', UI_HTML);
  const eidParam = (q: URLSearchParams): Eid => {
    const text = q.get('eid');
    if (!text) throw new ApiError(400, 'give the EID to look up: ?eid=…');
    try {
      return parseEid(text, node.instanceId);
    } catch (e) {
      if (e instanceof EidError) throw new ApiError(400, e.message);
      throw e;
    }
  };
  const timeoutParam = (q: URLSearchParams): number => {
    const text = q.get('timeout') ?? '2000';
    const ms = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
    if (!(ms >= 1 && ms <= MAX_LOOKUP_TIMEOUT_MS)) throw new ApiError(400, `timeout= takes milliseconds from 1 to ${MAX_LOOKUP_TIMEOUT_MS}, got '${text}'`);
    return ms;
  };
  return {
    get: {
      '/': page,
      '/ui': page,
      '/metrics': async () => {
        const [counters, site, mc, peers] = await Promise.all([
          control.query<Record<string, number>>('counters'), control.query<unknown[]>('site-cache'),
          control.query<MapCacheRow[]>('map-cache'), control.query<string[]>('peers'),
        ]);
        return new RawResponse('text/plain; version=0.0.4', renderMetrics({
          node: node.name, control: counters, dataplane: dataPlane?.counters() ?? {}, api: node.apiCounters(), siteCacheSize: site.length,
          mapCacheSize: mc.length, members: peers.length, restarts: control.restarts,
          rlocsDown: mc.reduce((n, e) => n + e.rlocs.filter((r) => !r.up).length, 0),
        }));
      },
      '/api/status': async () => ({ ...(await control.query('status') as object), restarts: control.restarts, dataplane: dataPlane !== undefined, pid: process.pid }),
      '/api/site-cache': () => control.query('site-cache'),
      '/api/map-cache': async (): Promise<MapCacheRow[]> => {
        const learned = await control.query<MapCacheEntry[]>('map-cache');
        const keys = new Set(learned.map((e) => e.key));
        const entries = [...learned, ...(dataPlane?.staticEntries() ?? []).filter((e) => !keys.has(e.key))];
        const counters = dataPlane?.entryCounters() ?? {};
        return entries.map((e) => ({ ...e, packets: counters[e.key]?.packets ?? 0, bytes: counters[e.key]?.bytes ?? 0 }));
      },
      '/api/database': () => control.query('database'),
      '/api/peers': () => control.query('peer-rows'),
      '/api/conflicts': () => control.query('conflicts'),
      // per peer RLOC and key-id: suite, send key, IV counter, packets sealed/opened, drops (RFC 8061)
      '/api/crypto': () => dataPlane?.keyStats?.() ?? [],
      '/api/counters': async (): Promise<CountersAnswer> => ({
        control: await control.query('counters'), dataplane: dataPlane?.counters() ?? {}, api: node.apiCounters(),
      }),
      '/api/lookup': async (q): Promise<LookupAnswer> => {
        const eid = eidParam(q);
        const timeoutMs = timeoutParam(q);
        // Without resolver=, the mapping system picks (push: our own Map-Resolver; pull: the EID's
        // Map-Server set from DNS, each address in turn when one does not answer).
        const resolver = q.get('resolver') ?? undefined;
        if (resolver !== undefined && !isIP(resolver)) throw new ApiError(400, `resolver= takes an IPv4 or IPv6 address, got '${resolver}'`);
        const started = process.hrtime.bigint();
        const r = await control.lig(eidKey(eid), resolver, timeoutMs);
        const summary = r.reply.records.map((rec) => lookupSummary(rec, eid));
        return { ...r, summary, totalMs: Number(process.hrtime.bigint() - started) / 1e6 };
      },
    },
    post: {
      '/api/map-cache/clear': async () => {
        await control.clearMapCache();
        return { ok: true };
      },
    },
  };
}

/** One record of a lookup's answer as text, and whether it answers the EID asked for. */
export function lookupSummary(rec: EidRecord, asked: Eid): LookupSummary {
  const replied = routableEid(rec);
  return {
    eid: formatAddress(rec.eid, rec.eid.kind === 'name' ? undefined : rec.eidMaskLen),
    rlocs: rec.locators.flatMap(locatorTexts), ttlMin: rec.ttl, action: rec.action, actionName: actionName(rec.action),
    authoritative: rec.authoritative,
    // RFC 9301 §5.4: a negative reply's prefix covers the EID requested; one that does not answers another EID.
    coversAsked: replied === undefined || eidCovers(replied, asked),
    asked: eidKey(asked),
  };
}
