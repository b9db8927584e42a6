/**
 * The NAT traversal targets of issue 16, measured on real `decent run` processes in namespaces
 * (src/testbed/nat-group.ts): two public RTR members r1 and r2 (`nat.rtr: true`), a public member
 * pub, and pi behind an nftables masquerade NAT seeding from r1 and r2 (and pj behind another). Each round builds a fresh
 * group and runs every measure in order on it; the table gives medians and min–max over rounds.
 *
 *   join            pi started into the running group → first echo reply pi -> pub, and pub -> pi
 *   rebinding       the NAT forgets its mappings (conntrack flush), then moves to a new public
 *                   address → pings flowing again both ways (the later of the two directions)
 *   throughput      iperf3 TCP pub -> pi (relayed by an RTR) against pub -> r1 (direct), in the
 *                   same round, order alternating; the ratio per round
 *   direct path     pj joins behind a second NAT → pi and pj both send to each other directly
 *                   (src/control/direct.ts), from pj's process answering its API
 *   RTR failover    the RTR that carries the pings is SIGKILLed → pings flowing again both ways
 *
 * Pings run continuously (every 100 ms, `ping -D`), so a recovery time is the arrival of the first
 * echo reply after the event, to within 100 ms. Each event comes after a random wait of up to one
 * keepalive: recoveries wait for the next keepalive, and a fixed schedule would lock their phase.
 * Encryption off by default (`--encryption required`: sealed end to end, also through the RTR).
 * Figures are for the machine they ran on: never thresholds. Needs root, iperf3 and nftables.
 *
 * To add a measure (e.g. "direct path chosen"): append a Measure to MEASURES; it gets the round's
 * running group and returns its figures. Destructive measures (RTR failover) stay last.
 *
 * Usage: npm run bench:nat -- [--rounds 5] [--keepalive 2s] [--seconds 3] [--json]
 */
import { spawn, spawnSync } from 'node:child_process';
import type { SiteCacheRow } from '../src/control/protocol';
import { netnsAvailable } from '../src/testbed/netns';
import { startNatGroup, type NatGroup, type NatStatusView } from '../src/testbed/nat-group';
import { positiveInt, scriptArgs } from './lib/args';
import { summarize } from './lib/stats';

const USAGE = `usage: node dist/scripts/bench-nat.js [options]
  --rounds N       rounds, each on a fresh group (default 5)
  --keepalive D    nat.keepalive of every node (default 2s)
  --seconds S      iperf3 duration per path (default 3)
  --encryption M   dataplane.encryption of every node: off (default), preferred or required
                   (required: pub -> pi is sealed end to end, the RTRs relay it by its relay shim);
                   several, comma-separated: the rounds take them in turn and each figure is
                   reported per mode (--rounds counts the rounds of each mode)
  --only NAMES     run only these measures (comma-separated: join, rebinding, throughput, RTR failover)
  --json           the per-round figures and the summary as JSON on stdout
`;
const args = scriptArgs(USAGE, {
  rounds: { type: 'string', default: '5' },
  keepalive: { type: 'string', default: '2s' },
  seconds: { type: 'string', default: '3' },
  encryption: { type: 'string', default: 'off' },
  only: { type: 'string', default: '' },
  json: { type: 'boolean', default: false },
});
const MODES = ['off', 'preferred', 'required'] as const;
const ENCRYPTION = args.encryption.split(',').map((x) => MODES.find((m) => m === x.trim()));
if (ENCRYPTION.length === 0 || ENCRYPTION.some((m) => m === undefined)) {
  process.stderr.write(`--encryption must be off, preferred or required (or several, comma-separated), got ${JSON.stringify(args.encryption)}\n`);
  process.exit(2);
}
/** Each figure's key names the mode when several are compared. */
const keyOf = (key: string, mode: string): string => (ENCRYPTION.length > 1 ? `${key} [encryption ${mode}]` : key);
const ONLY = args.only === '' ? undefined : new Set(args.only.split(',').map((x) => x.trim()));
const ROUNDS = positiveInt('rounds', args.rounds);
const SECONDS = positiveInt('seconds', args.seconds);
const KEEPALIVE_MS = ((m) => (m ? Number(m[1]) * (m[2] === 'ms' ? 1 : 1000) : NaN))(/^(\d+)(ms|s)$/.exec(args.keepalive));
if (!(KEEPALIVE_MS > 0)) {
  process.stderr.write(`--keepalive must be like 2s or 500ms, got ${JSON.stringify(args.keepalive)}\n`);
  process.exit(2);
}

/** One figure of a round. `target` is the target for it, as text. */
export interface Figure { readonly key: string; readonly value: number; readonly unit: 'ms' | 'Mbit/s' | '×'; readonly target?: string }

export interface Round {
  readonly g: NatGroup;
  readonly index: number;
  readonly keepalive: string;
  log(line: string): void;
}

