// TUN and UDP endpoints of the native addon, one namespace per test (issue 3): packets
// written into the TUN reach the kernel's sockets and packets the kernel routes into the TUN
// come out of the read batch, IPv4 and IPv6, offloads on and off; super-packets are split
// into valid datagrams; configuration and cleanup leave nothing behind.
import test, { ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createPair, Netns, netnsAvailable, tcpTransfer, uniqueName } from '../scripts/lib/netns';
import {
  AddressTable, D, F, ipToBytes, NO_TUN_OFFLOADS, Pool, RecvPool, Tun, UdpEndpoint,
} from '../src/native';

const avail = netnsAvailable();

function skipUnlessRoot(t: ExecutionContext): boolean {
  if (avail.ok) return false;
  t.log(`skipped: ${avail.reason}`);
  t.pass();
  return true;
}

function namespace(t: ExecutionContext): Netns {
  const ns = new Netns(uniqueName('dnu'));
  t.teardown(() => ns.destroy());
  return ns;
}

// ---- packet helpers (RFC 791, RFC 8200, RFC 768) ----
function csum(parts: Uint8Array[]): number {
  let s = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i += 2) s += (p[i] << 8) | (i + 1 < p.length ? p[i + 1] : 0);
  }
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function udpPacket(src: string, dst: string, sport: number, dport: number, payload: Uint8Array): Buffer {
  const v6 = src.includes(':');
  const ipLen = v6 ? 40 : 20;
  const p = Buffer.alloc(ipLen + 8 + payload.length);
  const s = ipToBytes(src), d = ipToBytes(dst);
  const l4 = 8 + payload.length;
  if (v6) {
    p[0] = 0x60; p.writeUInt16BE(l4, 4); p[6] = 17; p[7] = 64;
    p.set(s, 8); p.set(d, 24);
  } else {
    p[0] = 0x45; p.writeUInt16BE(p.length, 2); p[8] = 64; p[9] = 17;
    p.set(s, 12); p.set(d, 16);
    p.writeUInt16BE(~csum([p.subarray(0, 20)]) & 0xffff, 10);
  }
  p.writeUInt16BE(sport, ipLen); p.writeUInt16BE(dport, ipLen + 2); p.writeUInt16BE(l4, ipLen + 4);
  p.set(payload, ipLen + 8);
  p.writeUInt16BE(udpChecksum(p, ipLen) || 0xffff, ipLen + 6);
  return p;
}

/** The UDP checksum a packet should carry (0 after adding it means valid). */
function udpChecksum(p: Buffer, ipLen: number): number {
  const l4 = p.subarray(ipLen);
  const saved = l4.readUInt16BE(6);
  l4.writeUInt16BE(0, 6);
  const pseudo = Buffer.alloc(ipLen === 40 ? 40 : 12);
  if (ipLen === 40) {
    p.copy(pseudo, 0, 8, 40); pseudo.writeUInt32BE(l4.length, 32); pseudo[39] = 17;
  } else {
    p.copy(pseudo, 0, 12, 20); pseudo[9] = 17; pseudo.writeUInt16BE(l4.length, 10);
  }
  const c = ~csum([pseudo, l4]) & 0xffff;
  l4.writeUInt16BE(saved, 6);
  return c;
}

function waitReadable(t: ExecutionContext, on: (cb: () => void) => void, poll: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('nothing became readable within 5 s')), 5000);
    t.teardown(() => clearTimeout(timer));
    on(() => { if (poll()) { clearTimeout(timer); resolve(); } });
  });
}

const families = [
  { v: 4, tunAddr: '10.77.0.1', peer: '10.77.0.2', cidr: '10.77.0.1/24' },
  { v: 6, tunAddr: 'fd77::1', peer: 'fd77::2', cidr: 'fd77::1/64' },
] as const;

