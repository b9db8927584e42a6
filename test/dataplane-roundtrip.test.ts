// The data plane end to end on the in-memory I/O doubles (test/helpers/mem-io.ts): two nodes'
// createDataPlane() over a simulated underlay, no root. Encap -> decap round trips in all four
// inner/outer family pairs, the outer header, TTL and ECN rules, PMTU (ICMP too big), the miss
// queue, head-end replicated control, and the hook between classify and emit.
import test from 'ava';
import { eidKey, parseEid, type Eid } from '../src/mapping/eid';
import type { MapCacheEntry } from '../src/mapping/entry';
import { createDataPlane, DataPlaneCounters, type DataPlane } from '../src/dataplane';
import { Encapsulator, SEND } from '../src/dataplane/encap';
import { FibSync } from '../src/dataplane/fib-sync';
import { IcmpTooBig } from '../src/dataplane/icmp';
import { MissQueue } from '../src/dataplane/miss';
import { readDataHeader } from '../src/wire/data';
import { ipv4HeaderOk, ipv4Packet, ipv6Packet, MemNet, type MemDevice, type MemHost } from './helpers/mem-io';

const IID = 7;

interface Node {
  dp: DataPlane;
  host: MemHost;
  tun: MemDevice;
  misses: string[];
  control: { bytes: Buffer; src: string }[];
}

interface NodeSpec {
  rlocs: string[];
  eids: string[];
  staticMapCache?: { eid: string; rlocs: string[] }[];
  routes?: string[];
  mtu?: number;
  encryption?: 'required' | 'preferred' | 'off';
}

async function node(net: MemNet, s: NodeSpec): Promise<Node> {
  const host = net.host(s.rlocs);
  const misses: string[] = [];
  const control: { bytes: Buffer; src: string }[] = [];
  const eids = (l: string[]): Eid[] => l.map((t) => parseEid(t, IID));
  const dp = createDataPlane({
    tun: 'decent0', mtu: s.mtu ?? 1400, offloads: false, instanceId: IID, localEids: eids(s.eids), rlocs: s.rlocs,
    routes: eids(s.routes ?? []),
    staticMapCache: (s.staticMapCache ?? []).map((x) => ({ eid: parseEid(x.eid, IID), rlocs: x.rlocs })),
    encryption: s.encryption,
  }, {
    onMiss: (eid) => misses.push(eidKey(eid)),
    onEncapsulatedControl: (packets, sources) => {
      packets.forEach((bytes, k) => control.push({ bytes: Buffer.from(bytes), src: sources[k] }));
      return true;
    },
    log: () => undefined,
  }, host);
  await dp.start();
  return { dp, host, tun: host.devices[0], misses, control };
}

/** A: RLOCs 192.0.2.1 and 2001:db8::1, EIDs 10.1.0.1 and fd01::1; B likewise with .2 / ::2. */
async function pair(t: { teardown(f: () => Promise<void>): void }, opts: { mtuB?: number; noStaticA?: boolean; encryptionA?: 'required' | 'preferred' } = {}): Promise<{ net: MemNet; a: Node; b: Node }> {
  const net = new MemNet();
  const a = await node(net, {
    rlocs: ['192.0.2.1', '2001:db8::1'], eids: ['10.1.0.1/32', 'fd01::1/128'], encryption: opts.encryptionA,
    staticMapCache: opts.noStaticA ? [] : [
      { eid: '10.2.0.0/24', rlocs: ['192.0.2.2'] }, { eid: 'fd02::/64', rlocs: ['192.0.2.2'] },
      { eid: '10.2.1.0/24', rlocs: ['2001:db8::2'] }, { eid: 'fd02:1::/64', rlocs: ['2001:db8::2'] },
    ],
  });
  const b = await node(net, {
    rlocs: ['192.0.2.2', '2001:db8::2'], eids: ['10.2.0.0/24', '10.2.1.0/24', 'fd02::/64', 'fd02:1::/64'], mtu: opts.mtuB,
    staticMapCache: [{ eid: '10.1.0.0/24', rlocs: ['192.0.2.1'] }, { eid: 'fd01::/64', rlocs: ['192.0.2.1'] }],
  });
  t.teardown(async () => { await a.dp.stop(); await b.dp.stop(); });
  return { net, a, b };
}

