// "LISP-Decent in Action": three nodes in a head-end-replicated push group on a bridge that
// does not forward multicast; convergence, pings through the overlay, and a roaming node.
import { stopProcesses } from './processes';
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../api/client';
import type { SiteCacheRow } from '../control/protocol';
import { createTestbed, type Testbed } from './bridge';

export interface DemoOptions {
  /** Run each node's data plane (TUN) so EIDs can be pinged; off = control plane only. */
  readonly dataplane: boolean;
  readonly progress: (line: string) => void;
  /** Upper bounds for each phase, ms. */
  readonly convergeTimeoutMs?: number;
  readonly roamTimeoutMs?: number;
  /** Write a pcap of the bridge (the whole underlay) to this file. */
  readonly captureFile?: string;
  /** The nodes' `dataplane.encryption` (default: the config default, `required`). */
  readonly encryption?: 'required' | 'preferred' | 'off';
}

export interface DemoResult {
  ok: boolean;
  converged_ms: number | null;
  site_cache: Record<string, { eid: string; rlocs: string[] }[]>;
  map_cache: Record<string, { eid: string; rlocs: string[] }[]>;
  pings: Record<string, { ok: boolean; rtt_ms: number | null }>;
  roam_ms: number | null;
  /** With the data plane: the encryption mode, and how long after start every node had send keys to both others (null: never). */
  encryption: string | null;
  keys_ms: number | null;
  problems: string[];
}

const GROUP = '224.1.1.1';
const KEY = 'decent-password';
const SPEC = [1, 2, 3].map((i) => ({ name: `n${i}`, eid: `10.0.0.${i}`, nameEid: `nexus-n${i}` }));

