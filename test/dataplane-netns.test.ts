// The data plane end to end in network namespaces (issue 4): two EID hosts behind two xTRs
// (test/helpers/dataplane-bed.ts), static map-cache, instance-id 7, offloads on. Correctness
// only: no timing is asserted. DECENT_DP_TEST_MIB sets each TCP transfer's size (default 8).
import test from 'ava';
import { netnsAvailable, tcpTransfer } from '../scripts/lib/netns';
import { icmpPing, PingOptions, PingResult } from '../scripts/dataplane-ping';
import { Bed, createBed, IID, txPackets } from './helpers/dataplane-bed';

const MIB = Number(process.env.DECENT_DP_TEST_MIB ?? 8);
const BYTES = Math.max(1, Math.round(MIB * 1024 * 1024));
const avail = netnsAvailable();
let bed: Bed | undefined;

test.before(async () => {
  if (avail.ok) bed = await createBed();
});

test.after.always(async () => {
  await bed?.destroy();
});

function need(): Bed {
  if (!bed) throw new Error('no testbed');
  return bed;
}

function ping(b: Bed, dst: string, o: PingOptions = {}): { ok: boolean; out: string; r: PingResult } {
  const r = icmpPing(b.hA, dst, o);
  return { ok: r.received === r.sent && r.sent > 0, out: JSON.stringify(r), r };
}

const skip = (t: { log: (s: string) => void; pass: () => void }): boolean => {
  if (avail.ok) return false;
  t.log(`skipped: ${avail.reason}`);
  t.pass();
  return true;
};

// First, before any TCP flow teaches hA a path MTU: a DF packet too big for the path after
// encapsulation (1500 + 36 > 1500) comes back as ICMP Frag-Needed / PTB advertising 1464.
test.serial('MTU: a too-big DF packet yields ICMP frag-needed (IPv4) and packet-too-big (IPv6) with the path MTU', async (t) => {
  if (skip(t)) return;
  const b = need();
  const before = await b.runA.counters();
  // 20 + 8 + 1472 = 1500 bytes of IPv4 with DF; 40 + 8 + 1452 = 1500 bytes of IPv6
  const v4 = ping(b, '10.2.0.10', { count: 1, size: 1472, df: true });
  t.false(v4.ok);
  t.deepEqual(v4.r.errors[0], { type: 3, code: 4, mtu: 1464, from: '10.2.0.10' }, v4.out);
  const v6 = ping(b, 'fd02::10', { count: 1, size: 1452, df: true });
  t.false(v6.ok);
  t.deepEqual(v6.r.errors[0], { type: 2, code: 0, mtu: 1464, from: 'fd02::10' }, v6.out);
  const after = await b.runA.counters();
  t.true(after.icmpSent - before.icmpSent >= 2, `icmpSent ${before.icmpSent} -> ${after.icmpSent}`);
  t.true(after.dropTooBigEncap - before.dropTooBigEncap >= 2);
  // and a packet that fits still goes through
  t.true(ping(b, '10.2.0.10', { size: 1400, df: true }).ok);
});

test.serial('miss: the first ping to an unresolved EID is held and delivered once the mapping arrives', async (t) => {
  if (skip(t)) return;
  const b = need();
  const p = ping(b, '10.2.5.10', { count: 1 });
  t.true(p.ok, `first ping lost: ${p.out}`);
  const ev = await b.runA.waitEvent((e) => e.event === 'miss');
  t.is(ev.eid, `[${IID}]10.2.5.10/32`);
  const c = await b.runA.counters();
  t.true(c.missFlushed >= 1, JSON.stringify(c));
  t.is(c.missReported, 1, 'onMiss once per EID');
});

const combos = [
  { name: 'IPv4-in-IPv4', dst: '10.2.0.10', port: 5101, outer: 'udp4' },
  { name: 'IPv4-in-IPv6', dst: '10.2.1.10', port: 5102, outer: 'udp6' },
  { name: 'IPv6-in-IPv4', dst: 'fd02::10', port: 5103, outer: 'udp4' },
  { name: 'IPv6-in-IPv6', dst: 'fd02:1::10', port: 5104, outer: 'udp6' },
];