test('encap -> decap: the four inner/outer family pairs arrive byte-identical, with the LISP header and outer addressing of RFC 9300 §5.3', async (t) => {
  const { net, a, b } = await pair(t);
  const cases = [
    { inner: ipv4Packet('10.1.0.1', '10.2.0.10', { mark: 1 }), outer: '192.0.2.2', src: '192.0.2.1' },
    { inner: ipv4Packet('10.1.0.1', '10.2.1.10', { mark: 2 }), outer: '2001:db8::2', src: '2001:db8::1' },
    { inner: ipv6Packet('fd01::1', 'fd02::10', { mark: 3 }), outer: '192.0.2.2', src: '192.0.2.1' },
    { inner: ipv6Packet('fd01::1', 'fd02:1::10', { mark: 4 }), outer: '2001:db8::2', src: '2001:db8::1' },
  ];
  for (const c of cases) a.tun.inject(c.inner);
  net.pump();
  // one send per outer family: IPv4 outer first
  const mark = (p: Buffer): number => p[p.length - 1];
  t.deepEqual([...b.tun.written].sort((x, y) => mark(x) - mark(y)), cases.map((c) => c.inner));
  t.is(net.sent.length, 4);
  for (const d of net.sent) {
    const i = mark(d.payload) - 1;
    t.is(d.dst, cases[i].outer);
    t.is(d.src, cases[i].src, 'outer source = our only RLOC of that family');
    t.is(d.dport, 4341);
    t.is(d.payload.length, cases[i].inner.length + 8);
    const h = readDataHeader(d.payload, 0);
    t.true(h.noncepresent);
    t.true(h.iidPresent);
    t.is(h.iid, IID);
    t.is(h.keyId, 0);
    t.is(d.ttl, 64, 'outer TTL copied from the inner');
  }
  const ca = a.dp.counters(), cb = b.dp.counters();
  t.is(ca.encapPackets, 4);
  t.is(cb.decapPackets, 4);
  // the reverse direction works too (B's static entries)
  b.tun.inject(ipv4Packet('10.2.0.10', '10.1.0.1', { mark: 9 }));
  net.pump();
  t.is(a.tun.written.length, 1);
  t.is(a.tun.written[0][30], 9);
});

test('TTL and ECN: outer TTL/TOS copied on encap; on decap inner TTL = min(outer, inner), DSCP from outer, CE rules of RFC 6040', async (t) => {
  const { net, a, b } = await pair(t);
  // the underlay: a router that lowers the TTL to 5 and marks CE
  net.onWire = (d) => { d.ttl = 5; d.tos = (d.tos & 0xfc) | 3; };
  a.tun.inject(ipv4Packet('10.1.0.1', '10.2.0.10', { ttl: 40, tos: 0xb8 | 2 })); // EF, ECT(0)
  a.tun.inject(ipv4Packet('10.1.0.1', '10.2.0.10', { ttl: 40, tos: 0 })); // Not-ECT: must be dropped under CE
  a.tun.inject(ipv6Packet('fd01::1', 'fd02::10', { ttl: 3, tos: 1 })); // hop limit below the outer: kept; ECT(1)
  net.pump();
  t.is(b.tun.written.length, 2);
  const [p4, p6] = b.tun.written;
  t.is(p4[8], 5, 'inner TTL lowered to the outer TTL');
  t.is(p4[1], 0xb8 | 3, 'DSCP kept (the outer carried it), ECN CE');
  t.true(ipv4HeaderOk(p4), 'IPv4 header checksum updated');
  t.is(p6[7], 3, 'inner hop limit below the outer stays');
  t.is(((p6[0] & 0x0f) << 4 | p6[1] >> 4) & 3, 3, 'IPv6 ECT(1) under CE becomes CE');
  const c = b.dp.counters();
  t.is(c.dropEcnNotEct, 1);
  t.is(c.ttlCopied, 1);
  t.is(c.ecnCeMarked, 2);
  t.deepEqual(net.sent.map((d) => d.ttl), [5, 5, 5]);
});

