// Starts real `decent run` nodes (control plane only) in a bridge testbed and waits until every
// site cache is complete. Everything is removed in the test's teardown, also on failure.
import type { ExecutionContext } from 'ava';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../../src/api/client';
import { createTestbed, type Testbed } from '../../scripts/lib/testbed';

export { DECENT_BIN } from '../../src/testbed/member';
import { DECENT_BIN } from '../../src/testbed/member';

export interface RunningNodes {
  readonly bed: Testbed;
  readonly dir: string;
  sock(i: number): string;
  /** Node i's process (1-based). */
  child(i: number): ChildProcess;
  /** Starts node i again with the same config (after it was killed). */
  restart(i: number): void;
}

export interface NodesOptions {
  readonly prefix: string;
  readonly count: number;
  /** First three octets; node i (1-based) gets .10+i. */
  readonly subnet: string;
  /** Extra YAML lines for node i (1-based). */
  readonly extra?: (i: number) => string[];
  /** Underlay multicast instead of head-end replication (the bridge then floods multicast). */
  readonly replication?: 'her' | 'multicast';
  /** How long to wait for convergence. */
  readonly convergeTimeoutMs?: number;
}

/** SIGTERMs node processes (they withdraw and remove what they added) and waits for them to exit. */
export async function stopChildren(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(children.map((c) => new Promise<void>((r) => {
    if (c.exitCode !== null || c.signalCode !== null) return r();
    c.once('exit', () => r());
    c.kill('SIGTERM');
  })));
}

export async function startNodes(t: ExecutionContext, o: NodesOptions): Promise<RunningNodes> {
  const multicast = o.replication === 'multicast';
  const bed = createTestbed({ prefix: o.prefix, nodes: o.count, subnet: o.subnet, firstHost: 11, multicastFlood: multicast });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `decent-${o.prefix}-`));
  const children: ChildProcess[] = [];
  t.teardown(async () => {
    await stopChildren(children);
    bed.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const sock = (i: number): string => path.join(dir, `n${i}.sock`);
  const spawnNode = (i: number): void => {
    children[i - 1] = bed.nodes[i - 1].ns.spawn([process.execPath, DECENT_BIN, 'run', '--config', path.join(dir, `n${i}.yaml`)]);
  };
  for (const n of bed.nodes) {
    const i = n.index + 1;
    const cfg = path.join(dir, `n${i}.yaml`);
    fs.writeFileSync(cfg, [
      `name: n${i}`, 'eids:', `  - 10.${i}.0.0/16`, 'rlocs:', '  interfaces: [eth0]', 'decent:', '  group: 224.9.9.9',
      `  replication: ${o.replication ?? 'her'}`,
      // With underlay multicast the group itself is the way in: no seeds.
      multicast ? '  seeds: []' : `  seeds: [${bed.nodes[(n.index + 1) % bed.nodes.length].address}]`, 'auth:', '  key: k', 'api:', `  socket: ${sock(i)}`,
      ...(o.extra?.(i) ?? []), '',
    ].join('\n'));
    spawnNode(i);
  }
  const want = o.count + 1;
  const deadline = Date.now() + (o.convergeTimeoutMs ?? 20_000);
  for (;;) {
    const sizes = await Promise.all(bed.nodes.map((n) => apiRequest<unknown[]>(sock(n.index + 1), 'GET', '/api/site-cache', 1000).then((r) => r.length, () => 0)));
    if (sizes.every((s) => s === want)) break;
    if (Date.now() > deadline) throw new Error(`nodes did not converge: site cache sizes ${sizes.join(', ')}, want ${want}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { bed, dir, sock, child: (i) => children[i - 1], restart: spawnNode };
}