for (const c of combos) {
  test.serial(`${c.name}, instance-id ${IID}: ping and ${MIB} MiB over TCP byte-identical`, async (t) => {
    if (skip(t)) return;
    const b = need();
    const before = await b.runB.counters();
    const p = ping(b, c.dst);
    t.true(p.ok, p.out);
    const r = await tcpTransfer(b.hA, b.hB, c.dst, c.port, BYTES);
    t.is(r.received.bytes, BYTES);
    t.is(r.received.sha256, r.sent.sha256);
    const after = await b.runB.counters();
    const k = `${c.outer}.udpRecvDatagrams`;
    t.true(after[k] - before[k] > 1000, `xB received the transfer on its ${c.outer} socket (${before[k]} -> ${after[k]})`);
    // xA sent from its per-flow source-port sockets (tx4/tx6), never from the 4341 listener
    const a = await b.runA.counters();
    const tx = c.outer === 'udp4' ? 'tx4' : 'tx6';
    t.true(a[`${tx}.udpSentDatagrams`] > 1000);
    t.is(a[`${c.outer}.udpSentDatagrams`], 0);
    t.log(`${c.name}: ${MIB} MiB in ${r.sent.ms.toFixed(0)} ms (informational)`);
  });
}

test.serial('multihoming: taking the preferred RLOC down moves traffic to the other, no restart', async (t) => {
  if (skip(t)) return;
  const b = need();
  const u1 = txPackets(b.xA, b.xAu1), u2 = txPackets(b.xA, b.xAu2);
  t.true(ping(b, '10.2.0.10', { count: 5, intervalSec: 0.05 }).ok);
  const u1b = txPackets(b.xA, b.xAu1), u2b = txPackets(b.xA, b.xAu2);
  t.true(u1b - u1 >= 5, 'priority-1 RLOC carries the traffic');
  t.true(u2b - u2 < 5, 'priority-2 RLOC idle');
  await b.runA.request({ cmd: 'set', eid: '10.2.0.0/24', rlocs: [
    { address: '192.168.77.2', priority: 1, up: false }, { address: '192.168.78.2', priority: 2 },
  ] });
  t.true(ping(b, '10.2.0.10', { count: 5, intervalSec: 0.05 }).ok);
  const u2c = txPackets(b.xA, b.xAu2);
  t.true(u2c - u2b >= 5, `traffic moved to the second RLOC (${u2b} -> ${u2c})`);
  const r = await tcpTransfer(b.hA, b.hB, '10.2.0.10', 5105, Math.min(BYTES, 2 << 20));
  t.is(r.received.sha256, r.sent.sha256);
  await b.runA.request({ cmd: 'set', eid: '10.2.0.0/24', rlocs: [
    { address: '192.168.77.2', priority: 1 }, { address: '192.168.78.2', priority: 2 },
  ] });
});

// ---- malformed input and head-end replicated control ----

function lisp(flags: number, iid: number, inner: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = flags;
  h.writeUIntBE(0x123456, 1, 3);
  h.writeUIntBE(iid, 4, 3);
  return Buffer.concat([h, inner]);
}

function ipv4(src: string, dst: string, ttl: number, payload = 8, totalOverride?: number): Buffer {
  const b = Buffer.alloc(20 + payload);
  b[0] = 0x45;
  b.writeUInt16BE(totalOverride ?? b.length, 2);
  b[8] = ttl;
  b[9] = 17;
  src.split('.').forEach((x, i) => { b[12 + i] = Number(x); });
  dst.split('.').forEach((x, i) => { b[16 + i] = Number(x); });
  return b;
}

const SENDER = `const d=require('dgram');const list=JSON.parse(process.argv[1]);const s=d.createSocket('udp4');
let i=0;const next=()=>{if(i>=list.length){s.close();return;}s.send(Buffer.from(list[i++],'hex'),4341,process.argv[2],()=>setTimeout(next,5));};next();`;

