// LISP-crypto in the addon (RFC 8061 §7, issue 15): what udpSend seals and what tunWrite opens,
// byte for byte against the node:crypto reference in src/crypto (sealData/openData), for suites
// 6, 5 and 2 (lispers.net's form);
// tampered, replayed, too old and unknown-key-id datagrams are dropped and counted, never
// delivered; lispers.net's captured suite-2 frames decrypt with the keys its README gives.
import test, { ExecutionContext } from 'ava';
import * as dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { Netns, netnsAvailable, uniqueName } from '../src/testbed/netns';
import { AddressTable, D, DESC_STRIDE, F, KeyTable, loadAddon, Pool, RecvPool, Tun, UdpEndpoint } from '../src/native';
import { checkSuite, openData, sealData, TrafficKeys } from '../src/crypto';
import { vectorDatagrams } from './helpers/vectors';

const LISP_HDR = Buffer.from([0x88, 0x12, 0x34, 0x56, 0, 0, 0, 0]); // N, I; nonce; IID 0

function csum(b: Uint8Array, seed = 0): number {
  let s = seed;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function pseudo(ip: Buffer, proto: number, l4len: number): number {
  return csum(ip.subarray(12, 20)) + proto + l4len;
}

function ipv4(src: string, dst: string, proto: number, l4: Buffer, id = 1): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45; ip.writeUInt16BE(20 + l4.length, 2); ip.writeUInt16BE(id, 4); ip[8] = 64; ip[9] = proto;
  Buffer.from(src.split('.').map(Number)).copy(ip, 12);
  Buffer.from(dst.split('.').map(Number)).copy(ip, 16);
  ip.writeUInt16BE(~csum(ip) & 0xffff, 10);
  return Buffer.concat([ip, l4]);
}

function udp4(src: string, dst: string, sport: number, dport: number, payload: Buffer): Buffer {
  const u = Buffer.alloc(8);
  u.writeUInt16BE(sport, 0); u.writeUInt16BE(dport, 2); u.writeUInt16BE(8 + payload.length, 4);
  const pkt = ipv4(src, dst, 17, Buffer.concat([u, payload]));
  const ck = ~csum(pkt.subarray(20), pseudo(pkt, 17, 8 + payload.length)) & 0xffff;
  pkt.writeUInt16BE(ck || 0xffff, 26);
  return pkt;
}

/** A TCP super-packet as a TUN read gives it (only the pseudo-header checksum: the split completes it). */
function tcpSuper(payload: Buffer): Buffer {
  const t = Buffer.alloc(20);
  t.writeUInt16BE(40000, 0); t.writeUInt16BE(5001, 2); t.writeUInt32BE(1000, 4); t.writeUInt32BE(7, 8);
  t[12] = 0x50; t[13] = 0x18; t.writeUInt16BE(512, 14);
  return ipv4('10.1.0.1', '10.2.0.1', 6, Buffer.concat([t, payload]), 100);
}

function trafficKeys(suite: number, variant: 'rfc' | 'lispers'): TrafficKeys {
  const c = checkSuite(suite, variant);
  if (!c.ok) throw new Error(c.error);
  return { spec: c.spec, encryptKey: randomBytes(c.spec.encryptKeyLength), icvKey: randomBytes(c.spec.icvKeyLength) };
}

const SUITES: Array<{ name: string; ref: () => TrafficKeys }> = [
  { name: 'suite 6 ChaCha20-Poly1305', ref: () => trafficKeys(6, 'rfc') },
  { name: 'suite 5 AES-128-GCM', ref: () => trafficKeys(5, 'rfc') },
  { name: 'suite 2 AES-128-CBC + HMAC-SHA-256 (lispers.net form)', ref: () => trafficKeys(2, 'lispers') },
];

const lispers = (r: TrafficKeys): boolean => r.spec.variant === 'lispers';

/** The IV of packet `c` under a key: AEAD a big-endian counter, lispers' suite 2 two little-endian halves. */
function ivOf(r: TrafficKeys, c: bigint, high = 0n): Buffer {
  const iv = Buffer.alloc(r.spec.ivLength);
  if (lispers(r)) { iv.writeBigUInt64LE(high, 0); iv.writeBigUInt64LE(c, 8); } else iv.writeBigUInt64BE(c, iv.length - 8);
  return iv;
}

