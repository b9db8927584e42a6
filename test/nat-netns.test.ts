// NAT detection with real nodes and a real NAT (src/testbed/nat.ts): a member behind an nftables
// masquerade learns from its seed the address and port the NAT gave it, and learns the new ones
// at the next keepalive when the NAT changes its public address or forgets its mappings.
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../src/api/client';
import type { NatStatus } from '../src/control/nat';
import { createTestbed } from '../src/testbed/bridge';
import { createNat } from '../src/testbed/nat';
import { netnsAvailable } from '../src/testbed/netns';
import { DECENT_BIN, stopChildren } from './helpers/nodes';

const avail = netnsAvailable();
const nsTest = avail.ok ? test : test.skip;
if (!avail.ok) test('NAT netns (skipped)', (t) => { t.log(`skipped: ${avail.reason}`); t.pass(); });

const KEEPALIVE_MS = 2000;

async function natStatus(sock: string): Promise<NatStatus | undefined> {
  try {
    return (await apiRequest<{ nat?: NatStatus }>(sock, 'GET', '/api/status', 1000)).nat;
  } catch {
    return undefined;
  }
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ok: (v: T) => boolean, timeoutMs: number): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined && ok(v)) return { value: v, ms: Date.now() - start };
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

nsTest('a member behind a NAT detects it, and follows a new public address and a conntrack flush at the next keepalive', async (t) => {
  const bed = createTestbed({ prefix: 'nnd', nodes: 1, subnet: '198.51.100', firstHost: 7 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-nat-'));
  const children: ChildProcess[] = [];
  const made: { nat?: ReturnType<typeof createNat> } = {};
  t.teardown(async () => {
    await stopChildren(children);
    made.nat?.destroy();
    bed.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const nat = createNat({ bridge: bed, prefix: 'nnd', publicAddress: '198.51.100.10', privateSubnet: '192.168.77' });
  made.nat = nat;
  const seed = bed.nodes[0];
  const config = (name: string, seeds: string[]): string => {
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(file, [
      `name: ${name}`, 'eids:', `  - 10.0.0.${name === 'pub' ? 7 : 5}/32`, 'rlocs:', '  interfaces: [eth0]', 'decent:', '  group: 224.9.9.9',
      `  seeds: [${seeds.join(', ')}]`, 'auth:', '  key: k', 'api:', `  socket: ${path.join(dir, `${name}.sock`)}`,
      'nat:', `  keepalive: ${KEEPALIVE_MS}ms`, '  rtr: true', '',
    ].join('\n'));
    return file;
  };
  children.push(seed.ns.spawn([process.execPath, DECENT_BIN, 'run', '--config', config('pub', [])]));
  children.push(nat.host.spawn([process.execPath, DECENT_BIN, 'run', '--config', config('pi', [seed.address])]));
  const sock = path.join(dir, 'pi.sock');

  const first = await waitFor('detection', () => natStatus(sock), (s) => s.behindNat !== undefined, 15_000);
  t.log(`detected after ${first.ms} ms of polling:`, first.value);
  t.like(first.value, { behindNat: true, local: nat.hostAddress, rtrs: [seed.address], translated: { address: '198.51.100.10', seed: seed.address } });
  const port = first.value.translated?.port ?? 0;
  t.true(port >= 40000 && port <= 40999, `translated port ${port}`);

  // The public member itself is not behind a NAT (it has no seed to ask: status stays open).
  t.is((await natStatus(path.join(dir, 'pub.sock')))?.behindNat, undefined);

  nat.changePublicAddress('198.51.100.11');
  const rebound = await waitFor('rebinding', () => natStatus(sock), (s) => s.translated?.address === '198.51.100.11', 3 * KEEPALIVE_MS);
  // A bound to fail on, far below the 60 s registration round; the figure itself is only logged (shared machine).
  t.log(`rebinding seen after ${rebound.ms} ms (keepalive ${KEEPALIVE_MS} ms)`);

  // The NAT forgets every mapping (a reboot, an idle timeout): the next keepalive makes a new one
  // and the member learns it (usually another port of 40000-40999).
  const before = rebound.value.translated?.port;
  const flushedAt = Date.now();
  nat.flushConntrack();
  const fresh = await waitFor('after a conntrack flush', () => natStatus(sock), (s) => (s.translated?.at ?? 0) > flushedAt, 3 * KEEPALIVE_MS);
  t.log(`after the flush: port ${before} -> ${fresh.value.translated?.port}, seen after ${fresh.ms} ms`);
  t.like(fresh.value, { behindNat: true, translated: { address: '198.51.100.11' } });
});
