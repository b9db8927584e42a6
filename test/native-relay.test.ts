// A TUN -> UDP -> TUN relay built on the addon must move a random TCP transfer byte for byte
// (SHA-256 on both ends), in both directions, IPv4 and IPv6 inside, with the offloads
// (TSO split + UDP GSO, UDP GRO + coalesced TUN writes) on and off (issue 3).
// DECENT_IO_TEST_MIB sets the size of each transfer (default 32; the full run is 256).
// No timing is asserted: this is about correctness only.
import test, { ExecutionContext } from 'ava';
import { createPair, netnsAvailable, Pair, tcpTransfer, uniqueName } from '../scripts/lib/netns';
import { randomBytes } from 'node:crypto';
import { DataSuite, KeyTable, NO_TUN_OFFLOADS, RawRelay, Tun, UdpEndpoint } from '../src/native';

const MIB = Number(process.env.DECENT_IO_TEST_MIB ?? 32);
const BYTES = Math.max(1, Math.round(MIB * 1024 * 1024));
const avail = netnsAvailable();

interface Bed {
  pair: Pair;
  relayA: RawRelay;
  relayB: RawRelay;
}

/** Keys for A->B and B->A, each side's table: set 1 seals what it sends, set 2 opens what it receives. */
function keyTables(suite: DataSuite): [KeyTable, KeyTable] {
  const len = suite === 6 ? 32 : 16;
  const ab = randomBytes(len), ba = randomBytes(len);
  const icv = suite === 2 ? [Buffer.concat([Buffer.alloc(4), randomBytes(16)]), Buffer.concat([Buffer.alloc(4), randomBytes(16)])] : [undefined, undefined];
  const side = (tx: Buffer, txIcv: Buffer | undefined, rx: Buffer, rxIcv: Buffer | undefined): KeyTable => {
    const k = new KeyTable(4);
    const s1 = k.allocate(), s2 = k.allocate();
    k.install(s1, 1, { suite, encryptionKey: tx, icvKey: txIcv });
    k.setSendKey(s1, 1);
    k.install(s2, 1, { suite, encryptionKey: rx, icvKey: rxIcv });
    return k;
  };
  return [side(ab, icv[0], ba, icv[1]), side(ba, icv[1], ab, icv[0])];
}

function setup(t: ExecutionContext, opts: { offloads: boolean; outer6: boolean; suite?: DataSuite }): Bed {
  const pair = createPair({ prefix: 'dnr', ipv6: opts.outer6 });
  const relays: RawRelay[] = [];
  t.teardown(() => {
    for (const r of relays) r.stop();
    pair.destroy();
  });
  const tables = opts.suite ? keyTables(opts.suite) : undefined;
  // LISP-crypto adds IV + ICV per packet: 24 (suite 6) or 28 (suite 5) bytes, 16 + 20 + up to 15 of padding for suite 2
  const sealing = !opts.suite ? 0 : opts.suite === 2 ? 51 : 28;
  const side = (ns: typeof pair.a, inner: string[], local: string, peer: string, keys?: KeyTable): RawRelay => {
    // outer IPv4 costs 36 bytes (20 IP + 8 UDP + 8 LISP), outer IPv6 56 (RFC 9300 §5.1)
    const tun = Tun.open({
      name: uniqueName('dnt'), netns: ns.name, mtu: (opts.outer6 ? 1444 : 1464) - sealing, addresses: inner,
      offloads: opts.offloads ? undefined : NO_TUN_OFFLOADS,
    });
    let udp: UdpEndpoint;
    try {
      udp = UdpEndpoint.open({ address: local, port: 4341, netns: ns.name, gso: opts.offloads, gro: opts.offloads });
    } catch (e) {
      tun.close();
      throw e;
    }
    const r = new RawRelay({ tun, udp, peer: { address: peer, port: 4341 }, crypto: keys ? { keys, txSet: 1, rxSet: 2 } : undefined });
    relays.push(r);
    r.start();
    return r;
  };
  const la = opts.outer6 ? pair.addr6A! : pair.addrA, lb = opts.outer6 ? pair.addr6B! : pair.addrB;
  const relayA = side(pair.a, ['10.98.0.1/24', 'fd98::1/64'], la, lb, tables?.[0]);
  const relayB = side(pair.b, ['10.98.0.2/24', 'fd98::2/64'], lb, la, tables?.[1]);
  return { pair, relayA, relayB };
}

