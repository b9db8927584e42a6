// Pull mode at scale for bench-scale (issue 17): N `decent run` nodes (control plane only) in
// namespaces on one bridge, S Map-Server sets published by dnsmasq as `i.SUFFIX` A records (RFC
// 9962 §5; node k is in set k mod S), one EID each. Measures how long registration to every
// address of each set takes, whether every node resolves every other node's EID through the
// hash → DNS → set path (`/api/lookup` without a resolver, what `decent lig` does), and what one
// set member's death costs the lookups for that set. Everything is removed on return.
import { stopProcesses } from '../../src/testbed/processes';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../../src/api/client';
import type { LookupAnswer } from '../../src/api/types';
import { mapServerName } from '../../src/control/decent/pull-hash';
import { parseEid } from '../../src/mapping/eid';
import { createTestbed, type Testbed } from '../../src/testbed/bridge';
import { startDnsmasq, useResolver, type DnsServer } from '../../src/testbed/dns';
import { DECENT_BIN, pinNeighbours, procUsage } from './scale-real';
import { summarize } from './stats';

export interface PullOptions {
  readonly nodes: number;
  readonly sets: number;
  readonly registerTimeoutMs: number;
  /** Third octet of 10.89.X.0/24, so parallel runs do not share addresses. */
  readonly subnetOctet: number;
  readonly progress: (line: string) => void;
}

export interface PullResult {
  readonly nodes: number;
  readonly sets: number;
  /** From the first spawn until every Map-Server holds exactly the EIDs of its set; null: never. */
  readonly registeredMs: number | null;
  /** Lookups of every other node's EID from every node: answered positively / asked. */
  readonly lookups: { readonly asked: number; readonly answered: number; readonly medianMs: number; readonly wallMs: number };
  /** After one member of set 0 was killed: lookups of set 0's EIDs from every survivor. */
  readonly failover: { readonly asked: number; readonly answered: number; readonly maxRetries: number; readonly retried: number };
  readonly cpuPctPerNode: number;
  readonly rssMbPerNode: number;
}

const SUFFIX = 'ms.decent.bench';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: readonly number[]): number => (xs.length ? summarize(xs).median : NaN);

let undo: (() => void) | undefined;

/** Kills the nodes of the run in progress and removes its namespaces at once. */
export function abortPull(): void {
  undo?.();
}

