// Issue 12, finding 3: one restart per crash, with backoff and a cap; a worker that cannot bind
// UDP 4342 fails the start with a clear error; stop works after a crash; no thread is leaked.
import test from 'ava';

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_TIMERS } from '../src/control/config';
import { createTestbed } from '../src/testbed/bridge';
import { netnsAvailable } from '../src/testbed/netns';
import { DECENT_BIN } from './helpers/nodes';

const root = netnsAvailable();

/** A script that drives a ControlThread inside a namespace and prints one JSON line. */
function threadScript(body: string, tuning = '{}'): string {
  const dist = path.resolve(__dirname, '../src');
  return `
    const { ControlThread } = require(${JSON.stringify(path.join(dist, 'control/thread.js'))});
    const { parseEid } = require(${JSON.stringify(path.join(dist, 'mapping/eid.js'))});
    const timers = ${JSON.stringify(DEFAULT_TIMERS)};
    const c = new ControlThread({ config: { name: 'c1', eids: [parseEid('10.5.0.0/16')], rlocs: ['10.79.0.11'],
      group: { address: '224.7.7.7', replication: 'her', seeds: [], instanceId: 0 }, auth: { key: 'k', keyId: 0, algorithm: 2 },
      policy: { allowed: [], acceptUnauthenticatedGroupJoins: false }, timers, xtrId: 7n, siteId: 0n, lispers: false },
      rlocInterfaces: [], bindDataPort: true, rlocPollMs: 250, logLevel: 'error' }, ${tuning});
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const tasks = () => fs.readdirSync('/proc/self/task').length;
    const fs = require('node:fs');
    (async () => { ${body} })().catch((e) => { console.log(JSON.stringify({ error: e.message, code: e.code })); process.exit(3); });`;
}

function lastJson<T>(out: string): T {
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as T;
}

test.serial('one crash is one restart; stop works after crashes; no thread leaks', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const bed = createTestbed({ prefix: 'hth', nodes: 1, subnet: '10.79.0', firstHost: 11 });
  t.teardown(() => bed.destroy());
  const out = bed.nodes[0].ns.exec([process.execPath, '-e', threadScript(`
    let readies = 0, restarts = 0;
    c.on('ready', () => readies++);
    c.on('restart', () => restarts++);
    await c.start();
    await c.query('status');
    await sleep(300);
    const before = tasks();
    for (let i = 0; i < 3; i++) {
      const back = new Promise((r) => c.once('ready', r));
      c.crashForTest();
      await back;
      await c.query('status');
    }
    await sleep(1500); // a second worker started by a double restart would be up by now
    const after = tasks();
    await c.stop(true);
    await sleep(200);
    console.log(JSON.stringify({ readies, restarts, counted: c.restarts, before, after, afterStop: tasks(), running: c.running }));
    setTimeout(() => { console.log('{"hung":true}'); process.exit(4); }, 3000).unref();
  `, '{ firstBackoffMs: 50 }')], { timeoutMs: 60_000 });
  const r = lastJson<{ readies: number; restarts: number; counted: number; before: number; after: number; afterStop: number; running: boolean }>(out);
  t.log(out.trim());
  t.is(r.restarts, 3, 'one restart event per crash');
  t.is(r.counted, 3);
  t.is(r.readies, 4, 'the first start and one per crash, never two workers per crash');
  t.true(r.after <= r.before + 1, `threads before ${r.before}, after 3 crashes ${r.after}`);
  t.false(r.running);
});

test.serial('a worker that keeps crashing is fatal after the cap; a stop during the backoff starts nothing', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const bed = createTestbed({ prefix: 'htc', nodes: 1, subnet: '10.79.0', firstHost: 11 });
  t.teardown(() => bed.destroy());
  const out = bed.nodes[0].ns.exec([process.execPath, '-e', threadScript(`
    let fatal;
    c.on('fatal', (e) => { fatal = e.message; });
    const delays = [];
    c.on('log', (l, m) => { const x = /in (\\d+) ms/.exec(m); if (x) delays.push(Number(x[1])); });
    await c.start();
    for (let i = 0; i < 3 && !fatal; i++) {
      const back = new Promise((r) => { c.once('ready', r); c.once('fatal', r); });
      c.crashForTest();
      await back;
    }
    // now crash once more and stop while the restart waits: nothing may start afterwards
    c.crashForTest();
    await sleep(20);
    await c.stop(true);
    await sleep(600);
    console.log(JSON.stringify({ fatal, delays, running: c.running, restarts: c.restarts }));
  `, '{ firstBackoffMs: 100, maxCrashes: 2 }')], { timeoutMs: 60_000 });
  const r = lastJson<{ fatal?: string; delays: number[]; running: boolean; restarts: number }>(out);
  t.log(out.trim());
  t.regex(r.fatal ?? '', /crashed 3 times within 60 s/);
  t.deepEqual(r.delays, [100, 200], 'exponential backoff');
  t.false(r.running);
});

