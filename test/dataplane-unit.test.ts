// Data-plane pieces that need no namespace: miss queue, ICMP too-big builder, flow hash, RLOC
// filter and the map-cache -> FIB sync.
import test from 'ava';
import { parseEid } from '../src/mapping/eid';
import { DataPlaneCounters } from '../src/dataplane/counters';
import { RlocFilter } from '../src/dataplane/decap';
import { FibSync } from '../src/dataplane/fib-sync';
import { IcmpTooBig } from '../src/dataplane/icmp';
import { MissQueue } from '../src/dataplane/miss';
import { SourceFilter } from '../src/dataplane/sources';
import { flowHash } from '../src/dataplane/packet';
import { AddressTable } from '../src/native';
import { finishChecksum, onesSum } from '../src/wire/checksum';

function ipv4(src: number[], dst: number[], proto = 17, ports = [1000, 2000], df = true, len = 60): Buffer {
  const b = Buffer.alloc(len);
  b[0] = 0x45;
  b.writeUInt16BE(len, 2);
  if (df) b[6] = 0x40;
  b[8] = 64;
  b[9] = proto;
  b.set(src, 12);
  b.set(dst, 16);
  b.writeUInt16BE(ports[0], 20);
  b.writeUInt16BE(ports[1], 22);
  return b;
}

function ipv6(src: string, dst: string, len = 80): Buffer {
  const b = Buffer.alloc(len);
  b[0] = 0x60;
  b.writeUInt16BE(len - 40, 4);
  b[6] = 17;
  b[7] = 64;
  const words = (t: string): number[] => { const [h, r] = t.split('::'); const hw = h ? h.split(':') : []; const rw = r ? r.split(':') : []; return [...hw, ...new Array<string>(8 - hw.length - rw.length).fill('0'), ...rw].map((x) => parseInt(x, 16)); };
  words(src).forEach((w, i) => b.writeUInt16BE(w, 8 + 2 * i));
  words(dst).forEach((w, i) => b.writeUInt16BE(w, 24 + 2 * i));
  return b;
}

test('miss queue: holds at most perEid packets, asks once per interval, delivers in order, expires', (t) => {
  const q = new MissQueue({ perEid: 3, askIntervalMs: 1000, holdMs: 1000 });
  const pkts = [0, 1, 2, 3, 4].map((i) => { const p = ipv4([10, 1, 0, 1], [10, 2, 0, 9]); p[30] = i; return p; });
  const held = pkts.map((p) => q.hold(p, 0, p.length, 0, 0, 7, true, 1000));
  t.deepEqual(held, [true, true, true, false, false]);
  const asked: number[] = [];
  q.report((s) => asked.push(s));
  t.is(asked.length, 1);
  t.is(q.slotIid(asked[0]), 7);
  t.is(q.slotWord(asked[0], 0), ((10 << 24) | (2 << 16) | 9) >>> 0);
  q.hold(pkts[0], 0, pkts[0].length, 0, 0, 7, true, 1500);
  q.report((s) => asked.push(s));
  t.is(asked.length, 1, 'no second ask within the interval');
  const got: number[] = [];
  const { delivered, expired } = q.drain(1600, () => true, (a, off) => got.push(a[off + 30]));
  t.is(delivered, 3);
  t.is(expired, 0);
  t.deepEqual(got, [0, 1, 2]);
  t.is(q.pending, 0);
  // unresolved: dropped after holdMs, then forgotten once the ask interval passed
  q.hold(pkts[0], 0, pkts[0].length, 0, 0, 7, true, 5000);
  t.like(q.drain(5500, () => false, () => t.fail()), { delivered: 0, expired: 0 });
  t.like(q.drain(6000, () => false, () => t.fail()), { delivered: 0, expired: 1 });
  t.is(q.pending, 0);
});