export interface Measure {
  readonly name: string;
  run(r: Round): Promise<Figure[]>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** ms from `at` until echo replies arrive again both ways (continuous pings), or throws after `maxMs`. */
async function outage(g: NatGroup, what: string, event: () => void, maxMs = 60_000): Promise<number> {
  const out = g.pingStream('pub', 'pi'), back = g.pingStream('pi', 'pub');
  try {
    if (await g.until(10_000, () => out.replies.length > 2 && back.replies.length > 2) === null) throw new Error(`${what}: no pings before the event`);
    await sleep(Math.random() * KEEPALIVE_MS);
    event();
    const at = Date.now();
    if (await g.until(maxMs, () => out.firstAfter(at) !== undefined && back.firstAfter(at) !== undefined) === null) throw new Error(`${what}: pings did not resume within ${maxMs} ms`);
    return Math.max((out.firstAfter(at) ?? at) - at, (back.firstAfter(at) ?? at) - at);
  } finally {
    out.stop();
    back.stop();
  }
}

async function iperf(g: NatGroup, server: string, client: string): Promise<number> {
  const s = g.nodes.get(server), c = g.nodes.get(client);
  if (!s || !c) throw new Error('no such node');
  const srv = spawn('ip', ['netns', 'exec', s.ns.name, 'iperf3', '-s', '-1', '-B', s.eid], { stdio: 'ignore' });
  try {
    await sleep(300);
    const r = spawnSync('ip', ['netns', 'exec', c.ns.name, 'iperf3', '-c', s.eid, '-B', c.eid, '-t', String(SECONDS), '-J'], { encoding: 'utf8', timeout: (SECONDS + 20) * 1000 });
    return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
  } finally {
    srv.kill();
  }
}

const MEASURES: Measure[] = [
  {
    name: 'join',
    async run({ g }) {
      // the public members hold each other before pi starts
      const holds = async (name: string, eid: string): Promise<boolean> => (await g.get<SiteCacheRow[]>(name, '/api/site-cache')).some((x) => x.eid === `[0]${eid}/32`);
      const eidOf = (n: string): string => g.nodes.get(n)?.eid ?? '';
      if (await g.until(30_000, async () => (await holds('pub', eidOf('r1'))) && (await holds('pub', eidOf('r2'))) && (await holds('r1', eidOf('pub')))) === null) throw new Error('the public members did not converge');
      const startedAt = g.startPi();
      const out = g.pingStream('pi', 'pub'), back = g.pingStream('pub', 'pi');
      try {
        if (await g.until(30_000, () => out.replies.length > 0 && back.replies.length > 0) === null) throw new Error('no first ping within 30 s');
        return [
          { key: 'join: pi started -> first ping pi -> pub', value: out.replies[0] - startedAt, unit: 'ms', target: '< 2 s' },
          { key: 'join: pi started -> first ping pub -> pi', value: back.replies[0] - startedAt, unit: 'ms', target: '< 2 s' },
        ];
      } finally {
        out.stop();
        back.stop();
      }
    },
  },
  {
    name: 'rebinding',
    async run({ g, keepalive }) {
      const target = `< 1 keepalive (${keepalive}) + 1 s`;
      const flush = await outage(g, 'conntrack flush', () => g.nat.flushConntrack());
      await sleep(1000);
      const moved = await outage(g, 'new public address', () => g.nat.changePublicAddress(g.nat.publicAddress === '198.51.100.31' ? '198.51.100.30' : '198.51.100.31'));
      return [
        { key: 'rebinding: NAT conntrack flushed -> pings both ways', value: flush, unit: 'ms', target },
        { key: 'rebinding: NAT public address changed -> pings both ways', value: moved, unit: 'ms', target },
      ];
    },
  },
  {
    name: 'throughput',
    async run({ g, index }) {
      // pub -> pi waits for pi's registration at its new address (previous measure)
      if (await g.until(20_000, () => g.ping('pub', 'pi')) === null) throw new Error('pub -> pi does not ping');
      let relayed = 0, direct = 0;
      if (index % 2 === 0) relayed = await iperf(g, 'pi', 'pub');
      direct = await iperf(g, 'r1', 'pub');
      if (index % 2 === 1) relayed = await iperf(g, 'pi', 'pub');
      return [
        { key: 'TCP pub -> pi through an RTR', value: relayed, unit: 'Mbit/s' },
        { key: 'TCP pub -> r1 direct', value: direct, unit: 'Mbit/s' },
        { key: 'throughput RTR / direct', value: direct > 0 ? relayed / direct : 0, unit: '×', target: '≥ 0.45' },
      ];
    },
  },
  {
    name: 'direct path',
    async run({ g }) {
      // pj joins behind a second NAT: from its process answering its API until pi and pj both
      // send to each other directly (src/control/direct.ts), not through an RTR
      type Direct = { nat: { direct?: { address: string; state: string }[] } };
      const at = (n: string): string => (n === 'pj' ? g.nat2?.publicAddress : g.nat.publicAddress) ?? '';
      const direct = async (from: string, to: string): Promise<boolean> =>
        (await g.get<Direct>(from, '/api/status')).nat.direct?.some((d) => d.address === at(to) && d.state === 'direct') === true;
      g.startPj();
      if (await g.until(30_000, async () => (await g.get<Direct>('pj', '/api/status')) !== undefined) === null) throw new Error('pj did not start');
      const upAt = Date.now();
      if (await g.until(30_000, async () => (await direct('pi', 'pj')) && (await direct('pj', 'pi'))) === null) throw new Error('pi and pj did not go direct within 30 s');
      return [{ key: 'direct path: pj up -> pi and pj both direct', value: Date.now() - upAt, unit: 'ms', target: '< 3 s' }];
    },
  },
  {
    name: 'RTR failover',
    async run({ g, log }) {
      // kill the RTR that relays the pings (each flow hashes to one of the two)
      const relayed = async (name: string): Promise<number> => {
        const c = (await g.get<{ dataplane: Record<string, number> }>(name, '/api/counters')).dataplane;
        return (c.rtrRelayed ?? 0) + (c.rtrRelayedSealed ?? 0); // clear, or sealed by the relay shim
      };
      const before = [await relayed('r1'), await relayed('r2')];
      const probe = g.pingStream('pub', 'pi'), probeBack = g.pingStream('pi', 'pub');
      await sleep(1000);
      probe.stop();
      probeBack.stop();
      const dead = (await relayed('r1')) - before[0] >= (await relayed('r2')) - before[1] ? 'r1' : 'r2';
      const ms = await outage(g, 'RTR killed', () => g.kill(dead));
      const status = (await g.get<NatStatusView>('pi', '/api/status')).nat;
      log(`killed ${dead}; pi's RTRs now ${status.rtrs.join(', ')} (down: ${(status.rtrsDown ?? []).join(', ') || 'none'})`);
      return [{ key: 'RTR failover: RTR killed -> pings both ways', value: ms, unit: 'ms' }];
    },
  },
];

async function main(): Promise<void> {
  const avail = netnsAvailable();
  if (!avail.ok) {
    process.stderr.write(`bench-nat: ${avail.reason}\n`);
    process.exit(1);
  }
  const rounds: Figure[][] = [];
  for (let index = 0; index < ROUNDS * ENCRYPTION.length; index++) {
    const mode = ENCRYPTION[index % ENCRYPTION.length] ?? 'off';
    const g = startNatGroup({
      prefix: 'bnat', publics: [{ name: 'r1', rtr: true }, { name: 'r2', rtr: true }, { name: 'pub' }], piSeeds: ['r1', 'r2'], keepalive: args.keepalive, holdPi: true, pj: true,
      encryption: mode,
    });
    const figures: Figure[] = [];
    const log = (line: string): void => { process.stderr.write(`round ${index + 1}: ${line}\n`); };
    try {
      for (const m of MEASURES) {
        // (join starts pi: it always runs)
        if (ONLY && m.name !== 'join' && !ONLY.has(m.name)) continue;
        try {
          const got = await m.run({ g, index: Math.floor(index / ENCRYPTION.length), keepalive: args.keepalive, log });
          figures.push(...got.map((f) => ({ ...f, key: keyOf(f.key, mode) })));
          log(got.map((f) => `${f.key} ${f.value.toFixed(f.unit === '×' ? 2 : 0)} ${f.unit}`).join('; '));
        } catch (e) {
          log(`${m.name}: ${(e as Error).message}`);
          log(`pi: ${g.logs.pi?.slice(-1500) ?? ''}`);
        }
      }
    } finally {
      await g.stop();
    }
    rounds.push(figures);
  }
  const keys = [...new Set(rounds.flat().map((f) => f.key))];
  const rows = keys.map((key) => {
    const fs = rounds.flat().filter((f) => f.key === key);
    return { key, unit: fs[0].unit, target: fs[0].target ?? '', ...summarize(fs.map((f) => f.value)) };
  });
  const fmt = (v: number, unit: string): string => (unit === '×' ? v.toFixed(2) : unit === 'ms' ? (v / 1000).toFixed(2) : v.toFixed(0));
  const shown = (unit: string): string => (unit === 'ms' ? 's' : unit);
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ keepalive: args.keepalive, encryption: ENCRYPTION.join(','), seconds: SECONDS, rounds, summary: rows }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`bench-nat: ${ROUNDS} rounds, keepalive ${args.keepalive}, encryption ${ENCRYPTION.join(',')}, iperf3 ${SECONDS} s, ${new Date().toISOString()}\n\n`);
  process.stdout.write('| measure | target | median | min–max | n |\n|---|---|---:|---:|---:|\n');
  for (const r of rows) process.stdout.write(`| ${r.key} | ${r.target} | ${fmt(r.median, r.unit)} ${shown(r.unit)} | ${fmt(r.min, r.unit)}–${fmt(r.max, r.unit)} | ${r.n} |\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${String((e as Error).stack ?? e)}\n`);
  process.exit(1);
});