export async function runPull(o: PullOptions): Promise<PullResult> {
  if (o.nodes > 239) throw new RangeError('at most 239 real nodes on one /24');
  if (o.sets < 1 || o.sets * 2 > o.nodes) throw new RangeError('--sets needs at least two nodes per set');
  const subnet = `10.89.${o.subnetOctet}`;
  const pull = { modulus: o.sets, dnsSuffix: SUFFIX, hash: 'rfc' as const, lookupLengths: [], dnsRefreshMs: 30_000 };
  const eidOf = (i: number): string => `10.${100 + (i >> 8)}.${i & 255}.1`;
  const setOfEid = (eid: string): number => Number(mapServerName(parseEid(`${eid}/32`), pull).split('.')[0]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-scale-pull-'));
  const children: ChildProcess[] = [];
  const removers: (() => void)[] = [];
  let bed: Testbed | undefined;
  let dns: DnsServer | undefined;
  undo = () => {
    for (const c of children) if (c && c.exitCode === null) c.kill('SIGKILL');
    for (const r of removers) r();
    bed?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    o.progress(`pull ${o.nodes} nodes, ${o.sets} sets: building namespaces`);
    bed = createTestbed({ prefix: 'bsp', nodes: o.nodes, subnet, firstHost: 11 });
    const b = bed;
    pinNeighbours(b);
    const sets = new Map(Array.from({ length: o.sets }, (_, s) => [s, b.nodes.filter((n) => n.index % o.sets === s).map((n) => n.address)]));
    dns = await startDnsmasq(b.bridgeNs, { listen: `${subnet}.1`, suffix: SUFFIX, sets });
    const sock = (i: number): string => path.join(dir, `n${i}.sock`);
    for (const n of b.nodes) {
      const i = n.index + 1;
      removers.push(useResolver(n.ns, dns.address));
      fs.writeFileSync(path.join(dir, `n${i}.yaml`), [
        `name: n${i}`, 'eids:', `  - ${eidOf(i)}/32`, 'rlocs: {interfaces: [eth0]}',
        'decent:', '  mode: pull', `  pull: {modulus: ${o.sets}, dns-suffix: ${SUFFIX}, hash: rfc}`,
        'auth: {key: k}', `api: {socket: ${sock(i)}}`, 'log: {level: warn}', '',
      ].join('\n'));
    }
    const ids = b.nodes.map((n) => n.index + 1);
    // Map-Server node i (set (i-1) mod S) must hold exactly the EIDs hashing to its set.
    const want = new Map(ids.map((i) => [i, ids.filter((k) => setOfEid(eidOf(k)) === (i - 1) % o.sets).length]));
    const siteCacheSize = (i: number): Promise<number> =>
      apiRequest<unknown[]>(sock(i), 'GET', '/api/site-cache', 5000).then((r) => r.length, () => -1);

    o.progress(`pull ${o.nodes} nodes: starting`);
    const t0 = Date.now();
    for (const n of b.nodes) {
      children[n.index] = n.ns.spawn([process.execPath, DECENT_BIN, 'run', '--config', path.join(dir, `n${n.index + 1}.yaml`)], { stdio: 'ignore' });
    }
    let registeredMs: number | null = null;
    while (Date.now() - t0 < o.registerTimeoutMs) {
      const s = await Promise.all(ids.map(siteCacheSize));
      if (s.every((v, k) => v === want.get(ids[k]))) {
        registeredMs = Date.now() - t0;
        break;
      }
      await sleep(250);
    }
    o.progress(`pull ${o.nodes} nodes: registered ${registeredMs === null ? 'never' : `${registeredMs} ms`}`);

    const lookup = (from: number, eid: string): Promise<LookupAnswer | null> =>
      apiRequest<LookupAnswer>(sock(from), 'GET', `/api/lookup?eid=${eid}&timeout=2000`, 30_000).catch(() => null);
    const positive = (r: LookupAnswer | null): boolean => r !== null && r.reply.records.some((rec) => rec.locators.length > 0);

    // Every node resolves every other node's EID (nodes in parallel, each one lookup at a time).
    const tl = Date.now();
    const rtts: number[] = [];
    let asked = 0, answered = 0;
    await Promise.all(ids.map(async (a) => {
      for (const k of ids) {
        if (k === a) continue;
        asked++;
        const r = await lookup(a, eidOf(k));
        if (positive(r)) {
          answered++;
          rtts.push(r?.rttMs ?? 0);
        }
      }
    }));
    const lookups = { asked, answered, medianMs: median(rtts), wallMs: Date.now() - tl };
    o.progress(`pull ${o.nodes} nodes: ${answered}/${asked} lookups answered in ${lookups.wallMs} ms`);
    const usage = children.map((c) => procUsage(c.pid ?? 0));
    const cpuPct = usage.map((u) => (u.cpuS / ((Date.now() - t0) / 1000)) * 100);

    // One member of set 0 dies without a goodbye; every survivor looks up set 0's EIDs.
    const victim = ids[0];
    children[victim - 1].kill('SIGKILL');
    await sleep(200);
    const targets = ids.filter((k) => k !== victim && setOfEid(eidOf(k)) === 0);
    let fAsked = 0, fAnswered = 0, maxRetries = 0, retried = 0;
    await Promise.all(ids.filter((a) => a !== victim).map(async (a) => {
      for (const k of targets) {
        if (k === a) continue;
        fAsked++;
        const r = await lookup(a, eidOf(k));
        if (positive(r)) fAnswered++;
        const retries = r?.unanswered.length ?? 0;
        if (retries > 0) retried++;
        maxRetries = Math.max(maxRetries, retries);
      }
    }));
    o.progress(`pull ${o.nodes} nodes: after a set member died, ${fAnswered}/${fAsked} answered, at most ${maxRetries} retry per lookup`);
    return {
      nodes: o.nodes, sets: o.sets, registeredMs, lookups,
      failover: { asked: fAsked, answered: fAnswered, maxRetries, retried },
      cpuPctPerNode: median(cpuPct), rssMbPerNode: median(usage.map((u) => u.rssMb)),
    };
  } finally {
    await stopProcesses(children, 5_000);
    await dns?.stop();
    for (const r of removers) r();
    bed?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
    undo = undefined;
  }
}