test('miss queue: packets held for a LISP-crypto key wait per RLOC, never ask, go when released, expire after keyHoldMs', (t) => {
  const q = new MissQueue({ perEid: 2, holdMs: 1000, keyHoldMs: 3000 });
  const rlocs = new AddressTable(2);
  rlocs.set(0, '192.0.2.2', 4341);
  rlocs.set(1, '2001:db8::2', 4341);
  const p = (i: number): Buffer => { const b = ipv4([10, 1, 0, 1], [10, 2, 0, 9]); b[30] = i; return b; };
  t.deepEqual([0, 1, 2].map((i) => q.holdForKey(p(i), 0, 60, 0, 0, rlocs.bytes, 0, 1000)), [true, true, false], 'perEid bounds a key wait too');
  t.true(q.holdForKey(p(3), 0, 60, 0, 0, rlocs.bytes, 20, 1000));
  t.true(q.hold(p(4), 0, 60, 0, 0, 7, true, 1000), 'a mapping miss for the same inner destination is its own wait');
  t.is(q.pending, 3);
  const asked: number[] = [];
  q.report((s) => asked.push(s));
  t.is(asked.length, 1, 'only the mapping miss asks the control plane');
  t.false(q.slotWaitsForKey(asked[0]));
  // the mapping resolves, the keys do not yet: only the mapping wait goes
  const got: number[] = [];
  t.deepEqual(q.drain(1100, (s) => !q.slotWaitsForKey(s), (a, off) => got.push(a[off + 30])), { delivered: 1, expired: 0, keyDelivered: 0, keyExpired: 0 });
  // past holdMs but within keyHoldMs: key waits stay
  t.deepEqual(q.drain(2500, () => false, () => t.fail()), { delivered: 0, expired: 0, keyDelivered: 0, keyExpired: 0 });
  // the IPv4 RLOC's key arrives: its two packets go, in order
  const v4Key = (s: number): boolean => q.slotWaitsForKey(s) && q.rlocEntries[s * 20] === 4 && q.rlocEntries[s * 20 + 7] === 2;
  t.deepEqual(q.drain(2600, v4Key, (a, off) => got.push(a[off + 30])), { delivered: 0, expired: 0, keyDelivered: 2, keyExpired: 0 });
  t.deepEqual(got, [4, 0, 1]);
  // the IPv6 RLOC's never does: dropped after keyHoldMs, the slot forgotten
  t.deepEqual(q.drain(4000, () => false, () => t.fail()), { delivered: 0, expired: 0, keyDelivered: 0, keyExpired: 1 });
  t.is(q.pending, 0);
  t.is(q.heldPackets, 0);
});

test('miss queue: bounded number of pending EIDs', (t) => {
  const q = new MissQueue({ maxPending: 2 });
  t.true(q.hold(ipv4([1, 1, 1, 1], [10, 0, 0, 1]), 0, 60, 0, 0, 0, true, 0));
  t.true(q.hold(ipv6('fd01::1', 'fd02::1'), 0, 80, 0, 0, 0, false, 0));
  t.false(q.hold(ipv4([1, 1, 1, 1], [10, 0, 0, 2]), 0, 60, 0, 0, 0, true, 0));
  t.is(q.pending, 2);
});

test('ICMP frag-needed: RFC 792 layout, valid checksums, source = inner destination, rate-limited', (t) => {
  let now = 0;
  const c = new DataPlaneCounters();
  const icmp = new IcmpTooBig(c, { burst: 2, ratePerSecond: 1, clock: () => now });
  const inner = ipv4([10, 1, 0, 10], [10, 2, 0, 10], 6, [40000, 80], true, 1500);
  t.true(icmp.tooBig(inner, 0, inner.length, true, 1464));
  const p = icmp.pool;
  const e = p.packet(0);
  t.is(e.length, 576);
  t.is(finishChecksum(onesSum(e, 0, 20)), 0, 'IP header checksum');
  t.is(finishChecksum(onesSum(e, 20, e.length)), 0, 'ICMP checksum');
  t.deepEqual([...e.subarray(12, 16)], [10, 2, 0, 10]);
  t.deepEqual([...e.subarray(16, 20)], [10, 1, 0, 10]);
  t.deepEqual([e[20], e[21], e.readUInt16BE(26)], [3, 4, 1464]);
  t.deepEqual(e.subarray(28, 48), inner.subarray(0, 20), 'quotes the original header');
  t.true(icmp.tooBig(inner, 0, inner.length, true, 1464));
  t.false(icmp.tooBig(inner, 0, inner.length, true, 1464), 'bucket empty');
  t.is(c.icmpRateLimited, 1);
  now = 1000;
  t.true(icmp.tooBig(inner, 0, inner.length, true, 1464), 'refilled');
  // never about an ICMP error
  const err = ipv4([10, 1, 0, 10], [10, 2, 0, 10], 1, [0x0304, 0]);
  now = 10_000;
  t.false(icmp.tooBig(err, 0, err.length, true, 1464));
});

test('ICMPv6 packet-too-big: RFC 4443 §3.2 layout, pseudo-header checksum, MTU at least 1280', (t) => {
  const icmp = new IcmpTooBig(new DataPlaneCounters());
  const inner = ipv6('fd01::10', 'fd02::10', 1500);
  t.true(icmp.tooBig(inner, 0, inner.length, false, 1000));
  const e = icmp.pool.packet(0);
  t.is(e.length, 1280);
  t.is(e[6], 58);
  t.deepEqual(e.subarray(8, 24), inner.subarray(24, 40));
  t.deepEqual(e.subarray(24, 40), inner.subarray(8, 24));
  t.deepEqual([e[40], e[41], e.readUInt32BE(44)], [2, 0, 1280]);
  const plen = e.readUInt16BE(4);
  let sum = onesSum(e, 8, 40);
  sum += plen + 58;
  t.is(finishChecksum(onesSum(e, 40, 40 + plen, sum)), 0);
  const mcast = ipv6('ff02::1', 'fd02::10');
  t.false(icmp.tooBig(mcast, 0, mcast.length, false, 1280), 'no error to a multicast source');
});

