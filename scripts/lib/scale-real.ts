// Real decent nodes for bench-scale: N namespaces on one bridge (src/testbed/bridge.ts), one
// `decent run` each (control plane only, or with data planes), seeded in a ring. Measures
// convergence, steady CPU/RSS per node, bridge packets and bytes per second, and how long a join
// and a leave take to reach every member. Everything is removed on return, also on failure.
import { stopProcesses } from '../../src/testbed/processes';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../../src/api/client';
import { createTestbed, type Testbed } from '../../src/testbed/bridge';
import { summarize } from './stats';

export const DECENT_BIN = path.resolve(__dirname, '../../../bin/decent');

export interface RealOptions {
  readonly nodes: number;
  readonly dataplane: boolean;
  /** Register interval and registration TTL, as config durations ('10s', '30s'). */
  readonly interval: string;
  readonly ttl: string;
  /** How long steady state is sampled (CPU, RSS, bridge traffic). */
  readonly steadyMs: number;
  readonly convergeTimeoutMs: number;
  readonly changeTimeoutMs: number;
  /** Third octet of 10.88.X.0/24, so parallel runs do not share addresses. */
  readonly subnetOctet: number;
  readonly progress: (line: string) => void;
}

export interface RealResult {
  readonly nodes: number;
  readonly dataplane: boolean;
  /** From the first spawn until every site cache holds N EIDs and the group entry; null: never. */
  readonly convergeMs: number | null;
  /** From the first spawn until the last node's API answered. */
  readonly lastUpMs: number | null;
  readonly cpuPctPerNode: number;
  readonly rssMbPerNode: number;
  readonly bridgePps: number;
  readonly bridgeKBps: number;
  /** An extra node started: from its API answering until every member (it too) has its EID; null: not within the timeout. */
  readonly joinMs: number | null;
  /**
   * The join from the site caches' own clocks (firstRegistered; one machine, one clock), from the
   * joiner's first registration: its seed, every member, the joiner itself holding every member.
   * Free of the polling's delay, which loads 100 nodes with site-cache queries.
   */
  readonly joinStamps: { readonly seedMs: number; readonly membersMs: number; readonly joinerMs: number } | null;
  /** That node SIGTERMed (it withdraws): until no member has its EID. */
  readonly leaveMs: number | null;
  /** UDP receive-buffer errors summed over the nodes' namespaces, at the end. */
  readonly udpRcvbufErrors: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Permanent neighbour entries everywhere: N namespaces on one bridge overflow the shared ARP table. */
export function pinNeighbours(bed: Testbed): void {
  const macs = bed.nodes.map((n) => JSON.parse(n.ns.ip(['-j', 'link', 'show', 'eth0']))[0].address as string);
  for (const n of bed.nodes) {
    const lines = bed.nodes.filter((o) => o !== n).map((o) => `neigh replace ${o.address} lladdr ${macs[o.index]} dev eth0 nud permanent`);
    const file = path.join(os.tmpdir(), `decent-neigh-${process.pid}-${n.index}`);
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    try {
      n.ns.ip(['-batch', file]);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }
}

/** Packets and bytes through every bridge port (what the nodes sent). */
function bridgeCounters(bed: Testbed): { packets: number; bytes: number } {
  const links = JSON.parse(bed.bridgeNs.ip(['-s', '-j', 'link', 'show'])) as { ifname: string; stats64?: { rx: { packets: number; bytes: number } } }[];
  let packets = 0, bytes = 0;
  for (const l of links) {
    if (!/^p\d+$/.test(l.ifname) || !l.stats64) continue;
    packets += l.stats64.rx.packets;
    bytes += l.stats64.rx.bytes;
  }
  return { packets, bytes };
}

const CLK_TCK = 100;

/** utime + stime of a process, in seconds, and its RSS in MB. */
export function procUsage(pid: number): { cpuS: number; rssMb: number } {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuS: (Number(f[11]) + Number(f[12])) / CLK_TCK, rssMb: rss / 1024 };
  } catch {
    return { cpuS: 0, rssMb: 0 };
  }
}

