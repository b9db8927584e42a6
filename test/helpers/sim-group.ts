// Push-mode groups of N members on a SimNet, and what one membership change costs: messages,
// bytes, the largest datagram and CPU, counted by the SimNet's MessageTally. Shared by the scale
// tests (which assert counts, never times) and scripts/bench-scale.ts (which reports them).
import type { ControlConfig } from '../../src/control/config';
import type { ControlNode } from '../../src/control/node';
import type { TallySnapshot } from './message-tally';
import { SimNet, simConfig } from './sim-net';

export interface GroupOptions {
  readonly registerIntervalMs?: number;
  readonly ttlMs?: number;
}

/** Member i (1-based, up to 65,279): RLOC 10.H.L.1, EID 172.(16+H).L.0/24, seeded from member 1. */
export function memberConfig(i: number, o: GroupOptions = {}): ControlConfig {
  const hi = i >> 8, lo = i & 255;
  return simConfig({
    name: `m${i}`, rloc: `10.${hi}.${lo}.1`, eids: [`172.${16 + hi}.${lo}.0/24`], seeds: [i === 1 ? '10.0.2.1' : '10.0.1.1'],
    registerIntervalMs: o.registerIntervalMs, ttlMs: o.ttlMs,
  });
}

export const memberEidKey = (i: number): string => `[0]172.${16 + (i >> 8)}.${i & 255}.0/24`;

/** Every member knows `n` EIDs plus the group entry, and replicates to the other n − 1. */
export function groupComplete(nodes: readonly ControlNode[], n = nodes.length): boolean {
  return nodes.every((m) => m.siteCache.size === n + 1 && m.replicationTargets().length === n - 1);
}

export interface SimGroup {
  readonly net: SimNet;
  readonly nodes: ControlNode[];
  /** Simulated time from the first start until every site cache was complete, or -1. */
  readonly convergedMs: number;
  /** Process CPU the convergence took, in ms (all members run in this process). */
  readonly cpuMs: number;
  readonly traffic: TallySnapshot;
}

/**
 * Starts `n` members at once (each seeded from member 1), or `wave` at a time, each wave once the
 * members before it have converged (a group growing; a thousand starting in the same millisecond
 * all bootstrap through member 1 and run into its budget for unknown sources), and runs until the
 * group has converged, or `maxMs` of simulated time or `cpuBudgetMs` of CPU have passed
 * (convergedMs is then -1).
 */
export function startGroup(n: number, o: GroupOptions & { readonly maxMs?: number; readonly cpuBudgetMs?: number; readonly wave?: number } = {}): SimGroup {
  const net = new SimNet({ keepWire: false });
  const nodes = Array.from({ length: n }, (_, i) => net.addNode(memberConfig(i + 1, o)));
  const cpu = process.cpuUsage();
  const wave = o.wave ?? n;
  for (let started = wave; started < n; started += wave) {
    nodes.slice(started - wave, started).forEach((m) => m.start());
    const up = nodes.slice(0, started);
    for (let t = 0; t <= (o.maxMs ?? 120_000) && !groupComplete(up); t += 50) net.advance(50);
  }
  nodes.slice(n - ((n - 1) % wave) - 1).forEach((m) => m.start());
  const cpuMs = (): number => {
    const u = process.cpuUsage(cpu);
    return (u.user + u.system) / 1000;
  };
  let convergedMs = -1;
  for (let t = 0; t <= (o.maxMs ?? 120_000); t += 50) {
    if (groupComplete(nodes)) {
      convergedMs = t;
      break;
    }
    if (cpuMs() > (o.cpuBudgetMs ?? Infinity)) break;
    net.advance(50);
  }
  const used = process.cpuUsage(cpu);
  return { net, nodes, convergedMs, cpuMs: (used.user + used.system) / 1000, traffic: net.tally.snapshot() };
}

export interface ChangeCost {
  /** Simulated time until every member saw the change, or -1 (not seen, or the budget ran out). */
  readonly propagatedMs: number;
  /** The message budget ran out before the change settled (counts below are then lower bounds). */
  readonly overBudget: boolean;
  /** Process CPU spent on the change across the whole group, in ms. */
  readonly cpuMs: number;
  /** Everything sent from the change until `settleMs` after it propagated. */
  readonly traffic: TallySnapshot;
}

export interface ChangeOptions {
  /** Simulated time to keep counting after the change reached everyone (acks, retransmissions). */
  readonly settleMs?: number;
  /** Stop once this many messages were sent: today's O(N²) costs need not run to the end. */
  readonly messageBudget?: number;
  readonly maxMs?: number;
}

function measure(net: SimNet, change: () => void, seen: () => boolean, o: ChangeOptions): ChangeCost {
  const budget = o.messageBudget ?? Infinity;
  const stepMs = 5;
  net.tally.reset();
  const cpu = process.cpuUsage();
  change();
  const start = net.now;
  let propagatedMs = -1;
  let overBudget = false;
  const over = (): boolean => net.tally.snapshot().messages > budget;
  while (net.now - start <= (o.maxMs ?? 30_000)) {
    net.advance(stepMs);
    if (over()) {
      overBudget = true;
      break;
    }
    if (seen()) {
      propagatedMs = net.now - start;
      break;
    }
  }
  if (propagatedMs >= 0) {
    const end = net.now + (o.settleMs ?? 10_000);
    while (net.now < end && !overBudget) {
      net.advance(Math.min(100, end - net.now));
      overBudget = over();
    }
  }
  const used = process.cpuUsage(cpu);
  return { propagatedMs: overBudget ? -1 : propagatedMs, overBudget, cpuMs: (used.user + used.system) / 1000, traffic: net.tally.snapshot() };
}

/** A new member (index nodes.length + 1) joins through member 1; counts until every member has it. */
export function measureJoin(g: SimGroup, o: ChangeOptions & GroupOptions = {}): ChangeCost & { readonly joiner: ControlNode } {
  const i = g.nodes.length + 1;
  const joiner = g.net.addNode(memberConfig(i, o));
  const all = [...g.nodes, joiner];
  const cost = measure(g.net, () => joiner.start(), () => groupComplete(all), o);
  g.nodes.push(joiner);
  return { ...cost, joiner };
}

/** The last member stops with a goodbye (Record TTL 0); counts until no member has its EID. */
export function measureLeave(g: SimGroup, o: ChangeOptions = {}): ChangeCost {
  const leaver = g.nodes.pop();
  if (!leaver) throw new RangeError('no member to leave');
  const key = memberEidKey(g.nodes.length + 1);
  const change = (): void => {
    leaver.stop(true);
    g.net.kill(leaver);
  };
  return measure(g.net, change, () => g.nodes.every((m) => !m.siteCache.get(key)), o);
}