test('PMTU: an inner packet too big after encapsulation is answered with ICMP frag-needed / PTB into the TUN (RFC 9300 §7.1); IPv4 without DF passes', async (t) => {
  const { net, a, b } = await pair(t, { mtuB: 9000 });
  a.tun.inject(ipv4Packet('10.1.0.1', '10.2.0.10', { length: 1480, df: true }));
  a.tun.inject(ipv6Packet('fd01::1', 'fd02:1::10', { length: 1460 }));
  a.tun.inject(ipv4Packet('10.1.0.1', '10.2.0.10', { length: 1480, df: false }));
  a.tun.inject(ipv4Packet('10.1.0.1', '10.2.0.10', { length: 1464, df: true })); // exactly L - H: fits
  net.pump();
  const c = a.dp.counters();
  t.is(c.dropTooBigEncap, 2);
  t.is(c.icmpSent, 2);
  t.is(a.tun.written.length, 2);
  const [icmp4, icmp6] = a.tun.written;
  t.is(icmp4[9], 1);
  t.deepEqual([icmp4[20], icmp4[21], icmp4.readUInt16BE(26)], [3, 4, 1500 - 36]);
  t.deepEqual([...icmp4.subarray(16, 20)], [10, 1, 0, 1], 'to the inner source');
  t.is(icmp6[6], 58);
  t.is(icmp6[40], 2);
  t.is(icmp6.readUInt32BE(44), 1500 - 56);
  t.deepEqual(b.tun.written.map((p) => p.length).sort(), [1464, 1480]);
  // RFC 9300 §7.1: DF=1 on the outer header, except for the inner packet that allowed fragmentation
  t.deepEqual(net.sent.map((d) => [d.payload.length - 8, d.df]).sort(), [[1464, true], [1480, false]]);
});

test('miss: the first packets to an unresolved EID are held, asked for once, and flushed when the mapping arrives', async (t) => {
  const { net, a, b } = await pair(t, { noStaticA: true });
  for (let k = 0; k < 3; k++) a.tun.inject(ipv4Packet('10.1.0.1', '10.2.0.10', { mark: k + 1 }));
  a.tun.inject(ipv4Packet('10.1.0.1', '224.0.0.22')); // multicast: never asked for
  net.pump();
  t.deepEqual(a.misses, [`[${IID}]10.2.0.10/32`]);
  t.is(net.sent.length, 0);
  const now = Date.now();
  const entry: MapCacheEntry = {
    eid: parseEid('10.2.0.0/24', IID), key: `[${IID}]10.2.0.0/24`, rlocs: [{ address: '192.0.2.2', priority: 1, weight: 1, up: true }],
    action: 0, negative: false, ttlMs: 60_000, createdAt: now, updatedAt: now, expiresAt: now + 60_000, source: 'map-reply',
  };
  a.dp.applyMapCache({ op: 'set', entry });
  net.pump();
  t.deepEqual(b.tun.written.map((p) => p[30]), [1, 2, 3], 'in arrival order');
  const c = a.dp.counters();
  t.is(c.missHeld, 3);
  t.is(c.missFlushed, 3);
  t.is(c.dropNotUnicast, 1);
});

test('HER: a LISP packet with instance-id 0xFFFFFF goes to the control side with its outer source, never into the TUN', async (t) => {
  const { net, b } = await pair(t);
  const inner = ipv4Packet('192.0.2.1', '192.0.2.2', { ports: [4342, 4342] });
  const payload = Buffer.concat([Buffer.from([0x88, 0, 0, 1, 0xff, 0xff, 0xff, 0]), inner]);
  net.transmit({ src: '192.0.2.1', sport: 40000, dst: '192.0.2.2', dport: 4341, ttl: 64, tos: 0, keySet: 0, df: true, payload });
  net.pump();
  t.is(b.control.length, 1);
  t.deepEqual(b.control[0], { bytes: payload, src: '192.0.2.1' });
  t.is(b.tun.written.length, 0);
  t.is(b.dp.counters().encapsulatedControl, 1);
});

