import test from 'ava';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { netnsAvailable } from '../scripts/lib/netns';
import { createTestbed } from '../scripts/lib/testbed';
import { DECENT_BIN as bin, startNodes } from './helpers/nodes';

const exec = promisify(execFile);
const root = netnsAvailable();

const decent = (args: string[]): Promise<{ stdout: string; stderr: string; code: number }> =>
  exec(process.execPath, [bin, ...args], { encoding: 'utf8' }).then(
    (r) => ({ ...r, code: 0 }),
    (e: { stdout: string; stderr: string; code: number }) => ({ stdout: e.stdout, stderr: e.stderr, code: e.code }),
  );

test.serial('show, lig and stats against running nodes', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const { sock } = await startNodes(t, { prefix: 'cli', count: 2, subnet: '10.77.0' });
  const site = await decent(['show', 'site-cache', '--socket', sock(1)]);
  t.is(site.code, 0, site.stderr);
  t.regex(site.stdout, /^EID\s+RLOCs\s+last registerer/);
  t.regex(site.stdout, /\[0\]10\.2\.0\.0\/16\s+10\.77\.0\.12/);
  t.regex(site.stdout, /\(0\.0\.0\.0\/0, 224\.9\.9\.9\/32\)\s+10\.77\.0\.11, 10\.77\.0\.12/);

  const json = await decent(['show', 'site-cache', '--json', '--socket', sock(2)]);
  const rows = JSON.parse(json.stdout) as { eid: string; rlocs: string[] }[];
  t.deepEqual(rows.map((r) => r.eid).sort(), ['[0](0.0.0.0/0, 224.9.9.9/32)', '[0]10.1.0.0/16', '[0]10.2.0.0/16']);

  const lig = await decent(['lig', '10.1.2.3', '--socket', sock(2), '--to', '10.77.0.11']);
  t.is(lig.code, 0, lig.stderr);
  t.regex(lig.stdout, /Map-Reply from 10\.77\.0\.11 for 10\.1\.2\.3 in [\d.]+ ms/);
  t.regex(lig.stdout, /10\.1\.0\.0\/16 {2}TTL \d+ min, proxy reply/);
  const neg = await decent(['lig', '10.9.9.9', '--socket', sock(2)]);
  t.regex(neg.stdout, /negative, natively-forward/);
  t.notRegex(neg.stderr, /warning/, "our own negative prefixes cover what was asked");

  const peers = await decent(['show', 'peers', '--json', '--socket', sock(1)]);
  t.deepEqual((JSON.parse(peers.stdout) as { rlocs: string[] }[]).map((p) => p.rlocs), [['10.77.0.12']]);
  const peerTable = await decent(['show', 'peers', '--socket', sock(1)]);
  t.regex(peerTable.stdout, /^name +RLOCs +EIDs +registered +state +reachability\n/);
  t.regex(peerTable.stdout, /\n- +10\.77\.0\.12 +10\.2\.0\.0\/16 +\d+s ago +registered +(up|unknown)\n/);
  const summary = await decent(['show', 'stats', '--socket', sock(1)]);
  t.regex(summary.stdout, /^registrations +sent \d+, received \d+, accepted [1-9]\d*, rejected 0\n/);
  t.regex(summary.stdout, /\nreplication +head-end copies sent \d+, received [1-9]/);
  t.true(summary.stdout.split('\n').length < 15, 'a summary, not every counter');
  t.log(`\n${peerTable.stdout}\n${summary.stdout}`);
  const all = await decent(['show', 'stats', '--all', '--socket', sock(1)]);
  t.regex(all.stdout, /\ncontrol +register\.rejected\.auth +0\n/);
  const stats = JSON.parse((await decent(['show', 'stats', '--json', '--socket', sock(1)])).stdout) as { control: Record<string, number> };
  t.true(stats.control['register.accepted'] > 0);
  t.true(stats.control['her.received'] > 0);
  t.is(stats.control['register.rejected.auth'], 0);
  const conflicts = await decent(['show', 'conflicts', '--socket', sock(1)]);
  t.is(conflicts.code, 0, conflicts.stderr);
  t.is(conflicts.stdout, 'no refused registrations\n');
  const db = await decent(['show', 'database', '--socket', sock(1)]);
  t.regex(db.stdout, /\[0\]10\.1\.0\.0\/16\s+10\.77\.0\.11/);

  // The API's statuses on a real node: a lookup nobody answers is a 504 (the worker's typed
  // timeout), bad parameters are 400s, and a request line that kills a naive URL parser is a 400.
  const timedOut = await apiGet(sock(2), '/api/lookup?eid=10.1.2.3&resolver=10.77.0.99&timeout=300');
  t.is(timedOut.status, 504, timedOut.body);
  t.regex(timedOut.body, /no Map-Reply from 10\.77\.0\.99 within 300 ms/);
  t.is((await apiGet(sock(2), '/api/lookup?eid=not-an-eid')).status, 400);
  t.is((await apiGet(sock(2), '/api/lookup?eid=10.1.2.3&timeout=forever')).status, 400);
  t.is((await apiGet(sock(2), '/api/lookup?eid=10.1.2.3&resolver=nowhere')).status, 400);
  const raw = await new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    const c = net.connect(sock(2), () => c.end('GET http://[/ HTTP/1.1\r\nhost: x\r\n\r\n'));
    c.on('data', (d: Buffer) => chunks.push(d)).on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
  t.regex(raw, /^HTTP\/1\.1 400 /);
  t.is((await apiGet(sock(2), '/api/status')).status, 200);
  const counters = JSON.parse((await apiGet(sock(2), '/api/counters')).body) as { api: Record<string, number> };
  t.true(counters.api['api.rejected.bad-request'] >= 1);
});

