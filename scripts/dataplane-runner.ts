// Runs one data plane in the current network namespace for tests and benchmarks:
//
//   ip netns exec NS node dist/scripts/dataplane-runner.js '<json RunnerSpec>'
//
// It prints JSON lines: {"ready":true} once started, {"event":"miss","eid":...} and
// {"event":"control","src":...,"hex":...} as hooks fire, and one {"id":n,...} reply per
// command read from stdin ({"id":n,"cmd":"counters"|"set"|"remove"|"routed"|"stop", ...}).
// It stands in for the control plane: with `resolvable`, an onMiss for an EID covered by one of
// those entries installs it after `missDelayMs` (a simulated Map-Reply). SIGTERM stops it cleanly.
import { createInterface } from 'node:readline';
import { eidCovers, eidKey, parseEid, type Eid } from '../src/mapping/eid';
import type { MapCacheEntry, MapCacheRloc } from '../src/mapping/entry';
import { createDataPlane } from '../src/dataplane';
import type { KeyEvent } from '../src/crypto';

export interface RunnerRloc { address: string; priority?: number; weight?: number; up?: boolean }
export interface RunnerEntry { eid: string; rlocs: RunnerRloc[] }
export interface RunnerSpec {
  tun: string;
  mtu: number;
  offloads: boolean;
  /** UDP GSO on send (default true). */
  udpGso?: boolean;
  instanceId: number;
  localEids: string[];
  rlocs: string[];
  routes: string[];
  staticMapCache: { eid: string; rlocs: string[] }[];
  /** Map-cache entries installed via applyMapCache at start (priorities/weights/up as given). */
  mapCache?: RunnerEntry[];
  resolvable?: RunnerEntry[];
  missDelayMs?: number;
  verbose?: boolean;
  encryption?: 'required' | 'preferred' | 'off';
}

interface Command {
  id: number; cmd: string; eid?: string; rlocs?: RunnerRloc[]; eids?: string[];
  /** cmd "key": a KeyEvent with hex keys */
  key?: Omit<KeyEvent, 'encryptKey' | 'icvKey'> & { encryptKey: string; icvKey: string };
}

function entryOf(e: RunnerEntry, iid: number): MapCacheEntry {
  const eid = parseEid(e.eid, iid);
  const now = Date.now();
  const rlocs: MapCacheRloc[] = e.rlocs.map((r) => ({ address: r.address, priority: r.priority ?? 1, weight: r.weight ?? 1, up: r.up ?? true }));
  return {
    eid, key: eidKey(eid), rlocs, action: 0, negative: false, ttlMs: 86_400_000, createdAt: now, updatedAt: now,
    expiresAt: now + 86_400_000, source: 'map-reply',
  };
}

function print(o: unknown): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as RunnerSpec;
  const iid = spec.instanceId;
  const eids = (list: string[]): Eid[] => list.map((t) => parseEid(t, iid));
  const resolvable = (spec.resolvable ?? []).map((r) => ({ r, eid: parseEid(r.eid, iid) }));
  const dp = createDataPlane({
    tun: spec.tun, mtu: spec.mtu, offloads: spec.offloads, udpGso: spec.udpGso, instanceId: iid, localEids: eids(spec.localEids),
    rlocs: spec.rlocs, routes: eids(spec.routes),
    staticMapCache: spec.staticMapCache.map((s) => ({ eid: parseEid(s.eid, iid), rlocs: s.rlocs })),
    encryption: spec.encryption,
  }, {
    onEncapsulatedControl: (packets, sources) => {
      packets.forEach((bytes, i) => print({ event: 'control', src: sources[i], hex: Buffer.from(bytes).toString('hex') }));
      return true;
    },
    onMiss: (eid) => {
      print({ event: 'miss', eid: eidKey(eid) });
      const hit = resolvable.find((x) => eidCovers(x.eid, eid));
      if (hit) setTimeout(() => dp.applyMapCache({ op: 'set', entry: entryOf(hit.r, iid) }), spec.missDelayMs ?? 50);
    },
    log: (level, msg, fields) => {
      if (spec.verbose || level === 'warn' || level === 'error') process.stderr.write(`${level} ${msg} ${JSON.stringify(fields ?? {})}\n`);
    },
  });
  await dp.start();
  for (const e of spec.mapCache ?? []) dp.applyMapCache({ op: 'set', entry: entryOf(e, iid) });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await dp.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let c: Command;
    try {
      c = JSON.parse(line) as Command;
    } catch {
      return;
    }
    try {
      switch (c.cmd) {
        case 'counters': print({ id: c.id, counters: dp.counters(), entries: dp.entryCounters(), keys: dp.keyStats() }); break;
        case 'set': dp.applyMapCache({ op: 'set', entry: entryOf({ eid: c.eid ?? '', rlocs: c.rlocs ?? [] }, iid) }); print({ id: c.id, ok: true }); break;
        case 'remove': {
          const eid = parseEid(c.eid ?? '', iid);
          dp.applyMapCache({ op: 'remove', key: eidKey(eid), eid });
          print({ id: c.id, ok: true });
          break;
        }
        case 'routed': dp.setRoutedEids(eids(c.eids ?? [])); print({ id: c.id, ok: true }); break;
        case 'key': {
          const k = c.key!;
          const error = dp.applyKeyEvent({ ...k, encryptKey: Buffer.from(k.encryptKey, 'hex'), icvKey: Buffer.from(k.icvKey, 'hex') });
          print({ id: c.id, ok: error === undefined, error });
          break;
        }
        case 'stop': print({ id: c.id, ok: true }); void stop(); break;
        default: print({ id: c.id, error: `unknown command ${c.cmd}` });
      }
    } catch (e) {
      print({ id: c.id, error: (e as Error).message });
    }
  });
  rl.on('close', () => void stop());
  print({ ready: true });
}

main().catch((e: unknown) => {
  process.stderr.write(`dataplane-runner: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