function configText(i: number, dir: string, dataplane: boolean, seed: string, encryption?: string): string {
  const s = SPEC[i];
  return [
    `name: ${s.name}`,
    'eids:',
    `  - ${s.eid}/32`,
    `  - "'${s.nameEid}'"`,
    'rlocs:',
    '  interfaces: [eth0]',
    'decent:',
    `  group: ${GROUP}`,
    '  replication: her',
    `  seeds: [${seed}]`,
    'auth:',
    `  key: ${KEY}`,
    'timers:',
    '  register-interval: 10s',
    '  registration-ttl: 30s',
    '  rloc-poll: 100ms',
    ...(dataplane ? ['dataplane:', `  tun: decent0`, '  mtu: 1408', ...(encryption ? [`  encryption: ${encryption}`] : [])] : []),
    'api:',
    `  socket: ${path.join(dir, `${s.name}.sock`)}`,
    '',
  ].join('\n');
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const result: DemoResult = { ok: false, converged_ms: null, site_cache: {}, map_cache: {}, pings: {}, roam_ms: null, encryption: null, keys_ms: null, problems: [] };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-demo-'));
  const children: ChildProcess[] = [];
  let capture: ChildProcess | undefined;
  let bed: Testbed | undefined;
  const cleanup = (): void => {
    for (const c of [...children, ...(capture ? [capture] : [])]) if (c.exitCode === null) c.kill('SIGTERM');
    bed?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    opts.progress('building 3 namespaces on a bridge without multicast forwarding');
    bed = createTestbed({ prefix: 'dmo', nodes: 3, subnet: '192.168.77', firstHost: 5 });
    const nodes = bed.nodes;
    if (opts.captureFile) {
      // dumpcap itself (-P: classic pcap) flushes on SIGTERM; tshark in front of it can be slow to.
      const cap = bed.bridgeNs.spawn(['dumpcap', '-q', '-P', '-i', 'br0', '-f', 'udp port 4341 or udp port 4342', '-w', opts.captureFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      capture = cap;
      // dumpcap reports "Capturing on" once the socket is open; nothing may be sent before it.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 3000);
        cap.stderr?.on('data', (d: Buffer) => {
          if (d.toString().includes('Capturing on')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
    }
    const bin = path.resolve(__dirname, '../../../bin/decent');
    const logs: string[][] = [[], [], []];
    const t0 = Date.now();
    for (const n of nodes) {
      const cfg = path.join(dir, `${SPEC[n.index].name}.yaml`);
      fs.writeFileSync(cfg, configText(n.index, dir, opts.dataplane, nodes[(n.index + 1) % nodes.length].address, opts.encryption));
      if (opts.dataplane) n.ns.ip(['addr', 'add', `${SPEC[n.index].eid}/32`, 'dev', 'lo']);
      const child = n.ns.spawn([process.execPath, bin, 'run', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr?.on('data', (d: Buffer) => logs[n.index].push(d.toString()));
      children.push(child);
    }
    const sock = (i: number): string => path.join(dir, `${SPEC[i].name}.sock`);
    const siteCache = async (i: number): Promise<SiteCacheRow[]> => apiRequest<SiteCacheRow[]>(sock(i), 'GET', '/api/site-cache', 2000);
    const expected = (): Map<string, string> => new Map([
      ...SPEC.map((s, i): [string, string] => [`[0]${s.eid}/32`, nodes[i].address]),
      ...SPEC.map((s, i): [string, string] => [`[0]'${s.nameEid}'`, nodes[i].address]),
      [`[0](0.0.0.0/0, ${GROUP}/32)`, nodes.map((n) => n.address).sort().join(', ')],
    ]);
    const complete = (rows: SiteCacheRow[]): boolean => {
      const want = expected();
      if (rows.length !== want.size) return false;
      return rows.every((r) => want.get(r.eid) === [...r.rlocs].sort().join(', '));
    };

    opts.progress('starting decent on n1, n2, n3 (each seeded with the next one)');
    const convergeBy = Date.now() + (opts.convergeTimeoutMs ?? 15_000);
    for (;;) {
      const done = await Promise.all(nodes.map((n) => siteCache(n.index).then(complete, () => false)));
      if (done.every(Boolean)) {
        result.converged_ms = Date.now() - t0;
        break;
      }
      if (Date.now() > convergeBy) {
        result.problems.push('site caches did not converge');
        break;
      }
      await sleep(20);
    }
    opts.progress(result.converged_ms !== null ? `converged in ${result.converged_ms} ms` : 'did not converge');

    const encrypted = opts.dataplane && (opts.encryption ?? 'required') !== 'off';
    if (opts.dataplane) result.encryption = opts.encryption ?? 'required';
    if (encrypted) {
      // Members exchange LISP-crypto keys as soon as they see each other's registrations (RFC 8061
      // keys bound to the group key); under `required` nothing crosses before them.
      const keysBy = Date.now() + (opts.convergeTimeoutMs ?? 15_000);
      const suites = new Set<number>();
      for (;;) {
        const have = await Promise.all(nodes.map((n) => apiRequest<{ direction: string; peerRloc: string; sending: boolean; suite: number }[]>(sock(n.index), 'GET', '/api/crypto', 2000)
          .then((ks) => nodes.every((m) => m === n || ks.some((k) => k.direction === 'encap' && k.sending && k.peerRloc === m.address && suites.add(k.suite))), () => false)));
        if (have.every(Boolean)) {
          result.keys_ms = Date.now() - t0;
          break;
        }
        if (Date.now() > keysBy) {
          result.problems.push('the nodes did not agree on LISP-crypto keys');
          break;
        }
        await sleep(50);
      }
      opts.progress(result.keys_ms !== null
        ? `LISP-crypto keys agreed between every pair in ${result.keys_ms} ms: the overlay is encrypted (${result.encryption}; cipher suite ${[...suites].join(', ')})`
        : 'LISP-crypto keys missing');
    } else if (opts.dataplane) {
      opts.progress('encryption is off: overlay packets cross the underlay in clear');
    }

    if (opts.dataplane) {
      opts.progress('pinging every EID from every node through the overlay');
      for (const a of nodes) {
        for (const b of nodes) {
          if (a === b) continue;
          const key = `${SPEC[a.index].name}->${SPEC[b.index].name}`;
          result.pings[key] = ping(a.ns.name, SPEC[a.index].eid, SPEC[b.index].eid, 1);
        }
      }
    }

    opts.progress('moving n2 to a new RLOC address (192.168.77.16)');
    const n1 = nodes[0];
    const n2 = nodes[1];
    const roamStart = Date.now();
    bed.readdress(n2, '192.168.77.16');
    const roamBy = roamStart + (opts.roamTimeoutMs ?? 10_000);
    for (;;) {
      let moved: boolean;
      if (opts.dataplane) {
        moved = ping(n1.ns.name, SPEC[0].eid, SPEC[1].eid, 0.2).ok;
      } else {
        const rows = await siteCache(0).catch(() => []);
        // Both of n1's views must have moved: n2's EID and n2's entry in the group's RLE.
        moved = rows.some((r) => r.eid === `[0]${SPEC[1].eid}/32` && r.rlocs.join() === n2.address) &&
          rows.some((r) => r.eid.startsWith('[0](') && r.rlocs.includes(n2.address) && !r.rlocs.includes('192.168.77.6'));
      }
      if (moved) {
        result.roam_ms = Date.now() - roamStart;
        break;
      }
      if (Date.now() > roamBy) {
        result.problems.push('n1 did not follow n2 to its new RLOC');
        break;
      }
      await sleep(opts.dataplane ? 0 : 10);
    }
    opts.progress(result.roam_ms !== null ? `n1 reaches n2 again after ${result.roam_ms} ms` : 'roaming failed');

    for (const n of nodes) {
      const name = SPEC[n.index].name;
      const rows = await siteCache(n.index).catch(() => [] as SiteCacheRow[]);
      result.site_cache[name] = rows.map((r) => ({ eid: r.eid, rlocs: [...r.rlocs] }));
      const mc = await apiRequest<{ key: string; rlocs: { address: string }[]; members?: string[] }[]>(sock(n.index), 'GET', '/api/map-cache', 2000).catch(() => []);
      result.map_cache[name] = mc.map((e) => ({ eid: e.key, rlocs: e.members ?? e.rlocs.map((r) => r.address) }));
    }
    const pingsOk = Object.values(result.pings).every((p) => p.ok);
    if (!pingsOk) result.problems.push('a ping through the overlay failed');
    result.ok = result.converged_ms !== null && result.roam_ms !== null && pingsOk && (!encrypted || result.keys_ms !== null);
    if (!result.ok) {
      for (let i = 0; i < 3; i++) result.problems.push(`${SPEC[i].name} log tail: ${logs[i].join('').split('\n').slice(-5).join(' | ')}`);
    }
    return result;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await stopProcesses(children);
    // The capture stops last, after the nodes' goodbyes, and may take its time to flush.
    if (capture && capture.exitCode === null) {
      const cap = capture;
      await new Promise<void>((resolve) => {
        cap.once('exit', () => resolve());
        cap.kill('SIGTERM');
        setTimeout(() => { cap.kill('SIGKILL'); resolve(); }, 15_000).unref();
      });
    }
    cleanup();
  }
}

function ping(ns: string, from: string, to: string, waitS: number): { ok: boolean; rtt_ms: number | null } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-n', '-c', '1', '-W', String(waitS), '-I', from, to], { encoding: 'utf8' });
  const m = /time=([\d.]+) ms/.exec(r.stdout ?? '');
  return { ok: r.status === 0, rtt_ms: m ? Number(m[1]) : null };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