test('flow hash: stable per flow, ports count, fragments hash without ports', (t) => {
  const a = ipv4([10, 1, 0, 1], [10, 2, 0, 1], 6, [1000, 80]);
  const b = ipv4([10, 1, 0, 1], [10, 2, 0, 1], 6, [1001, 80]);
  t.is(flowHash(a, 0, a.length, true), flowHash(Buffer.from(a), 0, a.length, true));
  t.not(flowHash(a, 0, a.length, true), flowHash(b, 0, b.length, true));
  const fa = Buffer.from(a), fb = Buffer.from(b);
  fa[6] = fb[6] = 0x20; // MF
  t.is(flowHash(fa, 0, fa.length, true), flowHash(fb, 0, fb.length, true));
  const spread = new Set<number>();
  for (let p = 0; p < 64; p++) spread.add(flowHash(ipv4([10, 1, 0, 1], [10, 2, 0, 1], 6, [p, 80]), 0, 60, true) % 2);
  t.is(spread.size, 2, 'flows split over two RLOCs');
});

test('RLOC filter: empty accepts all, otherwise only our addresses', (t) => {
  const f = new RlocFilter();
  const table = new AddressTable(2);
  table.set(0, '192.0.2.1', 4341);
  table.set(1, '2001:db8::1', 4341);
  f.set([]);
  t.true(f.matches(table.bytes, 0));
  f.set(['192.0.2.1']);
  t.true(f.matches(table.bytes, 0));
  t.false(f.matches(table.bytes, 1));
  f.set(['192.0.2.2', '2001:db8::1']);
  t.false(f.matches(table.bytes, 0));
  t.true(f.matches(table.bytes, 1));
});

test('FIB sync: set, negative, remove, static, per-entry counters by eidKey', (t) => {
  const logs: string[] = [];
  const s = new FibSync((_l, m) => logs.push(m), 1024);
  const now = Date.now();
  const eid = parseEid('[7]10.2.0.0/16');
  s.apply({ op: 'set', entry: {
    eid, key: '[7]10.2.0.0/16', rlocs: [{ address: '192.0.2.1', priority: 1, weight: 1, up: true }], action: 0, negative: false,
    ttlMs: 60_000, createdAt: now, updatedAt: now, expiresAt: now + 60_000, source: 'map-reply',
  } });
  const e = s.fib.lookup4(7, ((10 << 24) | (2 << 16) | 5) >>> 0);
  t.true(e >= 0);
  t.is(s.fib.selectRloc(e, 0), 0);
  t.true(s.fib.entryExpiresAt(e) > 0);
  s.fib.count(e, 100);
  t.deepEqual(s.entryCounters(), { '[7]10.2.0.0/16': { packets: 1, bytes: 100 } });
  s.apply({ op: 'set', entry: {
    eid: parseEid('[7]10.9.0.0/16'), key: '[7]10.9.0.0/16', rlocs: [], action: 3, negative: true,
    ttlMs: 60_000, createdAt: now, updatedAt: now, expiresAt: now + 60_000, source: 'map-reply',
  } });
  const n = s.fib.lookup4(7, (10 << 24 | 9 << 16) >>> 0);
  t.is(s.fib.routeRlocCount(s.fib.route(n)), 0);
  t.is(s.fib.routeAction(s.fib.route(n)), 3);
  s.apply({ op: 'remove', key: '[7]10.2.0.0/16', eid });
  t.is(s.fib.lookup4(7, ((10 << 24) | (2 << 16) | 5) >>> 0), -1);
  s.setStatic(parseEid('[7]fd02::/64'), ['2001:db8::2']);
  const v6 = s.fib.lookup6(7, 0xfd020000, 0, 0, 1);
  t.true(v6 >= 0);
  t.is(s.fib.entryExpiresAt(v6), 0, 'static entries never expire');
  s.apply({ op: 'set', entry: {
    eid: parseEid("[7]'name'"), key: "[7]'name'", rlocs: [], action: 0, negative: false,
    ttlMs: 0, createdAt: now, updatedAt: now, expiresAt: Infinity, source: 'static',
  } });
  t.is(s.size, 2);
});

test('source filter: IPv4 and IPv6 entries of an address table, no list = any source', (t) => {
  const f = new SourceFilter();
  const table = new AddressTable(4);
  table.set(0, '192.0.2.1', 4341);
  table.set(1, '2001:db8::1', 4341);
  table.set(2, '192.0.2.2', 4341);
  table.set(3, '2001:db8::2', 4341);
  t.deepEqual([0, 1, 2, 3].map((i) => f.allows(table.bytes, i)), [true, true, true, true]);
  f.set(['192.0.2.1', '2001:db8::2', '2001:db8::2']);
  t.is(f.size, 2);
  t.deepEqual([0, 1, 2, 3].map((i) => f.allows(table.bytes, i)), [true, false, false, true]);
  // many entries: still found, still exact
  f.set(Array.from({ length: 300 }, (_, k) => `10.0.${k >> 8}.${k & 0xff}`));
  t.false(f.allows(table.bytes, 0));
  table.set(0, '10.0.1.20', 0);
  t.true(f.allows(table.bytes, 0));
  f.set([]);
  t.false(f.allows(table.bytes, 0), 'an empty member list accepts nobody');
  f.set(null);
  t.true(f.allows(table.bytes, 1));
});