function apiGet(socketPath: string, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path: p }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('usage errors exit 2, a missing node exits 1 with a hint', async (t) => {
  const bad = await decent(['show', 'everything', '--socket', '/nonexistent.sock']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /show what\? one of site-cache, map-cache, database, peers, stats/);
  const none = await decent(['show', 'site-cache', '--socket', '/nonexistent/decent.sock']);
  t.is(none.code, 1);
  t.regex(none.stderr, /no node is listening on \/nonexistent\/decent\.sock/);
  const noConfig = await decent(['run']);
  t.is(noConfig.code, 2);
  t.regex(noConfig.stderr, /--config FILE is required/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-cfg-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'bad.yaml'), 'name: x\ncolour: blue\n');
  const badConfig = await decent(['run', '--config', path.join(dir, 'bad.yaml')]);
  t.is(badConfig.code, 2);
  t.regex(badConfig.stderr, /bad\.yaml:2:1: colour: Unrecognized key/);
  const help = await decent(['lig', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /Examples:/);
});

test.serial('a crashed control worker is restarted and rebuilds its state', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const { DEFAULT_TIMERS } = await import('../src/control/config');
  const bed = createTestbed({ prefix: 'crs', nodes: 1, subnet: '10.78.0', firstHost: 11 });
  t.teardown(() => bed.destroy());
  // The worker must run inside the namespace, so run this part as a child process there.
  const script = `
    const { ControlThread } = require(${JSON.stringify(path.resolve(__dirname, '../src/control/thread.js'))});
    const { parseEid } = require(${JSON.stringify(path.resolve(__dirname, '../src/mapping/eid.js'))});
    const timers = ${JSON.stringify(DEFAULT_TIMERS)};
    const c = new ControlThread({ config: { name: 'c1', eids: [parseEid('10.5.0.0/16')], rlocs: ['10.78.0.11'],
      group: { address: '224.7.7.7', replication: 'her', seeds: [], instanceId: 0 }, auth: { key: 'k', keyId: 0, algorithm: 2 },
      policy: { allowed: [], acceptUnauthenticatedGroupJoins: false }, timers, xtrId: 7n, siteId: 0n, lispers: false },
      rlocInterfaces: [], bindDataPort: true, rlocPollMs: 250, logLevel: 'error' });
    (async () => {
      await c.start();
      const before = (await c.query('site-cache')).length;
      const restarted = new Promise((r) => c.once('ready', r));
      await c.terminateForTest();
      await restarted;
      let after = 0;
      for (let i = 0; i < 50 && after < before; i++) { after = (await c.query('site-cache')).length; await new Promise((r) => setTimeout(r, 20)); }
      console.log(JSON.stringify({ before, after, restarts: c.restarts }));
      await c.stop(false);
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const out = bed.nodes[0].ns.exec([process.execPath, '-e', script], { timeoutMs: 30_000 });
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { before: number; after: number; restarts: number };
  t.is(r.restarts, 1);
  t.is(r.before, 2, 'own EID and group entry');
  t.is(r.after, r.before, 'state rebuilt after the restart');
});
