/**
 * How a LISP-Decent push group scales (issue 17): convergence, steady CPU and traffic, and what a
 * membership change costs.
 *
 *   real: N `decent run` nodes in namespaces on one bridge (needs root; control plane only, or
 *         --dataplane): converge time, per-node CPU and RSS, bridge packets and bytes per second,
 *         join and leave propagation.
 *   sim:  N ControlNodes on a SimNet (one process, simulated clock): converge time and CPU, then
 *         one join and one leave with their messages and bytes, per node, and the largest message.
 *         A CPU budget per run stops today's O(N²)/O(N³) costs from running for hours.
 *
 *   pull: N `decent run` nodes in pull mode, --sets Map-Server sets published by dnsmasq (RFC 9962
 *         §5): registration time, every node looks up every other node's EID through hash → DNS
 *         → set, then one set member dies and the lookups for its set count their retries.
 *
 * Each size runs --rounds times; the table gives medians and min–max.
 *
 * Usage: npm run bench:scale -- --mode real --nodes 10,25,50 [--rounds 3] [--dataplane]
 *        npm run bench:scale -- --mode sim --nodes 100,200,1000 [--budget 120] [--json]
 *        npm run bench:scale -- --mode pull --nodes 50 --sets 8
 */
import { startGroup, measureJoin, measureLeave, type ChangeCost } from '../test/helpers/sim-group';
import { netnsAvailable } from '../src/testbed/netns';
import { positiveInt, scriptArgs } from './lib/args';
import { abortPull, runPull, type PullResult } from './lib/scale-pull';
import { abortReal, runReal, type RealResult } from './lib/scale-real';
import { summarize } from './lib/stats';

const USAGE = `usage: node dist/scripts/bench-scale.js --mode real|sim|pull --nodes N[,N…] [options]
  --rounds R      repetitions per size (default 3)
  --dataplane     real mode: run each node's data plane (TUN) too
  --interval D    real mode: register interval (default 10s); --ttl D registration TTL (default 30s)
  --steady S      real mode: seconds of steady state sampled (default 20)
  --budget S      sim mode: CPU seconds one run may use before it is stopped (default 120)
  --wave K        sim mode: start the members K at a time, each wave once the group has converged
                  (default: all at once; 1,000 at once bootstrap through one seed)
  --sets S        pull mode: Map-Server sets (the pull modulus; default 8, at least 2 nodes each)
  --json          one JSON object per run on stdout, then the summary
`;

const args = scriptArgs(USAGE, {
  mode: { type: 'string', default: 'sim' },
  nodes: { type: 'string', default: '10' },
  rounds: { type: 'string', default: '3' },
  dataplane: { type: 'boolean', default: false },
  interval: { type: 'string', default: '10s' },
  ttl: { type: 'string', default: '30s' },
  steady: { type: 'string', default: '20' },
  budget: { type: 'string', default: '120' },
  wave: { type: 'string', default: '0' },
  sets: { type: 'string', default: '8' },
  json: { type: 'boolean', default: false },
});