async function both(t: ExecutionContext, bed: Bed, inner: 4 | 6): Promise<void> {
  const [addrA, addrB] = inner === 4 ? ['10.98.0.1', '10.98.0.2'] : ['fd98::1', 'fd98::2'];
  const ab = await tcpTransfer(bed.pair.a, bed.pair.b, addrB, 5001, BYTES);
  t.is(ab.received.bytes, BYTES, `IPv${inner} A->B byte count`);
  t.is(ab.received.sha256, ab.sent.sha256, `IPv${inner} A->B SHA-256`);
  const ba = await tcpTransfer(bed.pair.b, bed.pair.a, addrA, 5002, BYTES);
  t.is(ba.received.bytes, BYTES, `IPv${inner} B->A byte count`);
  t.is(ba.received.sha256, ba.sent.sha256, `IPv${inner} B->A SHA-256`);
  t.log(`IPv${inner} inner: ${MIB} MiB A->B ${ab.sent.ms.toFixed(0)} ms, B->A ${ba.sent.ms.toFixed(0)} ms (informational)`);
}

const modes: Array<{ title: string; offloads: boolean; outer6: boolean; suite?: DataSuite }> = [
  { title: 'offloads on, IPv4 underlay', offloads: true, outer6: false },
  { title: 'offloads off, IPv4 underlay', offloads: false, outer6: false },
  { title: 'offloads on, IPv6 underlay', offloads: true, outer6: true },
  { title: 'encrypted, suite 6, offloads on', offloads: true, outer6: false, suite: 6 },
  { title: 'encrypted, suite 5, offloads off', offloads: false, outer6: false, suite: 5 },
  { title: 'encrypted, suite 2, offloads on, IPv6 underlay', offloads: true, outer6: true, suite: 2 },
];

for (const m of modes) {
  test.serial(`relay moves ${MIB} MiB byte-identically both ways, IPv4 and IPv6 inside (${m.title})`, async (t) => {
    if (!avail.ok) { t.log(`skipped: ${avail.reason}`); t.pass(); return; }
    const bed = setup(t, m);
    await both(t, bed, 4);
    await both(t, bed, 6);
    const a = bed.relayA.opts.tun.offloads;
    const tunB = bed.relayB.opts.tun.stats, udpA = bed.relayA.opts.udp.stats;
    if (m.offloads) {
      t.true(a.vnetHdr && a.tso4 && a.tso6, 'TSO offloads were accepted by the kernel');
      // the paths under test were really taken: super-packets split, GSO sends, coalesced writes
      t.true(udpA.udpSentDatagrams > udpA.udpSentMessages, 'UDP GSO sent several datagrams per message');
      t.true(tunB.tunCoalesced > 0, 'received segments were coalesced into GSO writes');
    } else {
      t.false(a.vnetHdr);
      t.is(tunB.tunCoalesced, 0);
    }
    t.is(tunB.checksumBad, 0, 'no inner checksum failures');
    if (m.suite) {
      const keysB = bed.relayB.opts.crypto!.keys, keysA = bed.relayA.opts.crypto!.keys;
      const rx = keysB.key(2, 1), tx = keysA.key(1, 1);
      t.true(rx.decrypted > 0 && rx.decrypted <= tx.encrypted, `B opened what A sealed (${rx.decrypted} of ${tx.encrypted})`);
      t.is(rx.authFailures + rx.replays + rx.outOfWindow, 0);
      t.is(bed.relayB.dropped, 0, 'no clear datagram reached an encrypted relay');
    }
    t.log(`A udp ${JSON.stringify(udpA)}`);
    t.log(`B tun ${JSON.stringify(tunB)}`);
  });
}