function udpRcvbufErrors(pid: number): number {
  try {
    const lines = fs.readFileSync(`/proc/${pid}/net/snmp`, 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0].split(/\s+/), values = lines[1].split(/\s+/);
    return Number(values[names.indexOf('RcvbufErrors')] ?? 0);
  } catch {
    return 0;
  }
}

/** What a run in progress must undo if the script is interrupted (SIGINT/SIGTERM). */
let undo: (() => void) | undefined;

/** Kills the nodes of the run in progress and removes its namespaces at once. */
export function abortReal(): void {
  undo?.();
}

export async function runReal(o: RealOptions): Promise<RealResult> {
  const total = o.nodes + 1; // the last one joins and leaves
  if (total > 240) throw new RangeError('at most 239 real nodes on one /24');
  const subnet = `10.88.${o.subnetOctet}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-scale-'));
  const children: ChildProcess[] = [];
  let bed: Testbed | undefined;
  undo = () => {
    for (const c of children) if (c && c.exitCode === null) c.kill('SIGKILL');
    bed?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    o.progress(`${o.nodes} nodes: building ${total} namespaces`);
    bed = createTestbed({ prefix: 'bsc', nodes: total, subnet, firstHost: 11 });
    const b = bed;
    pinNeighbours(b);
    const sock = (i: number): string => path.join(dir, `n${i}.sock`);
    for (const n of b.nodes) {
      const i = n.index + 1;
      const seed = b.nodes[i % o.nodes].address; // a ring over the first N; the joiner seeds from node 1
      fs.writeFileSync(path.join(dir, `n${i}.yaml`), [
        `name: n${i}`, 'eids:', `  - 10.${100 + (i >> 8)}.${i & 255}.0/24`, 'rlocs: {interfaces: [eth0]}',
        'decent:', '  group: 224.9.9.9', '  replication: her', `  seeds: [${seed}]`, 'auth: {key: k}',
        `timers: {register-interval: ${o.interval}, registration-ttl: ${o.ttl}}`,
        ...(o.dataplane ? ['dataplane: {tun: decent0}'] : []),
        `api: {socket: ${sock(i)}}`, 'log: {level: warn}', '',
      ].join('\n'));
    }
    const spawnNode = (i: number): void => {
      const c = b.nodes[i - 1].ns.spawn([process.execPath, DECENT_BIN, 'run', '--config', path.join(dir, `n${i}.yaml`)], { stdio: 'ignore' });
      children[i - 1] = c;
    };
    const siteCache = (i: number): Promise<{ eid: string; firstRegistered: number }[]> =>
      apiRequest<{ eid: string; firstRegistered: number }[]>(sock(i), 'GET', '/api/site-cache', 5000);
    const siteCacheSize = (i: number): Promise<number> =>
      apiRequest<unknown[]>(sock(i), 'GET', '/api/site-cache', 5000).then((r) => r.length, () => -1);
    const sizes = (ids: readonly number[]): Promise<number[]> => Promise.all(ids.map(siteCacheSize));
    const first = Array.from({ length: o.nodes }, (_, k) => k + 1);

    o.progress(`${o.nodes} nodes: starting`);
    const t0 = Date.now();
    for (const i of first) spawnNode(i);
    let lastUpMs: number | null = null;
    let convergeMs: number | null = null;
    while (Date.now() - t0 < o.convergeTimeoutMs) {
      const s = await sizes(first);
      if (lastUpMs === null && s.every((v) => v >= 0)) lastUpMs = Date.now() - t0;
      if (s.every((v) => v === o.nodes + 1)) {
        convergeMs = Date.now() - t0;
        break;
      }
      await sleep(o.nodes > 30 ? 500 : 200);
    }
    o.progress(`${o.nodes} nodes: converged ${convergeMs === null ? 'never' : `${convergeMs} ms`} (last up ${lastUpMs} ms)`);

    // Steady state: CPU, RSS and bridge traffic over a window.
    await sleep(Math.min(5_000, o.steadyMs / 4));
    const pids = first.map((i) => children[i - 1].pid ?? 0);
    const before = pids.map(procUsage);
    const br0 = bridgeCounters(b);
    const w0 = Date.now();
    await sleep(o.steadyMs);
    const windowS = (Date.now() - w0) / 1000;
    const br1 = bridgeCounters(b);
    const after = pids.map(procUsage);
    const cpuPct = after.map((a, k) => ((a.cpuS - before[k].cpuS) / windowS) * 100);
    const median = (xs: readonly number[]): number => summarize(xs).median;

    // Join: one more node, seeded from node 1.
    const joiner = total;
    const all = [...first, joiner];
    spawnNode(joiner);
    // Propagation counts from when the joiner is up (its API answers), not its process start-up.
    const spawned = Date.now();
    while (Date.now() - spawned < o.changeTimeoutMs && (await siteCacheSize(joiner)) < 0) await sleep(20);
    const tj = Date.now();
    let joinMs: number | null = null;
    while (Date.now() - tj < o.changeTimeoutMs) {
      const s = await sizes(all);
      if (s.every((v) => v === o.nodes + 2)) {
        joinMs = Date.now() - tj;
        break;
      }
      // Each round asks every node for its whole site cache: polled often, that load slows the
      // join it measures (joinStamps below are exact either way).
      await sleep(250);
    }
    let joinStamps: RealResult['joinStamps'] = null;
    if (joinMs !== null) {
      const joinerEid = `[0]10.${100 + (joiner >> 8)}.${joiner & 255}.0/24`;
      const rows = await Promise.all(all.map((i) => siteCache(i).catch(() => [])));
      const first = (k: number, eid: string): number => rows[k].find((r) => r.eid === eid)?.firstRegistered ?? NaN;
      const start = first(all.length - 1, joinerEid);
      const members = Math.max(...all.slice(0, -1).map((_, k) => first(k, joinerEid)));
      const joinerAll = Math.max(...rows[all.length - 1].map((r) => r.firstRegistered));
      joinStamps = { seedMs: first(0, joinerEid) - start, membersMs: members - start, joinerMs: joinerAll - start };
      o.progress(`${o.nodes} nodes: join by the site caches' clocks: seed +${joinStamps.seedMs} ms, every member +${joinStamps.membersMs} ms, the joiner complete +${joinStamps.joinerMs} ms`);
    }
    // Leave: SIGTERM withdraws (Record TTL 0).
    let leaveMs: number | null = null;
    if (joinMs !== null) {
      const tl = Date.now();
      children[joiner - 1].kill('SIGTERM');
      while (Date.now() - tl < o.changeTimeoutMs) {
        const s = await sizes(first);
        if (s.every((v) => v === o.nodes + 1)) {
          leaveMs = Date.now() - tl;
          break;
        }
        await sleep(100);
      }
    }
    o.progress(`${o.nodes} nodes: join ${joinMs ?? 'never'} ms, leave ${leaveMs ?? 'never'} ms`);
    return {
      nodes: o.nodes, dataplane: o.dataplane, convergeMs, lastUpMs,
      cpuPctPerNode: median(cpuPct), rssMbPerNode: median(after.map((a) => a.rssMb)),
      bridgePps: (br1.packets - br0.packets) / windowS, bridgeKBps: (br1.bytes - br0.bytes) / windowS / 1000,
      joinMs, joinStamps, leaveMs, udpRcvbufErrors: pids.reduce((n, p) => n + udpRcvbufErrors(p), 0),
    };
  } finally {
    await stopProcesses(children, 5_000);
    bed?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
    undo = undefined;
  }
}