test('the hook between classify and emit: a slot\'s destination rewritten (an RTR\'s address:port) and its key set reach the endpoint; a dropped slot is not sent', (t) => {
  const net = new MemNet();
  const host = net.host(['192.0.2.1']);
  const tun = host.openDevice({ name: 't', mtu: 1400, addresses: [], offloads: false });
  const tx = host.openEndpoint({ address: '0.0.0.0', port: 0, gso: false, gro: false });
  const rtr = net.host(['198.51.100.7']).openEndpoint({ address: '198.51.100.7', port: 4500, gso: false, gro: false });
  const sync = new FibSync(() => undefined);
  sync.setStatic(parseEid('10.2.0.0/16', IID), ['192.0.2.2']);
  const counters = new DataPlaneCounters();
  const seen: number[] = [];
  const encap = new Encapsulator({
    tun, tx4: [tx], tx6: [], fib: sync.fib, miss: new MissQueue(), icmp: new IcmpTooBig(counters), counters, instanceId: IID,
    onMissDue: () => undefined,
    afterClassify: (batch, n) => {
      for (let i = 0; i < n; i++) {
        if (batch.verdict[i] !== SEND) continue;
        seen.push(i);
        if (i === 1) { batch.verdict[i] = 0; continue; }
        batch.addrs.set(i, '198.51.100.7', 4500);
        batch.keySet[i] = 2;
      }
    },
  });
  encap.setSources(['192.0.2.1']);
  tun.onReadable(() => encap.drain());
  tun.inject(ipv4Packet('10.1.0.1', '10.2.0.1', { mark: 1 }));
  tun.inject(ipv4Packet('10.1.0.1', '10.2.0.2', { mark: 2 }));
  tun.inject(ipv4Packet('10.1.0.1', '10.3.0.1')); // a miss: the hook never sees it as SEND
  net.pump();
  t.deepEqual(seen, [0, 1]);
  t.is(net.sent.length, 1);
  t.is(rtr.queue.length, 1);
  const d = net.sent[0];
  t.deepEqual([d.dst, d.dport, d.src], ['198.51.100.7', 4500, '192.0.2.1']);
  t.is(d.keySet, 2, 'sealed with the key set the hook chose');
  t.is(d.payload[8 + 30], 1);
  t.is(counters.encapPackets, 1);
});

test('encryption required: a packet to an RLOC without a send key waits in the miss queue (bounded, counted) and leaves sealed when the key arrives, never in clear', async (t) => {
  const { net, a } = await pair(t, { encryptionA: 'required' });
  a.tun.inject(ipv4Packet('10.1.0.1', '10.2.0.10', { mark: 1 }));
  a.tun.inject(ipv4Packet('10.1.0.1', '10.2.0.11', { mark: 2 }));
  net.pump();
  t.is(net.sent.length, 0, 'nothing sent before the key');
  t.like(a.dp.counters(), { cryptoHeldNoKey: 2, cryptoDropNoKey: 0, missReported: 0 });
  const key = Buffer.alloc(32, 7);
  t.is(a.dp.applyKeyEvent({ action: 'install', direction: 'encap', localRloc: '192.0.2.1', peerRloc: '192.0.2.2', keyId: 1, suite: 6, variant: 'rfc', encryptKey: key, icvKey: Buffer.alloc(0) }), undefined);
  t.is(net.sent.length, 2, 'the held packets went out as soon as the key was installed');
  t.deepEqual(net.sent.map((d) => [d.dst, d.payload[d.payload.length - 1]]), [['192.0.2.2', 1], ['192.0.2.2', 2]], 'in order');
  t.true(net.sent.every((d) => d.keySet > 0), 'each under the RLOC\'s send set (the endpoint seals it)');
  t.like(a.dp.counters(), { cryptoHeldNoKey: 2, cryptoHeldSent: 2, cryptoDropNoKey: 0, missHeldNow: 0 });
  // the IPv6 RLOC has no key: 8 packets wait, the 9th is dropped and counted (bounded)
  for (let i = 0; i < 9; i++) a.tun.inject(ipv4Packet('10.1.0.1', '10.2.1.10', { mark: 10 + i }));
  net.pump();
  t.is(net.sent.length, 2);
  t.like(a.dp.counters(), { cryptoHeldNoKey: 10, cryptoDropNoKey: 1, missHeldNow: 8 });
});

test('static mode: static map-cache EIDs are routed into the TUN by default and listed as map-cache entries (issue 14)', async (t) => {
  const { a } = await pair(t);
  t.deepEqual([...a.tun.routes].sort(), ['10.2.0.0/24', '10.2.1.0/24', 'fd02:1::/64', 'fd02::/64']);
  const listed = a.dp.staticEntries();
  t.deepEqual(listed.map((e) => [e.key, e.rlocs.map((r) => r.address), e.source]), [
    [`[${IID}]10.2.0.0/24`, ['192.0.2.2'], 'static'], [`[${IID}]fd02::/64`, ['192.0.2.2'], 'static'],
    [`[${IID}]10.2.1.0/24`, ['2001:db8::2'], 'static'], [`[${IID}]fd02:1::/64`, ['2001:db8::2'], 'static'],
  ]);
  await a.dp.stop();
  t.is(a.tun.routes.size, 0, 'removed on stop');
});