function ivCounterOf(r: TrafficKeys, iv: Buffer): bigint {
  return lispers(r) ? iv.readBigUInt64LE(8) : iv.readBigUInt64BE(iv.length - 8);
}

function install(table: KeyTable, set: number, keyId: number, r: TrafficKeys): void {
  table.installTraffic(set, keyId, r);
}

function setSlot(pool: Pool, i: number, pkt: Buffer, fields: Partial<Record<keyof typeof D, number>>): void {
  pool.put(i, pkt);
  pool.data.set(LISP_HDR, pool.start(i) - LISP_HDR.length);
  pool.setField(i, D.HDR, LISP_HDR.length);
  for (const [k, v] of Object.entries(fields)) pool.setField(i, D[k as keyof typeof D], v);
}

async function collect(sock: dgram.Socket, n: number, ms = 2000): Promise<Buffer[]> {
  const got: Buffer[] = [];
  return new Promise((resolve) => {
    const done = (): void => { sock.off('message', on); clearTimeout(timer); resolve(got); };
    const on = (m: Buffer): void => { got.push(m); if (got.length >= n) done(); };
    const timer = setTimeout(done, ms);
    sock.on('message', on);
  });
}

for (const s of SUITES) {
  test.serial(`udpSend seals every segment after the GSO split, byte-exact with node:crypto (${s.name})`, async (t) => {
    const r = s.ref();
    const table = new KeyTable(4);
    const set = table.allocate();
    install(table, set, 1, r);
    table.setSendKey(set, 1);
    const ep = UdpEndpoint.open({ address: '127.0.0.1', port: 0 });
    const sock = dgram.createSocket('udp4');
    t.teardown(() => { ep.close(); sock.close(); });
    await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res));
    ep.setKeys(table);
    const addrs = new AddressTable(1);
    addrs.set(0, '127.0.0.1', sock.address().port);
    const pool = new Pool({ slots: 4 });
    const single = udp4('10.1.0.1', '10.2.0.1', 1000, 2000, randomBytes(77));
    const payload = randomBytes(10 * 1000 + 500);
    setSlot(pool, 0, single, { ADDR: 0, KEY: set });
    setSlot(pool, 1, tcpSuper(payload), { ADDR: 0, KEY: set, FLAGS: F.GSO_TCP4, GSO: 1000 });
    const got = collect(sock, 12);
    t.is(ep.send(pool, 2, addrs), 12);
    const msgs = await got;
    t.is(msgs.length, 12);
    const stats = ep.stats;
    t.true(stats.udpSentMessages < stats.udpSentDatagrams, 'the sealed segments left as UDP GSO messages');
    const segs: Buffer[] = [];
    msgs.forEach((m, j) => {
      const o = openData(r, m);
      if (!o.ok) { t.fail(`datagram ${j} does not open with src/crypto: ${o.reason}`); return; }
      t.is(m[0] & 3, 1, 'KK carries the key-id');
      t.deepEqual(m.subarray(1, 8), LISP_HDR.subarray(1, 8), 'the rest of the LISP header is untouched');
      // the IV counter starts at 1 and counts every segment of the key
      t.is(ivCounterOf(r, o.iv), BigInt(j + 1));
      if (!lispers(r)) t.deepEqual(o.iv, ivOf(r, BigInt(j + 1)));
      t.deepEqual(sealData(r, 1, m.subarray(0, 8), o.iv, o.inner), m, `datagram ${j} is byte-exact with the reference`);
      segs.push(o.inner);
    });
    const trim = (p: Buffer): Buffer => p.subarray(0, p.readUInt16BE(2));
    t.deepEqual(trim(segs[0]), single);
    const inner = segs.slice(1).map(trim);
    t.deepEqual(Buffer.concat(inner.map((p) => p.subarray(40))), payload, 'the segments carry the super-packet payload in order');
    inner.forEach((p, i) => {
      t.is(p.readUInt32BE(24), 1000 + i * 1000, 'TCP sequence numbers advance per segment');
      t.is(csum(p.subarray(20), pseudo(p, 6, p.length - 20)), 0xffff, 'inner TCP checksum is complete');
    });
    const k = table.key(set, 1);
    t.is(k.encrypted, 12);
    t.is(k.txIv, 12n);

    // no send key under the set: dropped and counted, never sent in clear
    table.setSendKey(set, 2);
    const none = collect(sock, 1, 300);
    t.is(ep.send(pool, 1, addrs), 0);
    t.is((await none).length, 0);
    t.is(table.setCounters(set).txNoKey, 1);
  });
}

