// `decent demo --pull`: LISP-Decent pull mode (RFC 9962 §5) on a real DNS server. Four nodes in
// namespaces on a bridge; dnsmasq publishes two Map-Server sets of two nodes each as `i.SUFFIX`;
// every EID registers to both servers of its hashed set, every node pings every EID through the
// overlay, then one Map-Server is killed and the pings go again (each lookup fails over within
// one retry).
import { stopProcesses } from './processes';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../api/client';
import type { SiteCacheRow } from '../control/protocol';
import { createTestbed, type Testbed } from './bridge';
import { startDnsmasq, useResolver, type DnsServer } from './dns';

export interface PullDemoResult {
  ok: boolean;
  sets: Record<string, string[]>;
  registered_ms: number | null;
  site_cache: Record<string, string[]>;
  pings: Record<string, boolean>;
  failover_pings: Record<string, boolean>;
  problems: string[];
}

const SUFFIX = 'ms.decent.demo';
const NODES = 4;
const eidOf = (i: number): string => `10.0.0.${i}`;

function ping(ns: string, from: string, to: string, seconds: number): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-c', '3', '-i', '0.25', '-w', String(seconds), '-I', from, to], { encoding: 'utf8' });
  return Number(/(\d+) received/.exec(r.stdout ?? '')?.[1] ?? 0) > 0;
}

export async function runPullDemo(progress: (line: string) => void): Promise<PullDemoResult> {
  const result: PullDemoResult = { ok: false, sets: {}, registered_ms: null, site_cache: {}, pings: {}, failover_pings: {}, problems: [] };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-demo-pull-'));
  const children: ChildProcess[] = [];
  const removers: (() => void)[] = [];
  let bed: Testbed | undefined;
  let dns: DnsServer | undefined;
  try {
    progress(`building ${NODES} namespaces on a bridge, and dnsmasq serving 0.${SUFFIX} and 1.${SUFFIX}`);
    bed = createTestbed({ prefix: 'dmp', nodes: NODES, subnet: '192.168.78', firstHost: 5 });
    const b = bed;
    const sets = new Map([0, 1].map((s) => [s, [b.nodes[2 * s].address, b.nodes[2 * s + 1].address]]));
    for (const [s, a] of sets) result.sets[`${s}.${SUFFIX}`] = a;
    dns = await startDnsmasq(b.bridgeNs, { listen: `${b.subnet}.1`, suffix: SUFFIX, sets });
    const bin = path.resolve(__dirname, '../../../bin/decent');
    const sock = (i: number): string => path.join(dir, `n${i}.sock`);
    const t0 = Date.now();
    for (const n of b.nodes) {
      const i = n.index + 1;
      removers.push(useResolver(n.ns, dns.address));
      n.ns.ip(['addr', 'add', `${eidOf(i)}/32`, 'dev', 'lo']);
      const cfg = path.join(dir, `n${i}.yaml`);
      fs.writeFileSync(cfg, [
        `name: n${i}`, 'eids:', `  - ${eidOf(i)}/32`, 'rlocs: {interfaces: [eth0]}',
        'decent:', '  mode: pull', `  pull: {modulus: 2, dns-suffix: ${SUFFIX}}`, 'auth: {key: decent-password}',
        'dataplane: {tun: decent0, routes: [10.0.0.0/24]}', `api: {socket: ${sock(i)}}`, '',
      ].join('\n'));
      children.push(spawn('ip', ['netns', 'exec', n.ns.name, process.execPath, bin, 'run', '--config', cfg], { stdio: 'ignore' }));
    }
    progress('starting decent on n1..n4 in pull mode (modulus 2)');
    const registered = async (): Promise<number> => {
      const rows = await Promise.all(b.nodes.map((n) => apiRequest<SiteCacheRow[]>(sock(n.index + 1), 'GET', '/api/site-cache', 2000).catch(() => [])));
      for (const n of b.nodes) result.site_cache[`n${n.index + 1}`] = rows[n.index].map((r) => r.eid).sort();
      return rows.reduce((k, r) => k + r.length, 0);
    };
    // Each EID sits at both Map-Servers of its set: 2 × NODES entries in all.
    const by = Date.now() + 30_000;
    while (Date.now() < by) {
      if ((await registered()) === 2 * NODES) {
        result.registered_ms = Date.now() - t0;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (result.registered_ms === null) result.problems.push('not every EID reached both Map-Servers of its set');
    progress(`registered in ${result.registered_ms ?? '-'} ms; pinging every EID from every node`);
    for (const a of b.nodes) {
      for (const c of b.nodes) {
        if (a !== c) result.pings[`n${a.index + 1}->n${c.index + 1}`] = ping(a.ns.name, eidOf(a.index + 1), eidOf(c.index + 1), 5);
      }
    }
    progress(`killing n1 (a Map-Server of set 0) and pinging again: lookups fail over to n2`);
    children[0].kill('SIGKILL');
    for (const a of b.nodes.slice(1)) {
      await apiRequest(sock(a.index + 1), 'POST', '/api/map-cache/clear', 2000).catch(() => undefined);
      for (const c of b.nodes.slice(1)) {
        if (a !== c) result.failover_pings[`n${a.index + 1}->n${c.index + 1}`] = ping(a.ns.name, eidOf(a.index + 1), eidOf(c.index + 1), 6);
      }
    }
    const all = [...Object.values(result.pings), ...Object.values(result.failover_pings)];
    if (!all.every(Boolean)) result.problems.push('a ping through the overlay failed');
    result.ok = result.registered_ms !== null && all.every(Boolean);
    return result;
  } finally {
    await stopProcesses(children);
    await dns?.stop();
    for (const r of removers) r();
    bed?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
