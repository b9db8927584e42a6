// Issue 12: the pure parts of the defences (send guard, log limiter, control queue, errors).
import test from 'ava';
import { ControlPlaneError, LigTimeoutError, fromWireError, toWireError } from '../src/control/errors';
import { LogLimiter } from '../src/control/log-limit';
import { SendGuard, unicastFamily, type DatagramSocket } from '../src/control/send-guard';
import { ControlQueue } from '../src/dataplane/control-queue';
import { DataPlaneCounters } from '../src/dataplane/counters';

test('send guard: bad ports, non-unicast targets and missing families are counted drops, never throws', (t) => {
  const sent: string[] = [];
  const sock: DatagramSocket = { send: (_b, port, addr, cb) => { sent.push(`${addr}:${port}`); cb(null); } };
  const throwing: DatagramSocket = { send: () => { throw new Error('Not running'); } };
  const failing: DatagramSocket = { send: (_b, _p, _a, cb) => cb(new Error('EHOSTUNREACH')) };
  let which: DatagramSocket = sock;
  const reasons: string[] = [];
  const g = new SendGuard((f) => (f === 4 ? which : undefined), (r) => reasons.push(r));
  const b = new Uint8Array(4);
  t.true(g.send('x', '10.0.0.1', 4342, b));
  for (const port of [0, -1, 65536, 1.5, NaN]) t.false(g.send('x', '10.0.0.1', port, b));
  for (const dst of ['', 'nonsense', '224.0.0.1', '239.1.2.3', '0.0.0.0', '255.255.255.255', '::', 'ff02::1', '10.0.0.1%eth0']) t.false(g.send('x', dst, 4342, b), dst);
  t.false(g.send('x', 'fd00::1', 4342, b), 'no IPv6 socket');
  which = throwing;
  t.false(g.send('x', '10.0.0.2', 4342, b));
  which = failing;
  g.send('x', '10.0.0.3', 4342, b);
  t.deepEqual(sent, ['10.0.0.1:4342']);
  t.deepEqual(g.counters(), { 'send.dropped.bad-port': 5, 'send.dropped.bad-address': 9, 'send.dropped.no-socket': 1, 'send.failed': 2 });
  t.is(reasons.length, 17);
  which = sock;
  t.true(g.sendMulticast('m', '224.1.1.1', 4342, b));
  t.false(g.sendMulticast('m', '10.0.0.1', 4342, b));
  t.is(unicastFamily('fd00::1'), 6);
  t.is(unicastFamily('::1'), 6);
});

test('log limiter: at most N lines per reason per window, then one summary with the count', (t) => {
  let now = 0;
  const lines: string[] = [];
  const l = new LogLimiter((lvl, msg) => lines.push(`${lvl} ${msg}`), { perWindow: 3, windowMs: 10_000, now: () => now });
  for (let i = 0; i < 1000; i++) l.log('warn', 'register rejected: bad HMAC', { i });
  l.log('info', 'other reason');
  t.is(lines.length, 4);
  t.is(l.suppressed, 997);
  now = 10_000;
  l.flush();
  t.is(lines.length, 5);
  t.regex(lines[4], /^warn 997 more "register rejected: bad HMAC" lines suppressed in the last 10 s$/);
  l.log('warn', 'register rejected: bad HMAC');
  t.is(lines.length, 6, 'a new window passes lines again');
  // the table of reasons is bounded
  const small = new LogLimiter(() => undefined, { maxReasons: 4, now: () => now });
  for (let i = 0; i < 10_000; i++) small.log('warn', `reason ${i}`);
  t.true((small as unknown as { buckets: Map<string, unknown> }).buckets.size <= 5);
});