// ---- receive: tunWrite opens in place before coalescing (needs a TUN: root, in a netns) ----
const avail = netnsAvailable();

interface RxBed { ns: Netns; tun: Tun; lisp: UdpEndpoint; sender: UdpEndpoint; sink: UdpEndpoint; table: KeyTable; mode: 'write' | 'open' }

function t8(v: number, what: string): void {
  if (!v) throw new Error(`expected: ${what}`);
}

function rxBed(t: ExecutionContext, tunAddr: string, route: string | undefined, sinkAddr: string, sinkPort: number, mode: 'write' | 'open' = 'write'): RxBed {
  const ns = new Netns(uniqueName('dnc'));
  const closers: Array<{ close(): void }> = [];
  t.teardown(() => { for (const c of closers.reverse()) c.close(); ns.destroy(); });
  const tun = Tun.open({ name: uniqueName('dct'), netns: ns.name, mtu: 1400, addresses: [tunAddr] });
  closers.push(tun);
  if (route) tun.addRoute(route);
  ns.exec(['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', `net.ipv4.conf.${tun.name}.rp_filter=0`]);
  const lisp = UdpEndpoint.open({ address: '127.0.0.1', port: 4341, netns: ns.name });
  closers.push(lisp);
  const sender = UdpEndpoint.open({ address: '127.0.0.1', port: 0, netns: ns.name });
  closers.push(sender);
  const sink = UdpEndpoint.open({ address: sinkAddr, port: sinkPort, netns: ns.name, gro: false });
  closers.push(sink);
  const table = new KeyTable(4);
  tun.setKeys(table);
  return { ns, tun, lisp, sender, sink, table, mode };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Send raw datagrams to the LISP endpoint, receive them there and hand them to the TUN under set
 * `set`: with D.KEY on tunWrite (`write`), or through KeyTable.open() first, dropping what kept
 * its K bits as a decap path does, then a clear tunWrite (`open`). Returns what reached the sink.
 */
async function deliver(b: RxBed, dgrams: Buffer[], set: number, mode: 'write' | 'open' = b.mode): Promise<Buffer[]> {
  const tx = new Pool({ slots: 64 }), addrs = new AddressTable(1);
  addrs.set(0, '127.0.0.1', 4341);
  dgrams.forEach((d, i) => { tx.put(i, d); tx.setField(i, D.ADDR, 0); });
  b.sender.send(tx, dgrams.length, addrs);
  const rx = new RecvPool({ slots: 64 });
  let got = 0;
  for (let tries = 0; tries < 50 && got < dgrams.length; tries++) {
    const n = b.lisp.recv(rx);
    for (let i = 0; i < n; i++) {
      const d = i * DESC_STRIDE;
      got += rx.desc[d + D.GSO] > 0 ? Math.ceil(rx.desc[d + D.LEN] / rx.desc[d + D.GSO]) : 1;
      rx.desc[d + D.HDR] = 8;
      rx.desc[d + D.KEY] = set;
    }
    if (n && mode === 'open') {
      b.table.open(rx, n);
      for (let i = 0; i < n; i++) {
        const d = i * DESC_STRIDE, at = rx.start(i), seg = rx.desc[d + D.GSO] || rx.desc[d + D.LEN];
        t8(rx.desc[d + D.FLAGS] & F.OPENED, 'open() marks the slot');
        for (let o = 0; o < rx.desc[d + D.LEN]; o += seg) if (rx.data[at + o] & 3) rx.desc[d + D.ADDR] = -1;
      }
    }
    if (n) b.tun.write(rx, n);
    else await sleep(10);
  }
  await sleep(50);
  const out: Buffer[] = [];
  const sinkPool = new RecvPool({ slots: 64, slotSize: 2048 + 64 });
  for (let n = b.sink.recv(sinkPool); n > 0; n = b.sink.recv(sinkPool)) for (let i = 0; i < n; i++) out.push(Buffer.from(sinkPool.packet(i)));
  return out;
}

for (const [s, mode] of SUITES.flatMap((x) => [[x, 'write'], [x, 'open']] as const)) {
  const how = mode === 'write' ? 'tunWrite' : 'KeyTable.open() then tunWrite';
  test.serial(`${how} verifies and decrypts, drops tampered, replayed, old and unknown-key-id datagrams (${s.name})`, async (t) => {
    if (!avail.ok) { t.log(`skipped: ${avail.reason}`); t.pass(); return; }
    const r = s.ref();
    const b = rxBed(t, '10.77.0.1/24', undefined, '10.77.0.1', 9000, mode);
    const set = b.table.allocate();
    install(b.table, set, 1, r);
    const iv = (c: bigint): Buffer => ivOf(r, c, 0x1234n);
    const inner = (n: number): Buffer => udp4('10.77.0.2', '10.77.0.1', 5555, 9000, Buffer.from(`payload ${n} `.repeat(n + 1)));
    const good = [1, 2, 3, 5].map((c) => sealData(r, 1, LISP_HDR, iv(BigInt(c)), inner(c)));
    const out = await deliver(b, good, set);
    t.deepEqual(out.map((p) => p.toString()), [1, 2, 3, 5].map((c) => `payload ${c} `.repeat(c + 1)));
    t.is(b.table.key(set, 1).decrypted, 4);
    t.is(b.table.key(set, 1).rxTop, 5n);

    const tampered = sealData(r, 1, LISP_HDR, iv(6n), inner(6));
    tampered[tampered.length - 30] ^= 1;
    const headerTampered = sealData(r, 1, LISP_HDR, iv(7n), inner(7));
    headerTampered[3] ^= 1; // the LISP header is associated data
    const replayed = good[1];
    const ivTampered = sealData(r, 1, LISP_HDR, iv(9n), inner(9));
    ivTampered[8] ^= 0x80; // the IV is authenticated too
    const unknownKid = sealData(r, 2, LISP_HDR, iv(8n), inner(8));
    const clear = Buffer.concat([LISP_HDR, inner(14)]); // KK = 0 where a key is expected
    const late = sealData(r, 1, LISP_HDR, iv(4n), inner(4)); // never seen, still inside the window
    const bad = await deliver(b, [tampered, headerTampered, ivTampered, replayed, unknownKid, clear, late], set);
    t.deepEqual(bad.map((p) => p.toString()), [`payload 4 `.repeat(5)], 'only the late-but-fresh datagram is delivered');
    let k = b.table.key(set, 1);
    t.is(k.authFailures, 3);
    t.is(k.replays, 1);
    t.is(b.table.setCounters(set).unknownKeyId, 2, 'the unknown key-id and the clear datagram');
    t.is(k.decrypted, 5);

    // jump far ahead: counters more than 2048 - 64 behind the top are out of the window
    t.is((await deliver(b, [sealData(r, 1, LISP_HDR, iv(5000n), inner(9))], set)).length, 1);
    t.is((await deliver(b, [sealData(r, 1, LISP_HDR, iv(100n), inner(10))], set)).length, 0);
    k = b.table.key(set, 1);
    t.is(k.outOfWindow, 1);

    // rekey: key-id 2 installed next to 1; both are accepted until 1 is removed
    const r2 = s.ref();
    install(b.table, set, 2, r2);
    const both = await deliver(b, [sealData(r2, 2, LISP_HDR, ivOf(r2, 1n), inner(11)), sealData(r, 1, LISP_HDR, iv(5001n), inner(12))], set);
    t.is(both.length, 2);
    b.table.remove(set, 1);
    t.is((await deliver(b, [sealData(r, 1, LISP_HDR, iv(5002n), inner(13))], set)).length, 0, 'a removed key opens nothing');
    t.is(b.table.setCounters(set).unknownKeyId, 3);
  });
}

test.serial('tunWrite decrypts lispers.net\'s captured suite-2 frames with the README\'s keys', async (t) => {
  if (!avail.ok) { t.log(`skipped: ${avail.reason}`); t.pass(); return; }
  // direction A (n1 192.168.77.5 -> n2), test/vectors/next/lispers-crypto-README.md
  const spec = checkSuite(2, 'lispers');
  if (!spec.ok) throw new Error(spec.error);
  const ref: TrafficKeys = {
    spec: spec.spec, encryptKey: Buffer.from('a0d80e5a7b36f2b052cbf97feb7272d8', 'hex'),
    icvKey: Buffer.from('0000000032d4f781e2ca615678f23ef7e436ac4e', 'hex'),
  };
  const frames = vectorDatagrams('next/lispers-crypto.pcap')
    .filter((d) => d.udp.destinationPort === 4341 && d.ip.source === '192.168.77.5' && (d.payload[0] & 3) === 1)
    .map((d) => Buffer.from(d.payload));
  t.is(frames.length, 30);
  for (const f of frames) t.true(openData(ref, f).ok, 'the reference verifies every captured frame');
  const b = rxBed(t, '2.2.2.2/24', '1.1.1.0/24', '2.2.2.2', 7777);
  const set = b.table.allocate();
  install(b.table, set, 1, ref);
  const out = await deliver(b, frames, set);
  t.deepEqual(out.map((p) => p.toString()), [0, 1, 2, 3, 4].map((n) => `lisp-crypto udp test ${n}`));
  const k = b.table.key(set, 1);
  t.is(k.decrypted, 30);
  t.is(k.authFailures + k.replays + k.outOfWindow, 0);
});

test('KeyTable refuses what the data plane cannot run, and wipes on remove and release', (t) => {
  const table = new KeyTable(3);
  const a = table.allocate(), b = table.allocate();
  t.deepEqual([a, b, table.allocate()], [1, 2, -1], 'set 0 is "clear"; a full table says so instead of throwing');
  t.throws(() => table.install(a, 1, { suite: 6, encryptionKey: randomBytes(16) }), { message: /key length/ });
  t.throws(() => table.install(a, 4, { suite: 6, encryptionKey: randomBytes(32) }), { message: /key-id/ });
  t.throws(() => table.install(a, 1, { suite: 5, encryptionKey: randomBytes(16), ivLength: 16 }), { message: /IV/ });
  t.throws(() => table.install(a, 1, { suite: 2, encryptionKey: randomBytes(16) }), { message: /ICV key/ });
  t.throws(() => table.install(a, 1, { suite: 3 as never, encryptionKey: randomBytes(16) }), { message: /not supported/ });
  t.throws(() => table.installTraffic(a, 1, trafficKeys(2, 'rfc')), { message: /lispers/ });
  t.throws(() => table.install(0, 1, { suite: 6, encryptionKey: randomBytes(32) }), { instanceOf: RangeError });
  table.installTraffic(a, 1, trafficKeys(6, 'rfc'));
  table.installTraffic(a, 2, trafficKeys(5, 'rfc'));
  t.like(table.key(a, 1), { active: true, suite: 6, ivLength: 8, icvLength: 16, txIv: 0n, encrypted: 0 });
  t.like(table.key(a, 2), { active: true, suite: 5, ivLength: 12, icvLength: 16 });
  table.remove(a, 1);
  t.false(table.key(a, 1).active);
  table.setSendKey(a, 2);
  table.release(a);
  t.false(table.key(a, 2).active);
  t.is(table.sendKeyId(a), 0);
  t.is(table.allocate(), a, 'a released set is handed out again');
});

test('keysBench (scripts/bench-aead.ts) seals and opens through the key table, and refuses a set without a send key', (t) => {
  const table = new KeyTable(3);
  const a = table.allocate();
  table.installTraffic(a, 1, trafficKeys(6, 'rfc'));
  t.throws(() => loadAddon().keysBench(table.handle, a, 1400, 10), { message: /send key/ }, 'no send key named yet');
  table.setSendKey(a, 1);
  const [seal, open] = loadAddon().keysBench(table.handle, a, 1400, 10);
  t.true(seal > 0 && open > 0, `ns per seal ${seal}, per open ${open}`);
  // 10 measured after a warm-up batch of 256, each sealed and opened: the key counted every one
  t.like(table.key(a, 1), { encrypted: 10 + 256, decrypted: 10 + 256, authFailures: 0, replays: 0 });
});
