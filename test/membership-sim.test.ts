// Incremental membership (issue 17) on a SimNet: whatever order the members start in, whichever
// member each one seeds from (a seed may start after the members that name it) and however
// datagrams overtake each other, every member ends up with every member in its list and every
// EID in its site cache — by the join messages alone, without waiting for a periodic round.
import test from 'ava';
import { Xorshift32 } from '../scripts/lib/xorshift';
import { rleEntries } from '../src/control/locators';
import type { ControlNode } from '../src/control/node';
import { SimNet, simConfig } from './helpers/sim-net';

const rlocOf = (i: number): string => `10.9.${i >> 8}.${i & 255}`;
const eidOf = (i: number): string => `[0]10.${i >> 8}.${i & 255}.0/24`;

/** The members our group entry (0/0, G) lists: its merged RLE. */
function groupMembers(n: ControlNode): string[] {
  const out: string[] = [];
  for (const l of n.siteCache.get(n.groupKey)?.locators ?? []) {
    for (const e of rleEntries(l.address) ?? []) if (e.address.kind === 'ipv4') out.push(e.address.ip);
  }
  return out.sort();
}

/** What is missing where, in words (empty once every member knows every member and EID). */
function missing(nodes: readonly ControlNode[]): string[] {
  const rlocs = nodes.map((_, i) => rlocOf(i + 1)).sort();
  const out: string[] = [];
  nodes.forEach((n, i) => {
    const list = groupMembers(n);
    const lacks = rlocs.filter((r) => !list.includes(r));
    const eids = nodes.map((_, k) => eidOf(k + 1)).filter((k) => !n.siteCache.get(k));
    const targets = n.replicationTargets().length;
    if (lacks.length || eids.length || targets !== nodes.length - 1) {
      out.push(`n${i + 1}: list lacks ${lacks.join(' ') || '-'}, site cache lacks ${eids.length} EIDs, replicates to ${targets}`);
    }
  });
  return out;
}

interface Scenario {
  readonly net: SimNet;
  readonly nodes: ControlNode[];
  /** When the last member starts (simulated ms). */
  readonly lastStart: number;
  readonly describe: string;
}

/**
 * 10–20 members; member i seeds from a random member started as 1..i−1 in index order (so the
 * seeds connect everyone), a third of them from a second one too, member 1 from member 2 or from
 * nobody; start times random over `spreadMs`; every datagram 1–51 ms in flight.
 */
function scenario(seed: number, spreadMs: number): Scenario {
  const rng = new Xorshift32(seed * 7919);
  const n = 10 + rng.below(11);
  const net = new SimNet({ keepWire: false, jitterMs: () => rng.below(51) });
  const nodes: ControlNode[] = [];
  const seedsOf: string[] = [];
  for (let i = 1; i <= n; i++) {
    const seeds = i === 1 ? (rng.below(2) ? [rlocOf(2)] : []) : [rlocOf(1 + rng.below(i - 1))];
    if (i > 2 && rng.below(3) === 0) seeds.push(rlocOf(1 + rng.below(i - 1)));
    seedsOf.push(seeds.map((s) => s.split('.')[3]).join('+') || '-');
    nodes.push(net.addNode(simConfig({ name: `n${i}`, rloc: rlocOf(i), eids: [eidOf(i).slice(3)], seeds: [...new Set(seeds)] })));
  }
  let lastStart = 0;
  const starts: number[] = [];
  nodes.forEach((node) => {
    const at = rng.below(spreadMs);
    starts.push(at);
    lastStart = Math.max(lastStart, at);
    net.schedule(() => node.start(), at);
  });
  const describe = nodes.map((_, i) => `n${i + 1}(seeds ${seedsOf[i]}, t=${starts[i]})`).join(' ');
  return { net, nodes, lastStart, describe };
}

test('20 random start orders of 10–20 members with random seeds converge within 2 s of the last start', (t) => {
  const took: number[] = [];
  for (let seed = 1; seed <= 20; seed++) {
    const s = scenario(seed, 5_000);
    s.net.advance(s.lastStart);
    // Registration period 60 s: neither a periodic round nor anti-entropy runs in this window.
    const ms = s.net.until(() => missing(s.nodes).length === 0, 2_000);
    t.true(ms >= 0, `seed ${seed}: ${s.describe}\n${missing(s.nodes).join('\n')}`);
    took.push(ms);
    // And it stays so: nothing the join left behind undoes it.
    s.net.advance(5_000);
    t.deepEqual(missing(s.nodes), [], `seed ${seed} after 5 s more`);
  }
  took.sort((a, b) => a - b);
  t.log(`converged after the last start: median ${took[took.length >> 1]} ms, ${took[0]}–${took[took.length - 1]} ms`);
});

test('anti-entropy: two members that missed each other\'s join meet within a few registration periods', (t) => {
  const net = new SimNet();
  const config = (i: number, seeds: string[]): ReturnType<typeof simConfig> => simConfig({
    name: `n${i}`, rloc: rlocOf(i), eids: [eidOf(i).slice(3)], seeds, registerIntervalMs: 2_000, ttlMs: 6_000,
  });
  const nodes = [net.addNode(config(1, [])), net.addNode(config(2, [rlocOf(1)])), net.addNode(config(3, [rlocOf(1)]))];
  nodes[0].start();
  nodes[1].start();
  t.true(net.until(() => missing(nodes.slice(0, 2)).length === 0, 2_000) >= 0);
  // n3 joins while the path between n2 and n3 is cut, and n1's delta about n3 to n2 is lost.
  const cut = new Set([`${rlocOf(2)}>${rlocOf(3)}`, `${rlocOf(3)}>${rlocOf(2)}`, `${rlocOf(1)}>${rlocOf(2)}`]);
  net.dropIf = (from, to) => cut.has(`${from}>${to}`);
  nodes[2].start();
  net.advance(500);
  cut.delete(`${rlocOf(1)}>${rlocOf(2)}`);
  // Longer than a Map-Notify's members are kept (6 s here) and than n1's notify retransmissions.
  net.advance(15_000);
  t.falsy(nodes[1].siteCache.get(eidOf(3)), 'n2 has no registration from n3');
  t.falsy(nodes[2].siteCache.get(eidOf(2)), 'n3 has no registration from n2');
  net.dropIf = undefined;
  const ms = net.until(() => missing(nodes).length === 0, 3 * 2_000);
  t.true(ms >= 0, missing(nodes).join('\n'));
  t.true((nodes[0].counters.get('members.gossip.sent') ?? 0) > 0);
});
