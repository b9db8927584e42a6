// `decent demo --nat`: a member behind a NAT joins a group through an RTR (README "Behind NAT").
// Two public members on a bridge, alpha (the seed, `nat.rtr: true`) and beta, and pi behind an
// nftables masquerade NAT (src/testbed/nat.ts). pi detects the NAT from alpha's Info-Reply,
// registers its translated RLOC with alpha as RTR (priority 254), learns the group through alpha,
// and every pair pings through the overlay: pi and beta through alpha, which re-encapsulates.
// Then pj joins behind a second NAT: first via the RTR, then, once pi and pj answered each
// other's RLOC-probes through their NATs (src/control/direct.ts), directly: alpha relays none of
// their packets any more.
import { stopProcesses } from './processes';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../api/client';
import type { PeerRow, SiteCacheRow } from '../control/protocol';
import { createTestbed, type Testbed } from './bridge';
import { createNat, type Nat } from './nat';
import type { Netns } from './netns';

export interface NatDemoResult {
  ok: boolean;
  /** ms after start until pi knew it is behind a NAT, and until the others held its registration via the RTR. */
  detected_ms: number | null;
  registered_ms: number | null;
  /** pi's translated address:port as its seed saw it, and the data port alpha relays to. */
  translated: string | null;
  relay_port: number | null;
  /** What the group holds for pi's EID: its translated RLOC and the RTR, never its private address. */
  registered_rlocs: string[];
  pings: Record<string, boolean>;
  /** Each node's view of the others (`decent show peers`' path column). */
  paths: Record<string, Record<string, string>>;
  /** Packets alpha decapsulated for someone else's EID and re-encapsulated. */
  relayed: number;
  /** pi's and pj's paths to each other when they first held each other's registration (via the RTR). */
  paths_at_join: Record<string, string>;
  /** ms from pj's process answering its API until pi and pj both used the direct path. */
  direct_ms: number | null;
  /** Packets alpha relayed while pi and pj pinged each other over the direct path (0). */
  relayed_direct: number | null;
  problems: string[];
}

const NODES = [
  { name: 'alpha', eid: '10.0.0.1' },
  { name: 'beta', eid: '10.0.0.2' },
  { name: 'pi', eid: '10.0.0.5' },
  { name: 'pj', eid: '10.0.0.6' },
] as const;
/** The nodes started first; pj joins after them. */
const FIRST = 3;

function ping(ns: Netns, from: string, to: string, seconds: number): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-n', '-q', '-c', '3', '-i', '0.25', '-w', String(seconds), '-I', from, to], { encoding: 'utf8' });
  return Number(/(\d+) received/.exec(r.stdout ?? '')?.[1] ?? 0) > 0;
}

/** What a measurement script gets while the demo's group runs (before the teardown). */
export interface NatDemoBed {
  /** alpha (RTR), beta, pi: their namespaces and EIDs. */
  readonly nodes: readonly { readonly name: string; readonly ns: Netns; readonly eid: string }[];
  /** ms from pj's process answering its API until pi and pj both used the direct path. */
  readonly directMs: number | null;
}

export interface NatDemoOptions {
  /** The nodes' `dataplane.encryption` (default `required`: sealed end to end through the RTR). */
  readonly encryption?: 'required' | 'preferred' | 'off';
  /** Runs after the checks, before everything is removed. */
  readonly during?: (bed: NatDemoBed) => Promise<void>;
}

