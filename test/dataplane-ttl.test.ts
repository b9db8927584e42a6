// Outer TTL/TOS at the ETR (RFC 9300 §5.3 steps 4-6, RFC 6040) and the outer source RLOC at the
// ITR (IP_PKTINFO / IPV6_PKTINFO), end to end in network namespaces:
//
//   S 192.168.91.1 fd91::1 ==underlay== xB .2/.3 ::2/::3 (dataplane-runner) --lan-- hB 10.2.0.10 fd02::10
//
// S crafts LISP packets with the addon's UDP socket (chosen outer TTL/TOS per slot) to xB's RLOC;
// hB receives the decapsulated inner UDP with the addon too, which reports each datagram's TTL and
// TOS (IP_RECVTTL/IP_RECVTOS): one forwarding hop (xB) lowers the TTL by 1. The reverse direction
// checks the outer source xB picks. No timing is asserted: waits only bound how long we look.
import test from 'ava';
import { AddressTable, D, F, Pool, RecvPool, UdpEndpoint, ipToBytes } from '../src/native';
import { Netns, netnsAvailable, uniqueName } from '../scripts/lib/netns';
import { IID, Runner, addrs, link } from './helpers/dataplane-bed';

const avail = netnsAvailable();
const INNER_PORT = 6100;

interface Bed { s: Netns; xB: Netns; hB: Netns; run: Runner; src4: string; src6: string; kernel4: string; kernel6: string }
let bed: Bed | undefined;
const made: Netns[] = [];

/** The source address the kernel's route would pick in `ns` towards `dst`. */
function routeSource(ns: Netns, dst: string): string {
  const j = JSON.parse(ns.ip(['-j', ...(dst.includes(':') ? ['-6'] : []), 'route', 'get', dst])) as { prefsrc?: string }[];
  return j[0].prefsrc ?? '';
}