for (const offloads of [true, false]) {
  for (const fam of families) {
    test(`IPv${fam.v} packets flow both ways between a socket and the TUN batch (offloads ${offloads ? 'on' : 'off'})`, async (t) => {
      if (skipUnlessRoot(t)) return;
      const ns = namespace(t);
      const tun = Tun.open({
        name: uniqueName('dnt'), netns: ns.name, mtu: 1500, addresses: [fam.cidr],
        offloads: offloads ? undefined : NO_TUN_OFFLOADS,
      });
      t.teardown(() => tun.close());
      const app = UdpEndpoint.open({ address: fam.tunAddr, port: 7000, netns: ns.name, gso: false, gro: false });
      t.teardown(() => app.close());
      t.is(tun.offloads.vnetHdr, offloads);

      // kernel -> TUN: a datagram to the peer address is routed into the TUN and read in a batch
      const txPool = new Pool({ slots: 16 });
      const addrs = new AddressTable(1);
      addrs.set(0, fam.peer, 7001);
      for (let i = 0; i < 10; i++) {
        txPool.put(i, Buffer.from(`hello ${i} over IPv${fam.v}`));
        txPool.setField(i, D.ADDR, 0);
        // per-packet outer TTL and TOS via ancillary data (RFC 9300 §5.3 copies them from the inner header)
        txPool.setField(i, D.TTLTOS, (10 + i) | ((i * 4) << 8) | 0x10000);
      }
      const got: Buffer[] = [];
      const rxTun = new Pool({ slots: 8, slotSize: 65536 + 64 });
      const readable = waitReadable(t, (cb) => tun.onReadable(cb), () => {
        for (let n; (n = tun.read(rxTun)) > 0; ) {
          for (let i = 0; i < n; i++) {
            const pkt = Buffer.from(rxTun.packet(i));
            const isUdp = fam.v === 4 ? pkt[9] === 17 : pkt[6] === 17;
            if (isUdp) got.push(pkt);
          }
        }
        return got.length >= 10;
      });
      t.is(app.send(txPool, 10, addrs), 10);
      await readable;
      const ipLen = fam.v === 4 ? 20 : 40;
      got.forEach((pkt, i) => {
        t.is(pkt.subarray(ipLen + 8).toString(), `hello ${i} over IPv${fam.v}`);
        t.is(pkt.readUInt16BE(ipLen + 2), 7001);
        t.is(pkt.readUInt16BE(ipLen + 6), udpChecksum(pkt, ipLen) || 0xffff, 'a completed, valid UDP checksum');
        const ttl = fam.v === 4 ? pkt[8] : pkt[7];
        const tos = fam.v === 4 ? pkt[1] : ((pkt[0] & 0x0f) << 4) | (pkt[1] >> 4);
        t.is(ttl, 10 + i, 'per-packet TTL / hop limit');
        t.is(tos, i * 4, 'per-packet TOS / traffic class');
      });

      // TUN -> kernel: one write call with a batch of packets reaches the socket
      const wPool = new Pool({ slots: 16, slotSize: 2048 });
      for (let i = 0; i < 12; i++) {
        wPool.put(i, udpPacket(fam.peer, fam.tunAddr, 7001, 7000, Buffer.from(`reply ${i}`)));
        wPool.setField(i, D.ADDR, 0);
      }
      const rxPool = new RecvPool({ slots: 32, slotSize: 2048 });
      const replies: string[] = [];
      let source = '', dest = '';
      const received = waitReadable(t, (cb) => app.onReadable(cb), () => {
        for (let n; (n = app.recv(rxPool)) > 0; ) {
          for (let i = 0; i < n; i++) {
            replies.push(rxPool.packet(i).toString());
            const s = rxPool.source(i), d = rxPool.destination(i);
            source = `${s?.address}:${s?.port}`;
            dest = `${d?.address}:${d?.port}`;
          }
        }
        return replies.length >= 12;
      });
      t.is(tun.write(wPool, 12), 12);
      await received;
      t.deepEqual(replies, Array.from({ length: 12 }, (_, i) => `reply ${i}`));
      t.is(source, `${fam.peer}:7001`, 'source address reported');
      t.is(dest, `${fam.tunAddr}:7000`, 'local destination address reported (PKTINFO)');
    });
  }
}