test.serial('UDP 4342 in use: the node exits non-zero naming the port and the fix, and leaves nothing behind', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const bed = createTestbed({ prefix: 'hbi', nodes: 1, subnet: '10.79.1', firstHost: 11 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-hbi-'));
  const holder = bed.nodes[0].ns.spawn([process.execPath, '-e', `require('node:dgram').createSocket('udp4').bind(4342, () => console.log('bound'))`]);
  t.teardown(() => {
    holder.kill('SIGKILL');
    bed.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await new Promise<void>((r) => holder.stdout?.once('data', () => r()));
  const sock = path.join(dir, 'n.sock');
  fs.writeFileSync(path.join(dir, 'n.yaml'), [
    'name: n1', 'eids: [10.1.0.0/16]', 'rlocs:', '  interfaces: [eth0]', 'decent:', '  group: 224.9.9.9', 'auth:', '  key: k', 'api:', `  socket: ${sock}`, '',
  ].join('\n'));
  const child = bed.nodes[0].ns.spawn([process.execPath, DECENT_BIN, 'run', '--config', path.join(dir, 'n.yaml')]);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise<number | string>((resolve) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); resolve('hung'); }, 20_000);
    child.once('close', (c, s) => { clearTimeout(timer); resolve(c ?? s ?? -1); });
  });
  t.log(stderr.trim().split('\n').slice(-2).join('\n'));
  t.is(code, 1);
  t.regex(stderr, /UDP port 4342 \(IPv4\) is in use/);
  t.regex(stderr, /own network namespace/);
  t.false(fs.existsSync(sock), 'no API socket left');
});


test.serial('the control worker killed under traffic: forwarding continues, the worker comes back, SIGTERM stops cleanly', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const { startOverlay, pingSeries } = await import('./helpers/overlay');
  const { apiRequest } = await import('../src/api/client');
  const ov = await startOverlay(t, { prefix: 'hkw', subnet: '10.79.2', env: { DECENT_TEST_CRASH_SIGNAL: '1' } });
  const n1 = ov.bed.nodes[0].ns;
  // warm the map-cache, then 200 pings at 20 ms with a crash of n1's worker after ~1 s
  await pingSeries(n1, ov.eid(1), ov.eid(2), 3, 0.2);
  const series = pingSeries(n1, ov.eid(1), ov.eid(2), 200, 0.02);
  await new Promise((r) => setTimeout(r, 1000));
  ov.child(1).kill('SIGUSR2');
  let status = { restarts: 0 };
  const deadline = Date.now() + 10_000;
  while (status.restarts < 1 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    status = await apiRequest<{ restarts: number }>(ov.sock(1), 'GET', '/api/status', 1000).catch(() => status);
  }
  // The new worker starts with an empty site cache: the peer must count it as a new member (a fresh
  // xTR-ID on the same RLOC) and send its registrations at once, not at its next 60 s round.
  const restartedAt = Date.now();
  let peerKnown = false;
  while (!peerKnown && Date.now() - restartedAt < 3000) {
    const rows = await apiRequest<{ eid: string }[]>(ov.sock(1), 'GET', '/api/site-cache', 1000).catch(() => []);
    peerKnown = rows.some((r) => r.eid.includes(`${ov.eid(2)}/32`));
    if (!peerKnown) await new Promise((r) => setTimeout(r, 100));
  }
  t.true(peerKnown, `n2's EID back in the restarted worker's site cache within 3 s (${Date.now() - restartedAt} ms)`);
  const { sent, answered } = await series;
  t.is(status.restarts, 1, 'the worker was restarted once');
  const lost = sent - answered.size;
  t.log(`pings sent ${sent}, answered ${answered.size}, lost ${lost} across the worker crash`);
  t.true(sent >= 150);
  // forwarding continued: the last 50 pings (well after the restart) were all answered
  let tail = 0;
  for (let s = sent - 50; s < sent; s++) if (answered.has(s + 1)) tail++;
  t.is(tail, 50);
  // the restarted worker answers and has rebuilt its own entries and the peer's
  const site = await apiRequest<unknown[]>(ov.sock(1), 'GET', '/api/site-cache', 2000);
  t.true(site.length >= 2);
  // SIGTERM after a crash stops cleanly and removes the TUN
  const c = ov.child(1);
  const code = await new Promise<number | string>((resolve) => {
    const timer = setTimeout(() => resolve('hung'), 10_000);
    c.once('exit', (x, s) => { clearTimeout(timer); resolve(x ?? s ?? -1); });
    c.kill('SIGTERM');
  });
  t.is(code, 0, ov.stderr(1).split('\n').slice(-3).join('\n'));
  t.false(n1.links().includes('dcnt0'));
});