test.before(async () => {
  if (!avail.ok) return;
  const ns = (p: string): Netns => { const n = new Netns(uniqueName(p)); made.push(n); return n; };
  const s = ns('tts'), xB = ns('ttx'), hB = ns('tth');
  const [su, xu] = link(s, xB);
  const [xl, hl] = link(xB, hB);
  addrs(s, su, ['192.168.91.1/24', 'fd91::1/64']);
  addrs(xB, xu, ['192.168.91.2/24', '192.168.91.3/24', 'fd91::2/64', 'fd91::3/64']);
  addrs(xB, xl, ['10.2.0.1/24', 'fd02::1/64']);
  addrs(hB, hl, ['10.2.0.10/24', 'fd02::10/64']);
  hB.ip(['route', 'add', 'default', 'via', '10.2.0.1']);
  hB.ip(['-6', 'route', 'add', 'default', 'via', 'fd02::1']);
  for (const c of ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', 'net.ipv4.conf.all.rp_filter=0']) xB.exec(['sysctl', '-qw', c]);
  // try to let UDP GRO merge on xB's underlay (veth does GRO only when asked); fine if it cannot
  try { xB.exec(['ethtool', '-K', xu, 'gro', 'on']); } catch { /* no ethtool or no veth GRO */ }
  // our source RLOCs: the address of each family the kernel would NOT pick, so the test shows
  // that the data plane's choice wins
  const kernel4 = routeSource(xB, '192.168.91.1'), kernel6 = routeSource(xB, 'fd91::1');
  const src4 = kernel4 === '192.168.91.3' ? '192.168.91.2' : '192.168.91.3';
  const src6 = kernel6 === 'fd91::3' ? 'fd91::2' : 'fd91::3';
  const run = await Runner.start(xB, {
    tun: uniqueName('ttt'), mtu: 1464, offloads: true, instanceId: IID,
    localEids: ['10.2.0.0/24', 'fd02::/64'], rlocs: [src4, src6],
    routes: ['10.9.0.0/16', 'fd09::/16'],
    staticMapCache: [{ eid: '10.9.0.0/16', rlocs: ['192.168.91.1'] }, { eid: 'fd09::/16', rlocs: ['fd91::1'] }],
  });
  // resolve neighbours up front (xB -> hB, S -> xB's RLOCs) so no test datagram waits in an
  // unresolved-neighbour queue, which holds only a few packets
  for (const [from, to] of [[xB, '10.2.0.10'], [xB, 'fd02::10'], [s, src4], [s, src6]] as const) {
    try { from.exec(['ping', '-c', '1', '-W', '2', to]); } catch { /* the tests will say what is missing */ }
  }
  bed = { s, xB, hB, run, src4, src6, kernel4, kernel6 };
});

test.after.always(async () => {
  await bed?.run.stop().catch(() => undefined);
  for (const n of made) n.destroy();
});

function need(t: { log: (s: string) => void; pass: () => void }): Bed | undefined {
  if (!avail.ok) { t.log(`skipped: ${avail.reason}`); t.pass(); return undefined; }
  if (!bed) throw new Error('no testbed');
  return bed;
}

function sum16(b: Uint8Array, from: number, to: number, acc = 0): number {
  for (let i = from; i < to; i += 2) acc += (b[i] << 8) | (i + 1 < to ? b[i + 1] : 0);
  return acc;
}
const fold = (s: number): number => { while (s > 0xffff) s = (s & 0xffff) + (s >>> 16); return s; };

/** LISP header (N=0, I=1, instance-id IID) + an inner UDP datagram to hB with `tos`/`ttl` and payload `id`. */
function lispPacket(v6: boolean, ttl: number, tos: number, id: number, payloadLen = 32): Uint8Array {
  const payload = new Uint8Array(payloadLen);
  payload[0] = id >> 8; payload[1] = id & 0xff;
  const ipl = v6 ? 40 : 20, udpLen = 8 + payloadLen;
  const b = new Uint8Array(8 + ipl + udpLen);
  b.set([0x08, 0, 0, 0, (IID >> 16) & 0xff, (IID >> 8) & 0xff, IID & 0xff, 0], 0);
  const p = 8;
  let pseudo: number;
  if (v6) {
    b[p] = 0x60 | (tos >> 4); b[p + 1] = (tos & 0x0f) << 4;
    b[p + 4] = udpLen >> 8; b[p + 5] = udpLen & 0xff; b[p + 6] = 17; b[p + 7] = ttl;
    b.set(ipToBytes('fd09::1'), p + 8); b.set(ipToBytes('fd02::10'), p + 24);
    pseudo = sum16(b, p + 8, p + 40, udpLen + 17);
  } else {
    const total = ipl + udpLen;
    b.set([0x45, tos, total >> 8, total & 0xff, 0, 0, 0, 0, ttl, 17, 0, 0], p);
    b.set(ipToBytes('10.9.0.1'), p + 12); b.set(ipToBytes('10.2.0.10'), p + 16);
    const c = ~fold(sum16(b, p, p + 20)) & 0xffff;
    b[p + 10] = c >> 8; b[p + 11] = c & 0xff;
    pseudo = sum16(b, p + 12, p + 20, udpLen + 17);
  }
  const u = p + ipl;
  b.set([0x30, 0x39, INNER_PORT >> 8, INNER_PORT & 0xff, udpLen >> 8, udpLen & 0xff, 0, 0], u);
  b.set(payload, u + 8);
  let c = ~fold(sum16(b, u, u + udpLen, pseudo)) & 0xffff;
  if (c === 0) c = 0xffff;
  b[u + 6] = c >> 8; b[u + 7] = c & 0xff;
  return b;
}

interface Got { id: number; ttl: number; tos: number }

/** Receive on `rx` until `want` datagrams or nothing new for a while; returns them by payload id. */
async function collect(rx: UdpEndpoint, want: number): Promise<Got[]> {
  const pool = new RecvPool({ slots: 64, slotSize: 2048 + 64 });
  const out: Got[] = [];
  let idle = 0;
  while (out.length < want && idle < 100) {
    const n = rx.recv(pool);
    if (n === 0) { idle++; await new Promise((r) => setTimeout(r, 20)); continue; }
    idle = 0;
    for (let i = 0; i < n; i++) {
      const p = pool.packet(i), tt = pool.field(i, D.TTLTOS);
      out.push({ id: (p[0] << 8) | p[1], ttl: tt & 0xff, tos: (tt >> 8) & 0xff });
    }
  }
  return out;
}

/** Send each packet from S to xB's RLOC with its own outer TTL/TOS. */
function sendFromS(b: Bed, v6: boolean, pkts: { bytes: Uint8Array; ttl: number; tos: number }[]): UdpEndpoint {
  const tx = UdpEndpoint.open({ address: v6 ? '::' : '0.0.0.0', port: 0, netns: b.s.name, gso: false, gro: false, maxBatch: 1 });
  const pool = new Pool({ slots: pkts.length, slotSize: 2048 + 64 });
  const table = new AddressTable(1);
  table.set(0, v6 ? b.src6 : b.src4, 4341);
  pkts.forEach((x, i) => {
    pool.put(i, x.bytes);
    pool.setField(i, D.ADDR, 0);
    pool.setField(i, D.TTLTOS, x.ttl | (x.tos << 8) | 0x10000);
  });
  tx.send(pool, pkts.length, table);
  return tx;
}

for (const v6 of [false, true]) {
  test.serial(`ETR, IPv${v6 ? 6 : 4} in IPv${v6 ? 6 : 4}: inner TTL = min(outer, inner), DSCP copied, ECN per RFC 6040`, async (t) => {
    const b = need(t);
    if (!b) return;
    const rx = UdpEndpoint.open({ address: v6 ? '::' : '0.0.0.0', port: INNER_PORT, netns: b.hB.name, gro: false });
    const before = await b.run.counters();
    // id, inner ttl/tos, outer ttl/tos, expected inner tos on arrival (TTL: min - 1 for xB's hop)
    const cases = [
      { id: 1, ittl: 64, itos: 0x00, ottl: 5, otos: 0x00, tos: 0x00 }, // outer TTL lower: copied
      { id: 2, ittl: 9, itos: 0x00, ottl: 64, otos: 0x00, tos: 0x00 }, // inner lower: kept
      { id: 3, ittl: 64, itos: 0x00, ottl: 64, otos: 0xb8, tos: 0xb8 }, // DSCP EF copied (Not-ECT stays)
      { id: 4, ittl: 64, itos: 0x02, ottl: 64, otos: 0x03, tos: 0x03 }, // outer CE, inner ECT(0): CE
      { id: 5, ittl: 64, itos: 0x00, ottl: 64, otos: 0x03, tos: -1 }, // outer CE, inner Not-ECT: dropped
      { id: 6, ittl: 64, itos: 0x02, ottl: 64, otos: 0x01, tos: 0x01 }, // outer ECT(1), inner ECT(0): ECT(1)
      { id: 7, ittl: 64, itos: 0x01, ottl: 64, otos: 0x02, tos: 0x01 }, // outer ECT(0), inner ECT(1): unchanged
      { id: 8, ittl: 64, itos: 0xb9, ottl: 64, otos: 0x28, tos: 0x29 }, // DSCP AF11 over EF, inner ECT(1) kept
    ];
    const tx = sendFromS(b, v6, cases.map((c) => ({ bytes: lispPacket(v6, c.ittl, c.itos, c.id), ttl: c.ottl, tos: c.otos })));
    const got = await collect(rx, cases.filter((c) => c.tos >= 0).length);
    tx.close();
    rx.close();
    for (const c of cases) {
      const g = got.find((x) => x.id === c.id);
      if (c.tos < 0) { t.is(g, undefined, `case ${c.id} should have been dropped`); continue; }
      t.truthy(g, `case ${c.id} did not arrive: ${JSON.stringify(got)}`);
      if (!g) continue;
      t.is(g.ttl, Math.min(c.ittl, c.ottl) - 1, `case ${c.id} TTL`);
      t.is(g.tos, c.tos, `case ${c.id} TOS`);
    }
    const after = await b.run.counters();
    t.is(after.ttlCopied - before.ttlCopied, 1, 'ttlCopied');
    t.is(after.ecnCeMarked - before.ecnCeMarked, 1, 'ecnCeMarked');
    t.is(after.dropEcnNotEct - before.dropEcnNotEct, 1, 'dropEcnNotEct');
  });
}

test.serial('ETR: every datagram of a UDP GSO/GRO burst gets the lower outer TTL and the outer DSCP', async (t) => {
  const b = need(t);
  if (!b) return;
  const rx = UdpEndpoint.open({ address: '0.0.0.0', port: INNER_PORT, netns: b.hB.name, gro: false });
  const tx = UdpEndpoint.open({ address: '0.0.0.0', port: 0, netns: b.s.name, gro: false, maxBatch: 1 });
  const before = await b.run.counters();
  const N = 16, one = lispPacket(false, 64, 0x02, 0, 400).length;
  const pool = new Pool({ slots: 1, slotSize: 65536 + 64 });
  const buf = new Uint8Array(N * one);
  for (let k = 0; k < N; k++) buf.set(lispPacket(false, 64, 0x02, 100 + k, 400), k * one);
  pool.put(0, buf);
  const table = new AddressTable(1);
  table.set(0, b.src4, 4341);
  pool.setField(0, D.ADDR, 0);
  pool.setField(0, D.TTLTOS, 7 | (0x2b << 8) | 0x10000); // TTL 7, DSCP AF11 (0x28) + CE
  // one buffer of equal-sized datagrams (no F.GSO_* flag): sent as one UDP_SEGMENT message
  pool.setField(0, D.GSO, tx.offloads.gso ? one : 0);
  t.is(pool.field(0, D.FLAGS) & F.GSO_UDP, 0);
  if (!tx.offloads.gso) {
    t.log('no UDP GSO on this kernel: sending the datagrams one by one');
    const p1 = new Pool({ slots: N, slotSize: 2048 + 64 });
    for (let k = 0; k < N; k++) {
      p1.put(k, lispPacket(false, 64, 0x02, 100 + k, 400));
      p1.setField(k, D.ADDR, 0);
      p1.setField(k, D.TTLTOS, 7 | (0x2b << 8) | 0x10000);
    }
    tx.send(p1, N, table);
  } else {
    tx.send(pool, 1, table);
  }
  const got = await collect(rx, N);
  tx.close();
  rx.close();
  const after = await b.run.counters();
  t.log(`xB udp4: ${after['udp4.udpRecvDatagrams'] - before['udp4.udpRecvDatagrams']} datagrams in ` +
    `${after['udp4.udpRecvMessages'] - before['udp4.udpRecvMessages']} messages; TUN coalesced ${after['tun.tunCoalesced'] - before['tun.tunCoalesced']}`);
  t.is(got.length, N, JSON.stringify(got));
  for (const g of got) {
    t.is(g.ttl, 6, `datagram ${g.id} TTL`);
    t.is(g.tos, 0x2b, `datagram ${g.id} TOS`);
  }
  t.is(after.ttlCopied - before.ttlCopied, N);
  t.is(after.ecnCeMarked - before.ecnCeMarked, N);
});

for (const v6 of [false, true]) {
  test.serial(`ITR, IPv${v6 ? 6 : 4}: the outer source is the configured RLOC, not the route's preferred address`, async (t) => {
    const b = need(t);
    if (!b) return;
    const want = v6 ? b.src6 : b.src4, kernel = v6 ? b.kernel6 : b.kernel4;
    t.not(want, kernel, 'the test needs an RLOC the kernel would not pick');
    // S listens on 4341 for what xB encapsulates; hB sends plain UDP to an EID behind S
    const rx = UdpEndpoint.open({ address: v6 ? '::' : '0.0.0.0', port: 4341, netns: b.s.name, gro: false });
    const tx = UdpEndpoint.open({ address: v6 ? '::' : '0.0.0.0', port: 0, netns: b.hB.name, gso: false, gro: false, maxBatch: 1 });
    const pool = new Pool({ slots: 4, slotSize: 2048 + 64 });
    const table = new AddressTable(1);
    table.set(0, v6 ? 'fd09::1' : '10.9.0.1', 7000);
    for (let i = 0; i < 4; i++) {
      pool.put(i, new Uint8Array([0xab, i, 1, 2, 3, 4, 5, 6]));
      pool.setField(i, D.ADDR, 0);
    }
    tx.send(pool, 4, table);
    const rp = new RecvPool({ slots: 16, slotSize: 2048 + 64 });
    const sources: string[] = [];
    for (let tries = 0; tries < 100 && sources.length < 4; tries++) {
      const n = rx.recv(rp);
      for (let i = 0; i < n; i++) sources.push(rp.source(i)?.address ?? '');
      if (n === 0) await new Promise((r) => setTimeout(r, 20));
    }
    tx.close();
    rx.close();
    t.true(sources.length >= 1, 'nothing encapsulated reached S');
    for (const s of sources) t.is(s, want);
  });
}
