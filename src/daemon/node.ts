// One running decent node: the control worker, the data plane (when configured) and the local
// API, wired together on the main thread.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderMetrics } from '../api/metrics';
import { ApiError, ApiServer, RawResponse } from '../api/server';
import { UI_HTML } from '../api/ui';
import type { LoadedConfig } from '../config/load';
import { EidError, eidKey, parseEid, type Eid } from '../mapping/eid';
import type { MapCacheEntry } from '../mapping/entry';
import { ControlThread } from '../control/thread';
import type { DataPlane, DataPlaneConfig, DataPlaneHooks } from '../dataplane/types';
import { IcmpReachability } from './icmp-reachability';
import type { Level, Logger } from './log';
import { locatorTexts } from '../control/views';
import { formatAddress } from '../wire';

export interface RunningNode {
  readonly control: ControlThread;
  readonly dataPlane?: DataPlane;
  stop(withdraw?: boolean): Promise<void>;
}

type DataPlaneFactory = (config: DataPlaneConfig, hooks: DataPlaneHooks) => DataPlane;

function dataPlaneFactory(): DataPlaneFactory {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('../dataplane') as { createDataPlane?: DataPlaneFactory };
  if (!mod.createDataPlane) throw new Error('this build has no data plane (src/dataplane/index.ts)');
  return mod.createDataPlane;
}