export async function runNatDemo(progress: (line: string) => void, o: NatDemoOptions = {}): Promise<NatDemoResult> {
  const result: NatDemoResult = {
    ok: false, detected_ms: null, registered_ms: null, translated: null, relay_port: null, registered_rlocs: [], pings: {}, paths: {}, relayed: 0,
    paths_at_join: {}, direct_ms: null, relayed_direct: null, problems: [],
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-demo-nat-'));
  const children: ChildProcess[] = [];
  let bed: Testbed | undefined;
  let nat: Nat | undefined;
  let nat2: Nat | undefined;
  try {
    progress('building alpha and beta on a public bridge, pi and pj behind nftables masquerade NATs of their own');
    bed = createTestbed({ prefix: 'dmn', nodes: 2, subnet: '198.51.100', firstHost: 7 });
    nat = createNat({ bridge: bed, prefix: 'dmn', publicAddress: '198.51.100.10', privateSubnet: '192.168.77' });
    nat2 = createNat({ bridge: bed, prefix: 'dmj', publicAddress: '198.51.100.11', privateSubnet: '192.168.78' });
    const alpha = bed.nodes[0], ns: Netns[] = [alpha.ns, bed.nodes[1].ns, nat.host, nat2.host];
    const bin = path.resolve(__dirname, '../../../bin/decent');
    const sock = (name: string): string => path.join(dir, `${name}.sock`);
    const get = <T>(name: string, p: string): Promise<T> => apiRequest<T>(sock(name), 'GET', p, 2000);
    const t0 = Date.now();
    const startNode = (n: (typeof NODES)[number], i: number): void => {
      ns[i].ip(['addr', 'add', `${n.eid}/32`, 'dev', 'lo']);
      const cfg = path.join(dir, `${n.name}.yaml`);
      fs.writeFileSync(cfg, [
        `name: ${n.name}`, 'eids:', `  - ${n.eid}/32`, 'rlocs: {interfaces: [eth0]}',
        `decent: {group: 224.1.1.1, seeds: [${i === 0 ? '' : alpha.address}]}`, 'auth: {key: decent-password}',
        `nat: {keepalive: 2s, rtr: ${n.name === 'alpha'}}`,
        // sealed end to end: beta and pi agree keys through alpha, which relays without decrypting
        `dataplane: {tun: decent0, encryption: ${o.encryption ?? 'required'}}`, `api: {socket: ${sock(n.name)}}`, '',
      ].join('\n'));
      children.push(spawn('ip', ['netns', 'exec', ns[i].name, process.execPath, bin, 'run', '--config', cfg], { stdio: 'ignore' }));
    };
    NODES.slice(0, FIRST).forEach(startNode);
    progress(`starting decent: alpha (RTR, ${alpha.address}), beta (${bed.nodes[1].address}), pi (${nat.hostAddress} behind 198.51.100.10)`);
    const until = async (what: string, ms: number, ok: () => Promise<boolean>, stepMs = 100): Promise<number | null> => {
      const by = Date.now() + ms;
      while (Date.now() < by) {
        if (await ok().catch(() => false)) return Date.now() - t0;
        await new Promise((r) => setTimeout(r, stepMs));
      }
      result.problems.push(what);
      return null;
    };
    type Status = { nat: { behindNat?: boolean; translated?: { address: string; port: number }; relaying: { name: string; dataPort?: number }[] } };
    result.detected_ms = await until('pi did not detect the NAT', 20_000, async () => (await get<Status>('pi', '/api/status')).nat.behindNat === true);
    const st = await get<Status>('pi', '/api/status').catch(() => undefined);
    if (st?.nat.translated) result.translated = `${st.nat.translated.address}:${st.nat.translated.port}`;
    progress(`pi is behind a NAT (seen as ${result.translated ?? '?'}) after ${result.detected_ms ?? '-'} ms; registering via alpha`);
    const viaRtr = async (name: string): Promise<boolean> => {
      const row = (await get<SiteCacheRow[]>(name, '/api/site-cache')).find((r) => r.eid === '[0]10.0.0.5/32');
      if (!row) return false;
      result.registered_rlocs = [...row.rlocs];
      return row.rlocs.includes(alpha.address) && row.rlocs.some((r) => r.startsWith('198.51.100.10'));
    };
    result.registered_ms = await until('alpha and beta do not hold pi registered via the RTR', 20_000, async () => (await viaRtr('alpha')) && (await viaRtr('beta')));
    await until('pi did not learn the group through alpha', 20_000, async () => (await get<SiteCacheRow[]>('pi', '/api/site-cache')).some((r) => r.eid === '[0]10.0.0.2/32'));
    await until('alpha has no NAT binding for pi', 20_000, async () => (await get<Status>('alpha', '/api/status')).nat.relaying.some((r) => r.dataPort !== undefined));
    result.relay_port = (await get<Status>('alpha', '/api/status').catch(() => undefined))?.nat.relaying.find((r) => r.name === 'pi')?.dataPort ?? null;
    progress(`registered via the RTR after ${result.registered_ms ?? '-'} ms (${result.registered_rlocs.join(', ')}); alpha relays to 198.51.100.10:${result.relay_port ?? '?'}`);
    progress('pinging every EID from every node (pi and beta through alpha)');
    const first = NODES.slice(0, FIRST);
    first.forEach((a, i) => first.forEach((b) => {
      if (a !== b) result.pings[`${a.name}->${b.name}`] = ping(ns[i], a.eid, b.eid, 6);
    }));
    await joinBehindSecondNat();
    for (const n of NODES) {
      const rows = await get<PeerRow[]>(n.name, '/api/peers').catch((): PeerRow[] => []);
      result.paths[n.name] = Object.fromEntries(rows.map((r) => [r.name ?? r.rlocs.join(','), r.path]));
    }
    const counters = await get<{ dataplane: Record<string, number> }>('alpha', '/api/counters').catch(() => undefined);
    // in clear (encryption off) alpha re-encapsulates inner packets; sealed, it relays by the shim
    result.relayed = (counters?.dataplane.rtrRelayed ?? 0) + (counters?.dataplane.rtrRelayedSealed ?? 0);
    if (!Object.values(result.pings).every(Boolean)) result.problems.push('a ping through the overlay failed');
    const priv = nat.hostAddress;
    if (result.registered_rlocs.some((r) => r.startsWith(priv))) result.problems.push('the private RLOC was registered');
    if (result.relayed === 0) result.problems.push('alpha relayed nothing between beta and pi');
    if (result.direct_ms === null) result.problems.push('pi and pj did not go direct');
    if (result.relayed_direct !== 0) result.problems.push(`alpha relayed ${result.relayed_direct ?? '?'} packets between pi and pj on the direct path`);
    result.ok = result.problems.length === 0;
    if (o.during) await o.during({ nodes: NODES.map((n, i) => ({ name: n.name, ns: ns[i], eid: n.eid })), directMs: result.direct_ms });
    return result;

    /** pj joins behind a second NAT: via the RTR first, then direct with pi (src/control/direct.ts). */
    async function joinBehindSecondNat(): Promise<void> {
      progress('pj joins behind a second NAT (198.51.100.11)');
      startNode(NODES[3], 3);
      const up = await until('pj did not start', 20_000, async () => (await get<Status>('pj', '/api/status')) !== undefined);
      const upAt = Date.now();
      type Direct = { nat: { direct?: { address: string; state: string }[] } };
      const pathTo = async (from: string, ip: string): Promise<string | undefined> =>
        (await get<PeerRow[]>(from, '/api/peers')).find((r) => r.rlocs.includes(ip))?.path;
      await until('pi and pj never held each other registered', 20_000, async () => {
        const [a, b] = [await pathTo('pi', '198.51.100.11'), await pathTo('pj', '198.51.100.10')];
        if (a === undefined || b === undefined) return false;
        result.paths_at_join = { 'pi->pj': a, 'pj->pi': b };
        return true;
      }, 50);
      progress(`pj is up (${up ?? '-'} ms after the start); pi -> pj when both know each other: ${result.paths_at_join['pi->pj'] ?? '-'}`);
      const isDirect = async (from: string, ip: string): Promise<boolean> =>
        (await get<Direct>(from, '/api/status')).nat.direct?.some((d) => d.address === ip && d.state === 'direct') === true;
      const at = await until('pi and pj did not go direct', 20_000, async () => (await isDirect('pi', '198.51.100.11')) && (await isDirect('pj', '198.51.100.10')), 50);
      if (at !== null) result.direct_ms = Date.now() - upAt;
      progress(`pi and pj direct ${result.direct_ms ?? '-'} ms after pj was up; pinging between them`);
      const relayed = async (): Promise<number | undefined> => (await get<{ dataplane: Record<string, number> }>('alpha', '/api/counters').catch(() => undefined))?.dataplane.rtrRelayed;
      const before = await relayed();
      result.pings['pi->pj'] = ping(ns[2], NODES[2].eid, NODES[3].eid, 6);
      result.pings['pj->pi'] = ping(ns[3], NODES[3].eid, NODES[2].eid, 6);
      const after = await relayed();
      if (before !== undefined && after !== undefined) result.relayed_direct = after - before;
      // pj and a public member: through alpha, as pi and beta
      result.pings['pj->beta'] = ping(ns[3], NODES[3].eid, NODES[1].eid, 6);
    }
  } finally {
    await stopProcesses(children);
    nat2?.destroy();
    nat?.destroy();
    bed?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