const sizes = args.nodes.split(',').map((s) => positiveInt('nodes', s));
const rounds = positiveInt('rounds', args.rounds);
const progress = (line: string): void => {
  process.stderr.write(`[bench-scale ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};
const fmt = (values: readonly (number | null)[], digits = 0, unit = ''): string => {
  const ok = values.filter((v): v is number => v !== null && Number.isFinite(v));
  const missing = values.length - ok.length;
  if (ok.length === 0) return 'never';
  const s = summarize(ok);
  const f = (v: number): string => v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const range = s.n > 1 ? ` (${f(s.min)}–${f(s.max)})` : '';
  return `${f(s.median)}${unit}${range}${missing ? `, ${missing}/${values.length} never` : ''}`;
};

interface SimRun {
  readonly nodes: number;
  readonly convergedMs: number;
  readonly convergeCpuS: number;
  readonly convergeMessages: number;
  readonly join: ChangeCost | null;
  readonly leave: ChangeCost | null;
  /** The CPU budget ran out: the run stopped there. */
  readonly stopped: string | null;
}

function simRun(n: number, budgetS: number): SimRun {
  // A message costs tens of µs to ms of CPU today: the budget becomes a message budget per phase.
  const wave = Number(args.wave) > 0 ? positiveInt('wave', args.wave) : undefined;
  const g = startGroup(n, { maxMs: 60_000, cpuBudgetMs: budgetS * 1000, wave });
  const convergeCpuS = g.cpuMs / 1000;
  if (g.convergedMs < 0) {
    return { nodes: n, convergedMs: -1, convergeCpuS, convergeMessages: g.traffic.messages, join: null, leave: null, stopped: 'converge' };
  }
  g.net.advance(5_000);
  const perMessageS = convergeCpuS / Math.max(1, g.traffic.messages);
  const messageBudget = Math.max(10 * n, Math.floor(budgetS / Math.max(perMessageS, 1e-7)));
  const joined = measureJoin(g, { settleMs: 10_000, messageBudget });
  const join: ChangeCost = { propagatedMs: joined.propagatedMs, overBudget: joined.overBudget, cpuMs: joined.cpuMs, traffic: joined.traffic };
  if (join.overBudget) return { nodes: n, convergedMs: g.convergedMs, convergeCpuS, convergeMessages: g.traffic.messages, join, leave: null, stopped: 'join' };
  const leave = measureLeave(g, { settleMs: 10_000, messageBudget });
  return { nodes: n, convergedMs: g.convergedMs, convergeCpuS, convergeMessages: g.traffic.messages, join, leave, stopped: leave.overBudget ? 'leave' : null };
}

function simTable(runs: readonly SimRun[]): string {
  const rows = ['| N | converge (sim) | converge CPU | join: messages | join: bytes | join: CPU | join: most sent by one node | join: largest message | leave: messages | leave: bytes |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const n of sizes) {
    const rs = runs.filter((r) => r.nodes === n);
    const j = rs.map((r) => r.join);
    const l = rs.map((r) => r.leave);
    const over = (c: ChangeCost | null): string => (c?.overBudget ? ' (stopped at the budget)' : '');
    rows.push(`| ${n} | ${fmt(rs.map((r) => (r.convergedMs < 0 ? null : r.convergedMs)), 0, ' ms')} | ${fmt(rs.map((r) => r.convergeCpuS), 1, ' s')} | ` +
      `${fmt(j.map((c) => c?.traffic.messages ?? null))}${over(j[0])} | ${fmt(j.map((c) => (c ? c.traffic.bytes / 1e6 : null)), 2, ' MB')} | ` +
      `${fmt(j.map((c) => (c ? c.cpuMs / 1000 : null)), 2, ' s')} | ${fmt(j.map((c) => c?.traffic.perNode[0]?.sent ?? null))} | ` +
      `${fmt(j.map((c) => c?.traffic.largestPacket ?? null), 0, ' B')} | ${fmt(l.map((c) => c?.traffic.messages ?? null))}${over(l[0])} | ` +
      `${fmt(l.map((c) => (c ? c.traffic.bytes / 1e6 : null)), 2, ' MB')} |`);
  }
  return rows.join('\n');
}

function realTable(runs: readonly RealResult[]): string {
  const rows = ['| N | converge | last node up | CPU/node steady | RSS/node | bridge packets/s | bridge KB/s | join seen by all (polled) | join at every member (site-cache clocks) | joiner holds every member | leave seen by all | UDP rcvbuf drops |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const n of sizes) {
    const rs = runs.filter((r) => r.nodes === n);
    rows.push(`| ${n}${args.dataplane ? ', data planes' : ''} | ${fmt(rs.map((r) => (r.convergeMs === null ? null : r.convergeMs / 1000)), 1, ' s')} | ` +
      `${fmt(rs.map((r) => (r.lastUpMs === null ? null : r.lastUpMs / 1000)), 1, ' s')} | ${fmt(rs.map((r) => r.cpuPctPerNode), 2, ' %')} | ` +
      `${fmt(rs.map((r) => r.rssMbPerNode), 0, ' MB')} | ${fmt(rs.map((r) => r.bridgePps))} | ${fmt(rs.map((r) => r.bridgeKBps), 1)} | ` +
      `${fmt(rs.map((r) => (r.joinMs === null ? null : r.joinMs / 1000)), 2, ' s')} | ` +
      `${fmt(rs.map((r) => (r.joinStamps ? r.joinStamps.membersMs / 1000 : null)), 2, ' s')} | ${fmt(rs.map((r) => (r.joinStamps ? r.joinStamps.joinerMs / 1000 : null)), 2, ' s')} | ${fmt(rs.map((r) => (r.leaveMs === null ? null : r.leaveMs / 1000)), 2, ' s')} | ` +
      `${fmt(rs.map((r) => r.udpRcvbufErrors))} |`);
  }
  return rows.join('\n');
}

function pullTable(runs: readonly PullResult[]): string {
  const rows = ['| N, sets | registered at every set member | lookups answered | lookup RTT | all lookups (wall) | after a set member died: answered | retries per lookup (max) | CPU/node, start to end | RSS/node |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const n of sizes) {
    const rs = runs.filter((r) => r.nodes === n);
    rows.push(`| ${n}, ${rs[0]?.sets ?? '-'} | ${fmt(rs.map((r) => (r.registeredMs === null ? null : r.registeredMs / 1000)), 1, ' s')} | ` +
      `${rs.map((r) => `${r.lookups.answered}/${r.lookups.asked}`).join(', ')} | ${fmt(rs.map((r) => r.lookups.medianMs), 1, ' ms')} | ` +
      `${fmt(rs.map((r) => r.lookups.wallMs / 1000), 1, ' s')} | ${rs.map((r) => `${r.failover.answered}/${r.failover.asked}`).join(', ')} | ` +
      `${rs.map((r) => r.failover.maxRetries).join(', ')} | ${fmt(rs.map((r) => r.cpuPctPerNode), 1, ' %')} | ${fmt(rs.map((r) => r.rssMbPerNode), 0, ' MB')} |`);
  }
  return rows.join('\n');
}

async function runPullMode(): Promise<void> {
  const runs: PullResult[] = [];
  for (const n of sizes) {
    for (let r = 0; r < rounds; r++) {
      progress(`pull ${n} nodes, round ${r + 1}/${rounds}`);
      const run = await runPull({ nodes: n, sets: positiveInt('sets', args.sets), registerTimeoutMs: 120_000, subnetOctet: (process.pid % 200) + 20, progress });
      runs.push(run);
      if (args.json) process.stdout.write(`${JSON.stringify(run)}\n`);
    }
  }
  process.stdout.write(`${pullTable(runs)}\n`);
}

async function main(): Promise<void> {
  if (args.mode === 'sim') {
    const budget = positiveInt('budget', args.budget);
    const runs: SimRun[] = [];
    for (const n of sizes) {
      for (let r = 0; r < rounds; r++) {
        progress(`sim ${n} members, round ${r + 1}/${rounds}`);
        const run = simRun(n, budget);
        runs.push(run);
        if (args.json) process.stdout.write(`${JSON.stringify({ ...run, join: run.join && { ...run.join, traffic: { ...run.join.traffic, perNode: run.join.traffic.perNode.slice(0, 5) } }, leave: run.leave && { ...run.leave, traffic: { ...run.leave.traffic, perNode: run.leave.traffic.perNode.slice(0, 5) } } })}\n`);
        progress(`  converged in ${run.convergedMs} ms simulated, ${run.convergeCpuS.toFixed(1)} CPU-s; join ${run.join?.traffic.messages ?? '-'} messages${run.stopped ? `; stopped at the budget (${run.stopped})` : ''}`);
      }
    }
    process.stdout.write(`${simTable(runs)}\n`);
    return;
  }
  if (args.mode !== 'real' && args.mode !== 'pull') {
    process.stderr.write(`--mode must be real, sim or pull\n\n${USAGE}`);
    process.exit(2);
  }
  const root = netnsAvailable();
  if (!root.ok) {
    process.stderr.write(`bench-scale --mode ${args.mode}: ${root.reason}\n`);
    process.exit(1);
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      abortReal();
      abortPull();
      process.exit(130);
    });
  }
  if (args.mode === 'pull') {
    await runPullMode();
    return;
  }
  const runs: RealResult[] = [];
  for (const n of sizes) {
    for (let r = 0; r < rounds; r++) {
      progress(`real ${n} nodes, round ${r + 1}/${rounds}`);
      const run = await runReal({
        nodes: n, dataplane: args.dataplane, interval: args.interval, ttl: args.ttl, steadyMs: positiveInt('steady', args.steady) * 1000,
        convergeTimeoutMs: 300_000, changeTimeoutMs: 60_000, subnetOctet: (process.pid % 200) + 20, progress,
      });
      runs.push(run);
      if (args.json) process.stdout.write(`${JSON.stringify(run)}\n`);
    }
  }
  process.stdout.write(`${realTable(runs)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-scale: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