test('UDP GSO super-packets from the TUN are split into valid datagrams with the outer header in front', async (t) => {
  if (skipUnlessRoot(t)) return;
  const ns = namespace(t);
  const tun = Tun.open({ name: uniqueName('dnt'), netns: ns.name, mtu: 1500, addresses: ['10.77.0.1/24'] });
  t.teardown(() => tun.close());
  if (!tun.offloads.uso4) { t.log('skipped: the kernel has no USO for TUN (Linux < 6.2)'); t.pass(); return; }
  // an application sending 8 x 1000 bytes with UDP_SEGMENT into the TUN route
  const app = UdpEndpoint.open({ address: '10.77.0.1', port: 7000, netns: ns.name, gso: true, gro: false });
  t.teardown(() => app.close());
  const payload = Buffer.alloc(8000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  const big = new Pool({ slots: 1 });
  big.put(0, payload);
  big.setField(0, D.ADDR, 0);
  big.setField(0, D.GSO, 1000);
  const to = new AddressTable(1);
  to.set(0, '10.77.0.2', 7001);

  const tunPool = new Pool({ slots: 4 });
  let superFlags = 0, superMss = 0;
  const readable = waitReadable(t, (cb) => tun.onReadable(cb), () => {
    const n = tun.read(tunPool);
    for (let i = 0; i < n; i++) {
      if (tunPool.packet(i)[9] === 17) { superFlags = tunPool.field(i, D.FLAGS); superMss = tunPool.field(i, D.GSO); tunPool.count = i; return true; }
    }
    return false;
  });
  t.is(app.send(big, 1, to), 8);
  await readable;
  t.true((superFlags & F.GSO_UDP) !== 0, 'read one USO super-packet');
  t.is(superMss, 1000);

  // relay it: split + 8-byte header, sent to a plain receiver on loopback
  const i = tunPool.count;
  const sink = UdpEndpoint.open({ address: '127.0.0.1', port: 0, netns: ns.name, gro: false });
  t.teardown(() => sink.close());
  const relayOut = UdpEndpoint.open({ address: '127.0.0.1', port: 0, netns: ns.name });
  t.teardown(() => relayOut.close());
  const start = tunPool.start(i);
  tunPool.data.fill(0xab, start - 8, start);
  tunPool.setField(i, D.HDR, 8);
  tunPool.setField(i, D.ADDR, 0);
  const sinkAddr = new AddressTable(1);
  sinkAddr.set(0, '127.0.0.1', sink.port);
  // move slot i to slot 0 semantics: send counts slots from 0, so skip the others
  for (let k = 0; k < i; k++) tunPool.setField(k, D.ADDR, -1);
  const rx = new RecvPool({ slots: 16, slotSize: 2048 });
  const dgrams: Buffer[] = [];
  const arrived = waitReadable(t, (cb) => sink.onReadable(cb), () => {
    for (let n; (n = sink.recv(rx)) > 0; ) for (let k = 0; k < n; k++) dgrams.push(Buffer.from(rx.packet(k)));
    return dgrams.length >= 8;
  });
  t.is(relayOut.send(tunPool, i + 1, sinkAddr), 8);
  await arrived;
  const rebuilt: Buffer[] = [];
  for (const d of dgrams) {
    t.true(d.subarray(0, 8).every((b) => b === 0xab), 'outer header on every segment');
    const inner = d.subarray(8);
    t.is(inner.readUInt16BE(2), inner.length, 'IPv4 total length');
    t.is(csum([inner.subarray(0, 20)]), 0xffff, 'IPv4 header checksum');
    t.is(inner.readUInt16BE(24), inner.length - 20, 'UDP length');
    t.is(udpChecksum(inner, 20), inner.readUInt16BE(26), 'UDP checksum');
    rebuilt.push(inner.subarray(28));
  }
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  t.is(sha(Buffer.concat(rebuilt)), sha(payload));
});

test('same-flow UDP datagrams written in one batch are coalesced into one USO write and still arrive intact', async (t) => {
  if (skipUnlessRoot(t)) return;
  const ns = namespace(t);
  const tun = Tun.open({ name: uniqueName('dnt'), netns: ns.name, mtu: 1500, addresses: ['10.77.0.1/24'] });
  t.teardown(() => tun.close());
  if (!tun.offloads.uso4) { t.log('skipped: the kernel has no USO for TUN (Linux < 6.2)'); t.pass(); return; }
  const app = UdpEndpoint.open({ address: '10.77.0.1', port: 7000, netns: ns.name, gso: false, gro: false });
  t.teardown(() => app.close());
  const pool = new Pool({ slots: 16, slotSize: 2048 });
  const sent: string[] = [];
  for (let i = 0; i < 10; i++) {
    const body = Buffer.alloc(i === 9 ? 300 : 1000, 0x41 + i); // equal sizes, the last shorter
    sent.push(body.toString());
    pool.put(i, udpPacket('10.77.0.2', '10.77.0.1', 7001, 7000, body));
    pool.setField(i, D.ADDR, 0);
  }
  const rx = new RecvPool({ slots: 32, slotSize: 2048 });
  const got: string[] = [];
  const arrived = waitReadable(t, (cb) => app.onReadable(cb), () => {
    for (let n; (n = app.recv(rx)) > 0; ) for (let k = 0; k < n; k++) got.push(rx.packet(k).toString());
    return got.length >= 10;
  });
  t.is(tun.write(pool, 10), 10);
  await arrived;
  t.deepEqual(got, sent);
  t.is(tun.stats.tunCoalesced, 1, 'one GSO write');
  t.is(tun.stats.tunWrites, 1);
});

/** An IPv4 TCP segment (ACK, no options) with correct checksums (RFC 793 §3.1). */
function tcpSegment(src: string, dst: string, seq: number, payload: Uint8Array): Buffer {
  const p = Buffer.alloc(40 + payload.length);
  p[0] = 0x45; p.writeUInt16BE(p.length, 2); p[8] = 64; p[9] = 6;
  p.set(ipToBytes(src), 12); p.set(ipToBytes(dst), 16);
  p.writeUInt16BE(~csum([p.subarray(0, 20)]) & 0xffff, 10);
  p.writeUInt16BE(40000, 20); p.writeUInt16BE(7100, 22);
  p.writeUInt32BE(seq >>> 0, 24); p.writeUInt32BE(1, 28);
  p[32] = 5 << 4; p[33] = 0x10; p.writeUInt16BE(65000, 34);
  p.set(payload, 40);
  const pseudo = Buffer.alloc(12);
  p.copy(pseudo, 0, 12, 20); pseudo[9] = 6; pseudo.writeUInt16BE(p.length - 20, 10);
  p.writeUInt16BE(~csum([pseudo, p.subarray(20)]) & 0xffff, 36);
  return p;
}

test('a segment with a bad inner checksum is never coalesced', (t) => {
  if (skipUnlessRoot(t)) return;
  const ns = namespace(t);
  const tun = Tun.open({ name: uniqueName('dnt'), netns: ns.name, mtu: 1500, addresses: ['10.77.0.1/24'] });
  t.teardown(() => tun.close());
  const pool = new Pool({ slots: 8, slotSize: 2048 });
  const body = Buffer.alloc(1000, 0x42);
  for (let i = 0; i < 6; i++) {
    const seg = tcpSegment('10.77.0.2', '10.77.0.1', 1000 + i * 1000, body);
    if (i === 2) seg[40 + 10] ^= 0xff; // corrupt the payload, not the checksum field
    pool.put(i, seg);
    pool.setField(i, D.ADDR, 0);
  }
  t.is(tun.write(pool, 6), 6);
  const s = tun.stats;
  t.is(s.checksumBad, 1, 'the corrupted segment was detected');
  // runs: [0,1] coalesced, [2] alone (bad), [3,4,5] coalesced
  t.is(s.tunCoalesced, 2);
  t.is(s.tunWrites, 3);
});

test('TUN configuration: MTU, addresses, routes, multi-queue; close removes the device', (t) => {
  if (skipUnlessRoot(t)) return;
  const ns = namespace(t);
  const name = uniqueName('dnt');
  const tun = Tun.open({ name, netns: ns.name, multiQueue: true, mtu: 1400, addresses: ['10.66.0.1/24', 'fd66::1/64'] });
  t.teardown(() => tun.close());
  const q2 = Tun.open({ name, netns: ns.name, multiQueue: true });
  t.teardown(() => q2.close());
  t.is(q2.ifindex, tun.ifindex, 'a second queue of the same device');
  tun.addRoute('10.67.0.0/16');
  tun.addRoute('fd67::/48', 10);
  const link = ns.ip(['-d', 'link', 'show', name]);
  t.regex(link, /mtu 1400/);
  t.regex(link, /UP/);
  t.regex(link, /multi_queue/);
  const addrs = ns.ip(['addr', 'show', name]);
  t.regex(addrs, /10\.66\.0\.1\/24/);
  t.regex(addrs, /fd66::1\/64/);
  t.regex(ns.ip(['route']), /10\.67\.0\.0\/16 dev \S+ proto static scope link/);
  t.regex(ns.ip(['-6', 'route']), /fd67::\/48 dev \S+ proto static metric 10/);
  tun.removeRoute('10.67.0.0/16');
  t.notRegex(ns.ip(['route']), /10\.67\.0\.0\/16/);
  q2.close();
  t.true(ns.links().includes(name), 'still there while one queue is open');
  tun.close();
  t.false(ns.links().includes(name), 'gone once the last queue is closed');
  t.throws(() => tun.read(new Pool({ slots: 1, slotSize: 2048 })), { message: /is closed/ });
});

test('open and close leave no file descriptor behind', (t) => {
  if (skipUnlessRoot(t)) return;
  const ns = namespace(t);
  const fds = (): number => readdirSync('/proc/self/fd').length;
  const before = fds();
  for (let i = 0; i < 5; i++) {
    const tun = Tun.open({ name: uniqueName('dnt'), netns: ns.name, mtu: 1400, addresses: ['10.66.0.1/24'] });
    tun.onReadable(() => undefined);
    const udp = UdpEndpoint.open({ address: '127.0.0.1', port: 0, netns: ns.name });
    udp.onReadable(() => undefined);
    tun.close();
    udp.close();
  }
  t.is(fds(), before);
  t.deepEqual(ns.links().filter((l) => l.startsWith('dnt')), []);
});

test('a process that exits or is killed without closing leaves no TUN behind', async (t) => {
  if (skipUnlessRoot(t)) return;
  const ns = namespace(t);
  for (const how of ['exit', 'SIGKILL'] as const) {
    const name = uniqueName('dnt');
    const code = `const {Tun}=require(${JSON.stringify(require.resolve('../src/native'))});
      Tun.open({name:${JSON.stringify(name)},netns:${JSON.stringify(ns.name)},mtu:1400,addresses:['10.66.0.1/24']});
      console.log('open'); ${how === 'exit' ? 'process.exit(0);' : 'setInterval(()=>{},1000);'}`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
    if (how === 'SIGKILL') {
      t.true(ns.links().includes(name), 'the device exists while the process runs');
      child.kill('SIGKILL');
    }
    await new Promise((resolve) => child.on('exit', resolve));
    t.false(ns.links().includes(name), `no ${name} after ${how}`);
  }
});

test('errors say what failed and why: names, MTU, namespace, busy device, bind address, port in use', (t) => {
  if (skipUnlessRoot(t)) return;
  const ns = namespace(t);
  t.throws(() => Tun.open({ name: 'a-name-longer-than-15' }), { instanceOf: RangeError, message: /at most 15/ });
  t.throws(() => Tun.open({ name: 'bad/name' }), { instanceOf: RangeError, message: /not valid on Linux/ });
  t.throws(() => Tun.open({ name: '' }), { instanceOf: TypeError });
  const name = uniqueName('dnt');
  t.throws(() => Tun.open({ name, netns: ns.name, mtu: 40 }), { instanceOf: RangeError, message: /MTU 40 is not valid/ });
  t.throws(() => Tun.open({ name, netns: ns.name, mtu: 70000 }), { instanceOf: RangeError, message: /MTU 70000/ });
  t.false(ns.links().includes(name), 'a failed open does not leave the device behind');
  t.throws(() => Tun.open({ name, netns: 'no-such-namespace-xyz' }), { message: /network namespace/ });
  const tun = Tun.open({ name, netns: ns.name });
  t.teardown(() => tun.close());
  t.throws(() => Tun.open({ name, netns: ns.name }), { message: /already open by another process|refused the name or flags/ });
  t.throws(() => tun.addAddress('10.1.2.3'), { message: /not a prefix/ });
  t.throws(() => tun.addRoute('10.0.0.0/33'), { instanceOf: RangeError });
  t.throws(() => UdpEndpoint.open({ address: '192.0.2.99', port: 4341, netns: ns.name }), { message: /not configured on any interface/ });
  t.throws(() => UdpEndpoint.open({ address: 'not-an-ip', port: 4341 }), { instanceOf: TypeError });
  const first = UdpEndpoint.open({ address: '127.0.0.1', port: 0, netns: ns.name });
  t.teardown(() => first.close());
  t.throws(() => UdpEndpoint.open({ address: '127.0.0.1', port: first.port, netns: ns.name }), { message: /already in use/ });
  // SO_REUSEPORT: one socket per queue of a multi-queue TUN
  const q1 = UdpEndpoint.open({ address: '127.0.0.1', port: 0, netns: ns.name, reusePort: true });
  t.teardown(() => q1.close());
  const q2 = UdpEndpoint.open({ address: '127.0.0.1', port: q1.port, netns: ns.name, reusePort: true });
  t.teardown(() => q2.close());
  t.is(q2.port, q1.port);
});

test('without CAP_NET_ADMIN the error explains the capability', (t) => {
  if (skipUnlessRoot(t)) return;
  const probe = (bin: string): boolean => spawnSync(bin, ['--help'], { stdio: 'ignore' }).error === undefined;
  const code = `const {Tun}=require(${JSON.stringify(require.resolve('../src/native'))});
    try { Tun.open({name:'dncap0'}); console.log('opened'); } catch (e) { console.log(e.message); }`;
  let argv: string[];
  if (probe('capsh')) argv = ['capsh', '--drop=cap_net_admin', '--', '-c', `exec "${process.execPath}" -e "$0"`, code];
  else if (probe('setpriv')) argv = ['setpriv', '--bounding-set', '-net_admin', '--inh-caps', '-net_admin', process.execPath, '-e', code];
  else { t.log('skipped: neither capsh (libcap2-bin) nor setpriv (util-linux) is installed'); t.pass(); return; }
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /opening \/dev\/net\/tun needs CAP_NET_ADMIN: run as root or grant the capability with setcap/);
});

test('createPair gives two connected namespaces and cleans up', async (t) => {
  if (skipUnlessRoot(t)) return;
  const pair = createPair({ prefix: 'dnp' });
  t.teardown(() => pair.destroy());
  const r = await tcpTransfer(pair.a, pair.b, pair.addrB, 5003, 100_000);
  t.is(r.received.sha256, r.sent.sha256);
  pair.destroy();
  t.false(new Set(readdirSync('/var/run/netns')).has(pair.a.name));
});