export async function startNode(cfg: LoadedConfig, log: Logger, logLevel: Level = cfg.raw.log.level): Promise<RunningNode> {
  const dp = cfg.raw.dataplane;
  const control = new ControlThread({
    config: cfg.control,
    rlocInterfaces: cfg.rlocInterfaces,
    bindDataPort: dp === undefined,
    rlocPollMs: cfg.raw.timers['rloc-poll'],
    // The worker filters before posting, so it gets the control subsystem's own level.
    logLevel: cfg.raw.log.subsystems.control ?? logLevel,
  });
  control.on('log', (level, msg, fields) => log(level, 'control', msg, fields));
  control.on('restart', (err) => log('error', 'control', 'control worker died; restarting it (forwarding continues)', { error: err.message }));

  let dataPlane: DataPlane | undefined;
  if (dp) {
    const create = dataPlaneFactory();
    dataPlane = create({
      tun: dp.tun, mtu: dp.mtu, offloads: dp.offloads, localEids: cfg.control.eids, instanceId: cfg.control.group.instanceId,
      // Unprefixed EIDs belong to the node's instance-id, like the ones in `eids`.
      rlocs: cfg.control.rlocs, routes: (dp.routes ?? []).map((e) => parseEid(e, cfg.control.group.instanceId)),
      staticMapCache: dp['static-map-cache'].map((s) => ({ eid: parseEid(s.eid, cfg.control.group.instanceId), rlocs: s.rlocs })),
    }, {
      onEncapsulatedControl: (bytes, src) => control.encapsulated(bytes, src),
      onMiss: (eid) => control.resolve(eidKey(eid)),
      log: (level, msg, fields) => log(level, 'dataplane', msg, fields),
    });
    control.on('map-cache', (e) => dataPlane?.applyMapCache(e));
    control.on('eid-space', (eids) => dataPlane?.setRoutedEids(eids));
    control.on('rlocs', (r) => dataPlane?.setRlocs(r));
  }
  let icmp: IcmpReachability | undefined;
  const icmpMs = cfg.raw.timers['icmp-interval'];
  if (icmpMs > 0) {
    icmp = new IcmpReachability({
      intervalMs: icmpMs,
      onAlive: (rloc) => control.rlocAlive(rloc),
      onError: (e) => log('debug', 'reachability', e.message),
    });
    icmp.start();
    const targets = new Map<string, readonly string[]>();
    control.on('map-cache', (e) => {
      if (e.op === 'remove') targets.delete(e.key);
      else targets.set(e.entry.key, e.entry.rlocs.map((r) => r.address));
      icmp?.setTargets([...targets.values()].flat());
    });
  }
  // The TUN and the control worker come up side by side: each takes a few hundred ms.
  const [controlUp, dataUp] = await Promise.allSettled([control.start(), dataPlane?.start()]);
  if (controlUp.status === 'rejected' || dataUp.status === 'rejected') {
    // Whichever half came up must not outlive the failure (nor keep the process alive).
    icmp?.stop();
    if (controlUp.status === 'fulfilled') await control.stop(true);
    if (dataUp.status === 'fulfilled') await dataPlane?.stop();
    throw (controlUp.status === 'rejected' ? controlUp.reason : (dataUp as PromiseRejectedResult).reason) as Error;
  }
  const rlocs = controlUp.value;
  log('info', 'node', 'started', { node: cfg.control.name, rlocs, group: cfg.control.group.address, dataplane: dataPlane !== undefined });

  const eidParam = (q: URLSearchParams): Eid => {
    const text = q.get('eid');
    if (!text) throw new ApiError(400, 'give the EID to look up: ?eid=…');
    try {
      return parseEid(text, cfg.control.group.instanceId);
    } catch (e) {
      if (e instanceof EidError) throw new ApiError(400, e.message);
      throw e;
    }
  };
  const api = new ApiServer({
    get: {
      '/': () => new RawResponse('text/html; charset=utf-8', UI_HTML),
      '/ui': () => new RawResponse('text/html; charset=utf-8', UI_HTML),
      '/metrics': async () => {
        const [counters, site, mc, peers] = await Promise.all([
          control.query<Record<string, number>>('counters'), control.query<unknown[]>('site-cache'),
          control.query<MapCacheEntry[]>('map-cache'), control.query<string[]>('peers'),
        ]);
        return new RawResponse('text/plain; version=0.0.4', renderMetrics({
          node: cfg.control.name, control: counters, dataplane: dataPlane?.counters() ?? {}, siteCacheSize: site.length,
          mapCacheSize: mc.length, members: peers.length, restarts: control.restarts,
          rlocsDown: mc.reduce((n, e) => n + e.rlocs.filter((r) => !r.up).length, 0),
        }));
      },
      '/api/status': async () => ({ ...(await control.query('status') as object), restarts: control.restarts, dataplane: dataPlane !== undefined, pid: process.pid }),
      '/api/site-cache': () => control.query('site-cache'),
      '/api/map-cache': async () => {
        const entries = await control.query<MapCacheEntry[]>('map-cache');
        const counters = dataPlane?.entryCounters() ?? {};
        return entries.map((e) => ({ ...e, packets: counters[e.key]?.packets ?? 0, bytes: counters[e.key]?.bytes ?? 0 }));
      },
      '/api/database': () => control.query('database'),
      '/api/peers': () => control.query('peers'),
      '/api/counters': async () => ({ control: await control.query('counters'), dataplane: dataPlane?.counters() ?? {} }),
      '/api/lookup': async (q) => {
        const eid = eidParam(q);
        const status = await control.query<{ rlocs: string[] }>('status');
        const resolver = q.get('resolver') ?? status.rlocs[0];
        if (!resolver) throw new ApiError(409, 'this node has no RLOC to ask from');
        const started = process.hrtime.bigint();
        const r = await control.lig(eidKey(eid), resolver, Number(q.get('timeout') ?? 2000));
        const summary = r.reply.records.map((rec) => ({
          eid: formatAddress(rec.eid, rec.eid.kind === 'name' ? undefined : rec.eidMaskLen),
          rlocs: rec.locators.flatMap(locatorTexts), ttlMin: rec.ttl, action: rec.action, authoritative: rec.authoritative,
        }));
        return { ...r, summary, resolver, totalMs: Number(process.hrtime.bigint() - started) / 1e6 };
      },
    },
    post: {
      '/api/map-cache/clear': async () => {
        await control.clearMapCache();
        return { ok: true };
      },
    },
  }, { socket: cfg.apiSocket, http: cfg.raw.api.http, token: readToken(cfg.raw.api['token-file'], cfg.file) });
  await api.start();

  let stopped = false;
  return {
    control,
    dataPlane,
    async stop(withdraw = true) {
      if (stopped) return;
      stopped = true;
      icmp?.stop();
      await control.stop(withdraw);
      await dataPlane?.stop();
      await api.stop();
      log('info', 'node', 'stopped', { withdraw });
    },
  };
}

function readToken(file: string | undefined, configFile: string): string | undefined {
  if (!file) return undefined;
  const p = path.resolve(path.dirname(configFile), file);
  const token = fs.readFileSync(p, 'utf8').trim();
  if (!token) throw new Error(`api.token-file ${p} is empty`);
  return token;
}
