import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../src/api/client';
import type { SiteCacheRow } from '../src/control/protocol';
import { netnsAvailable } from '../src/testbed/netns';
import { createTestbed } from '../src/testbed/bridge';
import { DECENT_BIN, stopChildren } from './helpers/nodes';

const root = netnsAvailable();

test.serial('pull mode over real sockets: hashed Map-Server sets found through the resolver (/etc/hosts)', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const bed = createTestbed({ prefix: 'pul', nodes: 3, subnet: '10.86.0', firstHost: 11 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-pull-'));
  const children: ChildProcess[] = [];
  const hostsDirs: string[] = [];
  t.teardown(async () => {
    await stopChildren(children);
    bed.destroy();
    for (const d of [dir, ...hostsDirs]) fs.rmSync(d, { recursive: true, force: true });
  });
  const hosts = bed.nodes.map((n, i) => `${n.address} ${i}.map-server.decent`).join('\n');
  const sock = (i: number): string => path.join(dir, `n${i}.sock`);
  for (const n of bed.nodes) {
    const i = n.index + 1;
    // `ip netns exec` bind-mounts /etc/netns/NAME/hosts over /etc/hosts.
    const hostsDir = `/etc/netns/${n.ns.name}`;
    fs.mkdirSync(hostsDir, { recursive: true });
    fs.writeFileSync(path.join(hostsDir, 'hosts'), `127.0.0.1 localhost\n${hosts}\n`);
    hostsDirs.push(hostsDir);
    const cfg = path.join(dir, `n${i}.yaml`);
    fs.writeFileSync(cfg, [
      `name: n${i}`, 'eids:', `  - ${i}.${i}.${i}.${i}/32`, `  - "'nexus-n${i}'"`, 'rlocs: {interfaces: [eth0]}',
      'decent:', '  mode: pull', '  pull: {modulus: 3, dns-suffix: map-server.decent, hash: lispers}',
      'auth: {key: decent-password}', `api: {socket: ${sock(i)}}`, '',
    ].join('\n'));
    children.push(spawn('ip', ['netns', 'exec', n.ns.name, process.execPath, DECENT_BIN, 'run', '--config', cfg], { stdio: 'ignore' }));
  }
  const keys = async (i: number): Promise<string[]> =>
    (await apiRequest<SiteCacheRow[]>(sock(i), 'GET', '/api/site-cache', 1000).catch(() => [])).map((r) => r.eid).sort();
  const want: Record<number, string[]> = {
    1: [], 2: ["[0]'nexus-n2'", "[0]'nexus-n3'", '[0]2.2.2.2/32'], 3: ["[0]'nexus-n1'", '[0]1.1.1.1/32', '[0]3.3.3.3/32'],
  };
  const deadline = Date.now() + 20_000;
  let got: string[][] = [];
  while (Date.now() < deadline) {
    got = await Promise.all([1, 2, 3].map(keys));
    if (got.every((k, i) => k.join() === want[i + 1].join())) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.deepEqual(got, [want[1], want[2], want[3]], 'the site caches lispers.net showed for its pull run');
  // n1 looks 2.2.2.2 up at the Map-Resolver its hash picks (n2) and gets n2's RLOC.
  const r = await apiRequest<{ from: string; summary: { rlocs: string[] }[] }>(sock(1), 'GET', `/api/lookup?eid=2.2.2.2&resolver=${bed.nodes[1].address}`);
  t.is(r.from, bed.nodes[1].address);
  t.deepEqual(r.summary[0].rlocs, [bed.nodes[1].address]);
});