test.serial('malformed LISP packets are counted by reason and dropped; instance-id 0xFFFFFF goes to onEncapsulatedControl', async (t) => {
  if (skip(t)) return;
  const b = need();
  const before = await b.runB.counters();
  const ok = (ttl = 64): Buffer => ipv4('10.1.0.10', '10.2.0.10', ttl);
  const I = 0x88; // N + I
  const bad = [
    Buffer.from('deadbeef', 'hex'), // shorter than a LISP header
    lisp(I, IID, Buffer.alloc(30)), // inner IP version 0
    lisp(I, IID, ipv4('10.1.0.10', '10.2.0.10', 64, 8, 2000)), // inner length beyond the datagram
    lisp(I | 0x01, IID, ok()), // K bits: LISP-crypto, not spoken
  ];
  const her = lisp(I, 0xffffff, ipv4('10.1.0.10', '224.0.0.251', 64, 16));
  const payloads = [
    ...bad,
    lisp(I, 99, ok()), // instance-id we do not serve
    lisp(0x80, 0, ok()), // no I bit = instance-id 0
    lisp(I, IID, ipv4('10.1.0.10', '10.9.9.9', 64)), // not our EID
    lisp(I, IID, ok(0)), // TTL 0
    lisp(I, IID, ipv4('10.1.0.10', '10.2.0.10', 64, 1480)), // bigger than xB's TUN MTU 1464
    her,
  ];
  b.xA.exec([process.execPath, '-e', SENDER, JSON.stringify(payloads.map((p) => p.toString('hex'))), '192.168.77.2']);
  const ev = await b.runB.waitEvent((e) => e.event === 'control');
  t.is(ev.src, '192.168.77.1');
  t.is(ev.hex, her.toString('hex'), 'the whole UDP payload, LISP header included');
  const after = await b.runB.counters();
  const d = (k: string): number => after[k] - before[k];
  t.is(d('dropBadHeader'), bad.length);
  t.is(d('dropUnknownInstance'), 2);
  t.is(d('dropNotOurEid'), 1);
  t.is(d('dropTtlExpired'), 1);
  t.is(d('dropTooBig'), 1);
  t.is(d('encapsulatedControl'), 1);
  t.true(b.runB.alive);
  t.true(ping(b, '10.2.0.10').ok, 'still forwarding');
});

test.serial('host mode: the xTR\'s own EID is on its TUN and works as a source address', (t) => {
  if (skip(t)) return;
  const b = need();
  t.regex(b.xA.ip(['-4', 'addr', 'show', 'dev', b.tunA]), /10\.1\.9\.1\/32/);
  // xA's route to 10.2/16 points into the TUN, whose (only IPv4) address is the EID: the kernel picks it
  const r = icmpPing(b.xA, '10.2.0.10', { count: 2 });
  t.is(r.received, 2, JSON.stringify(r));
});

test.serial('host routing: setRoutedEids adds and removes routes; stop() removes the TUN and all it added', async (t) => {
  if (skip(t)) return;
  const b = need();
  const routes = (): string => `${b.xA.ip(['-4', 'route', 'show'])}${b.xA.ip(['-6', 'route', 'show'])}`;
  await b.runA.request({ cmd: 'routed', eids: ['10.3.0.0/16', 'fd03::/48'] });
  t.regex(routes(), /10\.3\.0\.0\/16 dev/);
  t.regex(routes(), /fd03::\/48 dev/);
  await b.runA.request({ cmd: 'routed', eids: ['10.4.0.0/16'] });
  t.notRegex(routes(), /10\.3\.0\.0|fd03::/);
  t.regex(routes(), /10\.4\.0\.0\/16 dev/);
  await b.runA.stop();
  t.false(b.xA.links().includes(b.tunA), 'TUN gone');
  t.notRegex(routes(), new RegExp(`10\\.4\\.0\\.0|10\\.2\\.0\\.0/16|fd02::/16|${b.tunA}`));
});