test('control queue: bounded, dropped and counted when full, handed over in batches', (t) => {
  const c = new DataPlaneCounters();
  let src = 0;
  const q = new ControlQueue(c, 100, 1 << 20, 32);
  const pkt = new Uint8Array(80);
  const source = (): string => `10.0.${((src % 500) >> 8) & 255}.${src++ % 500 & 255}`;
  let busy = true;
  const batches: number[] = [];
  const consumer = (p: readonly Uint8Array[]): boolean => {
    if (busy) return false;
    batches.push(p.length);
    return true;
  };
  for (let i = 0; i < 20_000; i++) {
    q.push(pkt, 0, 60, source());
    if (i % 64 === 63) q.drain(consumer);
  }
  t.is(c.encapsulatedControl, 20_000);
  t.is(c.dropControlQueueFull, 20_000 - 100);
  t.is(c.controlQueueHigh, 100);
  busy = false;
  q.drain(consumer);
  t.deepEqual(batches, [32, 32, 32, 4]);
  t.is(c.controlBatches, 4);
  t.is(c.controlHandedOver, 100);
  t.is(q.length, 0);
});

test('control queue: one flooding outer source gets its budget, the others still get in', (t) => {
  const c = new DataPlaneCounters();
  let now = 0;
  const q = new ControlQueue(c, 1024, 1 << 20, 256, () => now);
  const pkt = new Uint8Array(80);
  const taken: string[] = [];
  const consumer = (_p: readonly Uint8Array[], s: readonly string[]): boolean => { taken.push(...s); return true; };
  for (let i = 0; i < 20_000; i++) {
    q.push(pkt, 0, 60, '10.6.6.6');
    if (i % 1000 === 0) q.push(pkt, 0, 60, '10.0.0.2'); // a member, now and then
    if (i % 100 === 0) { now += 10; q.drain(consumer); }
  }
  q.drain(consumer);
  const attacker = taken.filter((s) => s === '10.6.6.6').length;
  t.is(taken.filter((s) => s === '10.0.0.2').length, 20, 'every member packet got through');
  // 2 s of simulated time: the burst (200) plus 100/s
  t.true(attacker >= 200 && attacker <= 401, String(attacker));
  t.is(c.dropControlSourceBudget, 20_000 - attacker);
  t.is(c.dropControlQueueFull, 0);
});

test('errors keep name and code across the worker boundary', (t) => {
  const timeout = fromWireError(toWireError(new LigTimeoutError('no Map-Reply from 10.0.0.1 within 2000 ms')));
  t.true(timeout instanceof LigTimeoutError);
  t.true(timeout instanceof ControlPlaneError);
  t.is(timeout.code, 'LIG_TIMEOUT');
  t.is(timeout.name, 'LigTimeoutError');
  class EidError extends Error { override name = 'EidError'; }
  const bad = fromWireError(structuredClone(toWireError(new EidError('not an EID: x'))));
  t.is(bad.name, 'EidError');
  t.is(bad.code, 'CONTROL_ERROR');
  const sys = Object.assign(new Error('bind EADDRINUSE'), { code: 'EADDRINUSE' });
  const back = fromWireError(toWireError(sys));
  t.is(back.code, 'CONTROL_ERROR');
  t.is((back as unknown as { syscallCode: string }).syscallCode, 'EADDRINUSE');
  // through a real structured clone
  t.is(fromWireError(structuredClone(toWireError(new ControlPlaneError('CONTROL_STARTING', 'starting')))).code, 'CONTROL_STARTING');
});

test('the main-thread logger rate-limits per subsystem and message', async (t) => {
  const { makeLogger } = await import('../src/daemon/log');
  let now = 0;
  const lines: { level: string; subsystem: string; msg: string }[] = [];
  const log = makeLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l) as { level: string; subsystem: string; msg: string }), limit: { perWindow: 5, windowMs: 10_000, now: () => now } });
  for (let i = 0; i < 10_000; i++) log('warn', 'dataplane', 'TUN readiness error', { i });
  log('warn', 'api', 'TUN readiness error');
  await new Promise((r) => setTimeout(r, 50));
  t.is(lines.filter((l) => l.subsystem === 'dataplane').length, 5);
  t.is(lines.filter((l) => l.subsystem === 'api').length, 1, 'per subsystem');
  now = 10_001;
  log('warn', 'dataplane', 'TUN readiness error');
  await new Promise((r) => setTimeout(r, 50));
  const summary = lines.find((l) => /9995 more "TUN readiness error" lines suppressed/.test(l.msg));
  t.truthy(summary);
  t.is(summary?.subsystem, 'dataplane');
});
