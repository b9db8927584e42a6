// Issue 14, "half-starts fail closed": a node that cannot create its API socket directory, finds
// another node's live socket, or finds its TUN name taken (a persistent TUN) exits non-zero with
// a clear message and leaves nothing running or added; a live socket of another node survives.
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../src/api/client';
import { createTestbed } from '../src/testbed/bridge';
import { netnsAvailable, type Netns } from '../src/testbed/netns';
import { DECENT_BIN, stopChildren } from './helpers/nodes';

const root = netnsAvailable();

function config(dir: string, name: string, sock: string, extra: string[] = []): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, [
    `name: ${name}`, 'eids: [172.16.9.1/32]', 'rlocs:', '  interfaces: [eth0]', 'decent:', '  group: 224.9.9.9', 'auth:', '  key: k',
    'api:', `  socket: ${sock}`, ...extra, '',
  ].join('\n'));
  return file;
}

/** Runs `decent run` in ns until it exits (or 20 s: 'hung'). */
function runToExit(ns: Netns, file: string): Promise<{ code: number | string; stderr: string }> {
  const c = ns.spawn([process.execPath, DECENT_BIN, 'run', '--config', file]);
  let stderr = '';
  c.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => {
    const timer = setTimeout(() => { c.kill('SIGKILL'); resolve({ code: 'hung', stderr }); }, 20_000);
    c.once('close', (code, sig) => { clearTimeout(timer); resolve({ code: code ?? sig ?? -1, stderr }); });
  });
}

test.serial('half-starts fail closed: socket directory, live socket of another node, existing TUN', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const bed = createTestbed({ prefix: 'hst', nodes: 2, subnet: '10.79.4', firstHost: 11 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-hst-'));
  const children: ChildProcess[] = [];
  t.teardown(async () => {
    await stopChildren(children);
    bed.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const [a, b] = bed.nodes.map((n) => n.ns);

  // 1. the API socket directory cannot be created (a file is in the way), with a data plane
  fs.writeFileSync(path.join(dir, 'not-a-dir'), '');
  const r1 = await runToExit(a, config(dir, 'n1', path.join(dir, 'not-a-dir', 'n1.sock'), ['dataplane:', '  tun: dcnt0']));
  t.is(r1.code, 1, r1.stderr);
  t.regex(r1.stderr, /cannot create the API socket directory .*not-a-dir \(api\.socket\)/);
  t.false(a.links().includes('dcnt0'), 'no TUN left behind');

  // 2. a second node never deletes the live socket of another
  const shared = path.join(dir, 'shared.sock');
  const first = a.spawn([process.execPath, DECENT_BIN, 'run', '--config', config(dir, 'n2', shared)]);
  children.push(first);
  for (let i = 0; i < 100 && !(await apiRequest(shared, 'GET', '/api/status', 500).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
  const r2 = await runToExit(b, config(dir, 'n3', shared));
  t.is(r2.code, 1, r2.stderr);
  t.regex(r2.stderr, /another node is running on the API socket .*shared\.sock/);
  const status = await apiRequest<{ name: string }>(shared, 'GET', '/api/status', 2000);
  t.is(status.name, 'n2', 'the first node still answers on its socket');
  // a stale socket (its node was killed) is replaced
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  t.true(fs.existsSync(shared));
  const second = b.spawn([process.execPath, DECENT_BIN, 'run', '--config', config(dir, 'n4', shared)]);
  children.push(second);
  let name = '';
  for (let i = 0; i < 100 && name !== 'n4'; i++) {
    name = await apiRequest<{ name: string }>(shared, 'GET', '/api/status', 500).then((s) => s.name, () => '');
    await new Promise((r) => setTimeout(r, 100));
  }
  t.is(name, 'n4');

  // 3. an existing persistent TUN is not taken over
  b.ip(['tuntap', 'add', 'dev', 'ptun0', 'mode', 'tun']);
  const r3 = await runToExit(b, config(dir, 'n5', path.join(dir, 'n5.sock'), ['dataplane:', '  tun: ptun0']));
  t.is(r3.code, 1, r3.stderr);
  t.regex(r3.stderr, /an interface named ptun0 already exists .*ip link del ptun0/);
  t.false(b.ip(['addr', 'show', 'dev', 'ptun0']).includes('172.16.9.1'), 'none of our addresses on it');
  t.false(fs.existsSync(path.join(dir, 'n5.sock')));
});
