import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../src/api/client';
import { netnsAvailable } from '../scripts/lib/netns';
import { createTestbed } from '../scripts/lib/testbed';
import { DECENT_BIN } from './helpers/nodes';

const root = netnsAvailable();
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;

function setup(t: import('ava').ExecutionContext): { ns: string; cfg: string; sock: string; link: () => string } {
  const bed = createTestbed({ prefix: 'nrt', nodes: 1, subnet: '10.83.0', firstHost: 11 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-nonroot-'));
  fs.chmodSync(dir, 0o777);
  t.teardown(() => {
    bed.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const sock = path.join(dir, 'n.sock');
  const cfg = path.join(dir, 'n.yaml');
  fs.writeFileSync(cfg, ['name: nr', 'eids: [10.60.0.0/16]', 'rlocs: {interfaces: [eth0]}', 'decent: {group: 224.6.6.6}', 'auth: {key: k}',
    'dataplane: {tun: dtun0}', `api: {socket: ${sock}}`, ''].join('\n'));
  fs.chmodSync(cfg, 0o644);
  const ns = bed.nodes[0].ns;
  return { ns: ns.name, cfg, sock, link: () => ns.ip(['-o', 'link', 'show']) };
}

const asNobody = (ns: string, caps: boolean, args: string[]): string[] => [
  'ip', 'netns', 'exec', ns, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
  ...(caps ? ['--inh-caps=+net_admin,+net_raw', '--ambient-caps=+net_admin,+net_raw'] : []),
  process.execPath, DECENT_BIN, ...args,
];

test.serial('an unprivileged user with CAP_NET_ADMIN runs a node with its TUN, and it cleans up on SIGTERM', async (t) => {
  if (!root.ok || !hasSetpriv) {
    t.log(`skipped: ${!root.ok ? root.reason : 'setpriv (util-linux) is missing'}`);
    t.pass();
    return;
  }
  const s = setup(t);
  const [cmd, ...rest] = asNobody(s.ns, true, ['run', '--config', s.cfg]);
  const { spawn } = await import('node:child_process');
  const child = spawn(cmd, rest, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  t.teardown(() => { child.kill('SIGKILL'); });
  let status: { dataplane?: boolean; pid?: number } = {};
  for (let i = 0; i < 100 && !status.dataplane; i++) {
    status = await apiRequest<typeof status>(s.sock, 'GET', '/api/status', 500).catch(() => ({}));
    if (!status.dataplane) await new Promise((r) => setTimeout(r, 100));
  }
  t.true(status.dataplane, `node did not come up: ${err}`);
  t.regex(s.link(), /dtun0/);
  const uid = fs.readFileSync(`/proc/${status.pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1];
  t.is(uid, '65534', 'the node runs as nobody');
  child.kill('SIGTERM');
  t.is(await exited, 0, err);
  t.notRegex(s.link(), /dtun0/, 'the TUN is gone');
});

test.serial('without CAP_NET_ADMIN the node says which capability it needs and exits 1', (t) => {
  if (!root.ok || !hasSetpriv) {
    t.log(`skipped: ${!root.ok ? root.reason : 'setpriv (util-linux) is missing'}`);
    t.pass();
    return;
  }
  const s = setup(t);
  const [cmd, ...rest] = asNobody(s.ns, false, ['run', '--config', s.cfg]);
  const r = spawnSync(cmd, rest, { encoding: 'utf8', timeout: 30_000 });
  t.is(r.status, 1, r.stderr);
  t.regex(r.stderr, /CAP_NET_ADMIN/);
});