/** A LISP data packet (N and I bits, instance-id IID) around `inner`, as anyone could send it to UDP 4341. */
function lispData(inner: Buffer, iid = IID): Buffer {
  return Buffer.concat([Buffer.from([0x88, 0, 0, 1, (iid >> 16) & 0xff, (iid >> 8) & 0xff, iid & 0xff, 0]), inner]);
}

test('member RLOCs: with the control plane\'s member list, data from any other outer source is a counted drop; HER control, static and member RLOCs pass (issue 14)', async (t) => {
  const { net, a, b } = await pair(t);
  const forge = (src: string, mark: number, iid = IID): void => net.transmit({
    src, sport: 5555, dst: '192.0.2.2', dport: 4341, ttl: 64, tos: 0, keySet: 0, df: true, payload: lispData(ipv4Packet('10.1.0.1', '10.2.0.10', { mark }), iid),
  });
  // no member list yet (static mode, or before the control plane spoke): any source
  forge('203.0.113.66', 1);
  net.pump();
  t.is(b.tun.written.length, 1);
  b.dp.setMemberRlocs(['192.0.2.9', '2001:db8::9']);
  forge('203.0.113.66', 2); // not a member: dropped
  net.transmit({ src: '192.0.2.9', sport: 5555, dst: '192.0.2.2', dport: 4341, ttl: 64, tos: 0, keySet: 0, df: true, payload: lispData(ipv4Packet('10.1.0.1', '10.2.0.10', { mark: 3 })) });
  a.tun.inject(ipv4Packet('10.1.0.1', '10.2.0.10', { mark: 4 })); // A's RLOC is in B's static map-cache
  forge('203.0.113.66', 5, 0xffffff); // HER control from a joining node: to the control plane
  net.pump();
  t.deepEqual(b.tun.written.map((p) => p[30]), [1, 3, 4]);
  t.is(b.control.length, 1);
  const c = b.dp.counters();
  t.is(c.dropNotMember, 1);
  t.is(c.allowedSources, 5);
  b.dp.setMemberRlocs(['192.0.2.9', '203.0.113.66']);
  forge('203.0.113.66', 6);
  net.pump();
  t.is(b.tun.written.at(-1)?.[30], 6, 'a new member is accepted at once');
  b.dp.setMemberRlocs(null);
  t.is(b.dp.counters().allowedSources, -1);
});

function mapping(eid: string, rlocs: { address: string; port?: number; priority?: number }[]): MapCacheEntry {
  const e = parseEid(eid, IID);
  return {
    eid: e, key: eidKey(e), rlocs: rlocs.map((r) => ({ address: r.address, priority: r.priority ?? 1, weight: 100, up: true, ...(r.port ? { port: r.port } : {}) })),
    action: 0, negative: false, ttlMs: 60_000, createdAt: Date.now(), updatedAt: Date.now(), expiresAt: Date.now() + 60_000, source: 'local-mr',
  };
}

test('RTR (nat.rtr): clear data from a member for an EID not ours is re-encapsulated, to a member behind NAT at its translated port from UDP 4341; sealed data, a dying TTL and a non-RTR node relay nothing', async (t) => {
  const net = new MemNet();
  const host = net.host(['192.0.2.7']);
  const misses: string[] = [];
  const dp = createDataPlane({
    tun: 'decent0', mtu: 1400, offloads: false, instanceId: IID, localEids: [parseEid('10.7.0.1/32', IID)], rlocs: ['192.0.2.7'],
    routes: [], staticMapCache: [], rtr: true,
  }, { onMiss: (eid) => misses.push(eidKey(eid)), onEncapsulatedControl: () => true, log: () => undefined }, host);
  await dp.start();
  t.teardown(() => dp.stop());
  // a member behind NAT (its translated address and data port) and a public member
  dp.applyMapCache({ op: 'set', entry: mapping('10.5.0.0/24', [{ address: '198.51.100.10', port: 40500 }]) });
  dp.applyMapCache({ op: 'set', entry: mapping('10.8.0.0/24', [{ address: '192.0.2.8' }]) });
  dp.setMemberRlocs(['192.0.2.8', '198.51.100.10']);
  const send = (src: string, sport: number, inner: Buffer, flags = 0x88): void => {
    const p = lispData(inner);
    p[0] = flags;
    net.transmit({ src, sport, dst: '192.0.2.7', dport: 4341, ttl: 64, tos: 0, keySet: 0, df: true, payload: p });
  };
  send('192.0.2.8', 5555, ipv4Packet('10.8.0.1', '10.5.0.1', { mark: 1 }));
  send('198.51.100.10', 40500, ipv4Packet('10.5.0.1', '10.8.0.1', { mark: 2 }));
  send('192.0.2.8', 5555, ipv4Packet('10.8.0.1', '10.5.0.1', { mark: 3 }), 0x8a); // sealed (K bits): never relayed
  send('192.0.2.8', 5555, ipv4Packet('10.8.0.1', '10.5.0.1', { mark: 4, ttl: 1 }));
  const before = net.sent.length;
  net.pump();
  const out = net.sent.slice(before).filter((d) => d.src === '192.0.2.7').sort((x, y) => x.payload[8 + 30] - y.payload[8 + 30]);
  t.deepEqual(out.map((d) => [d.dst, d.dport, d.sport === 4341, d.payload[8 + 30]]), [
    ['198.51.100.10', 40500, true, 1], // the member's NAT lets in only what comes from our 4341
    ['192.0.2.8', 4341, true, 2], // relayed whole: only the outer header changes
  ]);
  t.deepEqual([...out[1].payload.subarray(0, 8)], [0x88, 0, 0, 1, 0, 0, IID, 0], 'the sender\'s LISP header, as it came');
  t.is(out[0].payload[8 + 8], 63, 'inner TTL minus one');
  t.true(ipv4HeaderOk(out[0].payload.subarray(8)));
  const c = dp.counters();
  t.is(c.rtrRelayed, 2);
  t.is(c.dropBadHeader, 1);
  t.is(c.dropTtlExpired, 1);
  t.is(c.decapPackets, 0);
  // An EID the RTR has no mapping for yet: decapsulated and handed to the ITR side, which asks
  // the control plane (and holds the packet) like for its own traffic.
  send('192.0.2.8', 5555, ipv4Packet('10.8.0.1', '10.9.0.1', { mark: 5 }));
  net.pump();
  t.deepEqual(misses, [eidKey(parseEid('10.9.0.1/32', IID))]);
  t.is(dp.counters().rtrRelayed, 3);
  t.is(dp.counters().missHeld, 1);

  // Behind a NAT: everything leaves from the data socket (UDP 4341), not per-flow ports.
  const nat = net.host(['192.168.77.5']);
  const pi = createDataPlane({
    tun: 'decent0', mtu: 1400, offloads: false, instanceId: IID, localEids: [parseEid('10.5.0.1/32', IID)], rlocs: ['192.168.77.5'],
    routes: [], staticMapCache: [{ eid: parseEid('10.8.0.0/24', IID), rlocs: ['192.0.2.7'] }],
  }, { onMiss: () => undefined, onEncapsulatedControl: () => true, log: () => undefined }, nat);
  await pi.start();
  t.teardown(() => pi.stop());
  const flows = (): Set<number> => {
    const from = net.sent.length;
    for (let k = 0; k < 16; k++) nat.devices[0].inject(ipv4Packet('10.5.0.1', '10.8.0.1', { mark: k, ports: [1000 + k, 2000] }));
    net.pump();
    return new Set(net.sent.slice(from).filter((d) => d.src === '192.168.77.5').map((d) => d.sport));
  };
  t.true(flows().size > 1, 'per-flow source ports by default');
  pi.setBehindNat(true);
  t.deepEqual([...flows()], [4341]);
  pi.sendFromDataPort('192.0.2.7', 4341, Buffer.from([8, 0, 0, 0, 0xff, 0xff, 0xff, 0]));
  t.like(net.sent.at(-1), { src: '192.168.77.5', sport: 4341, dst: '192.0.2.7', dport: 4341 });
});
