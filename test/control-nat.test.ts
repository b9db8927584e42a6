// NAT detection and the Info-Request/Info-Reply exchange in the control plane (src/control/nat.ts)
// on the simulated network: detection and keepalive, rebinding, forged replies, a request flood,
// the RTR offer, and a byte-exact answer to lispers.net's own Info-Request.
import test from 'ava';
import { lispDatagrams } from '../src/pcap/lisp';
import { readPcapFile } from '../src/pcap/reader';
import { decodeControl, encodeControl, type InfoReply, type InfoRequest } from '../src/wire';
import { SimNet, simConfig } from './helpers/sim-net';
import { parseEid } from '../src/mapping/eid';
import { locatorIp, locatorName, rleEntries } from '../src/control/locators';
import { hex, NEXT_VECTORS_DIR } from './helpers/vectors';

const KEEPALIVE = 15_000;

function group(rtr = false): { net: SimNet; seed: ReturnType<SimNet['addNode']>; natted: ReturnType<SimNet['addNode']>; open: ReturnType<SimNet['addNode']> } {
  const net = new SimNet();
  const seed = net.addNode({ ...simConfig({ name: 'seed', rloc: '198.51.100.7', eids: ['10.0.0.7/32'], seeds: [] }), nat: { keepaliveMs: KEEPALIVE, rtr } });
  const natted = net.addNode(simConfig({ name: 'pi', rloc: '192.168.77.5', eids: ['10.0.0.5/32'], seeds: ['198.51.100.7'] }));
  const open = net.addNode(simConfig({ name: 'vm', rloc: '198.51.100.8', eids: ['10.0.0.8/32'], seeds: ['198.51.100.7'] }));
  net.behindNat(natted, '198.51.100.10', 40582);
  for (const n of [seed, natted, open]) n.start();
  return { net, seed, natted, open };
}

test('a member behind a NAT learns its translated address and port; a public member sees itself unchanged', (t) => {
  const { net, natted, open, seed } = group();
  t.true(net.until(() => natted.natStatus().behindNat !== undefined && open.natStatus().behindNat !== undefined, 1000) >= 0);
  t.like(natted.natStatus(), { behindNat: true, local: '192.168.77.5', translated: { address: '198.51.100.10', port: 40582, seed: '198.51.100.7' } });
  t.like(open.natStatus(), { behindNat: false, local: '198.51.100.8' });
  t.is(seed.natStatus().behindNat, undefined, 'no seeds: nobody to ask');
  t.deepEqual(natted.natStatus().rtrs, [], 'the seed offers no RTR unless nat.rtr');
  t.deepEqual(net.undecodable(), []);
});

test('Info-Requests repeat every keepalive, and a rebinding NAT is noticed within one keepalive', (t) => {
  const { net, natted } = group();
  net.advance(10);
  const sent = natted.counters.get('info.request.sent') ?? 0;
  net.advance(3 * KEEPALIVE);
  t.is((natted.counters.get('info.request.sent') ?? 0) - sent, 3);
  net.behindNat(natted, '198.51.100.11', 40999);
  const took = net.until(() => natted.natStatus().translated?.address === '198.51.100.11', 2 * KEEPALIVE);
  t.true(took >= 0 && took <= KEEPALIVE + 10, `rebinding noticed after ${took} ms`);
  t.is(natted.natStatus().translated?.port, 40999);
});

test('a forged Info-Reply (wrong nonce, or the right nonce from another address) changes nothing and is counted', (t) => {
  const { net, natted } = group();
  net.until(() => natted.natStatus().behindNat === true, 1000);
  const before = natted.natStatus();
  const forged: InfoReply = {
    type: 'info-reply', nonce: 0x1234n, keyId: 0, algorithm: 0, authData: new Uint8Array(0), ttl: 0, eidMaskLen: 0, eid: { kind: 'none' },
    nat: {
      type: 'nat-traversal', msPort: 4342, etrPort: 4342, globalEtrRloc: { kind: 'ipv4', ip: '192.168.77.5' },
      msRloc: { kind: 'none' }, privateEtrRloc: { kind: 'none' }, rtrRlocs: [{ kind: 'ipv4', ip: '203.0.113.66' }],
    },
  };
  natted.receiveControl(encodeControl(forged), '198.51.100.7', 4342);
  t.is(natted.counters.get('info.reply.unmatched'), 1);
  t.deepEqual(natted.natStatus(), before);
  // The nonce of a live request (the seed is gone, so it stays unanswered), but from another address.
  net.nodes.delete('198.51.100.7');
  net.advance(KEEPALIVE);
  const live = net.wire.filter((w) => w.from === '198.51.100.10' && w.to === '198.51.100.7').map((w) => decodeControl(w.bytes)).filter((m): m is InfoRequest => m.type === 'info-request').pop();
  if (!live) return t.fail('no Info-Request on the wire');
  natted.receiveControl(encodeControl({ ...forged, nonce: live.nonce }), '203.0.113.66', 4342);
  t.is(natted.counters.get('info.reply.unmatched'), 2);
  t.deepEqual(natted.natStatus(), before);
  // The same from the seed's address is an answer: the nonce and its source are what is checked.
  natted.receiveControl(encodeControl({ ...forged, nonce: live.nonce }), '198.51.100.7', 4342);
  t.is(natted.natStatus().behindNat, false);
});

test('an Info-Request flood is answered at a bounded rate and counted', (t) => {
  const { net, seed } = group();
  net.advance(100);
  const get = (k: Parameters<typeof seed.counters.get>[0]): number => seed.counters.get(k) ?? 0;
  const sentBefore = get('info.reply.sent');
  const receivedBefore = get('info.request.received');
  const request = encodeControl({
    type: 'info-request', nonce: 1n, keyId: 0, algorithm: 0, authData: new Uint8Array(0), ttl: 0, eidMaskLen: 0, eid: { kind: 'none' }, requester: { kind: 'none' },
  });
  // From 1000 addresses, so that the per-source admission budget (admission.ts) is not what stops them.
  for (let i = 0; i < 1000; i++) seed.receiveControl(request, `198.18.${i >> 8}.${i & 255}`, 40000 + i);
  const received = get('info.request.received') - receivedBefore;
  const answered = get('info.reply.sent') - sentBefore;
  t.true(received >= 500, `${received} reached the Map-Server`);
  t.true(answered <= 40, `${answered} answered at once`);
  t.is(get('info.rate-limited'), received - answered);
  net.advance(1000);
  seed.receiveControl(request, '198.18.200.1', 40001);
  t.is(get('info.reply.sent') - sentBefore, answered + 1, 'answers again a second later');
});

test('a seed with nat.rtr offers its RLOC as RTR', (t) => {
  const { net, natted } = group(true);
  net.until(() => natted.natStatus().behindNat === true, 1000);
  t.deepEqual(natted.natStatus().rtrs, ['198.51.100.7']);
});

test('behind a NAT with an RTR: registers its translated RLOC and the RTR at priority 254, never its private one; the RTR forwards to its translated data port, everyone else to the RTR', (t) => {
  const { net, natted, seed, open } = group(true);
  t.true(net.until(() => natted.natStatus().behindNat === true, 1000) >= 0);
  net.advance(500);
  const entry = seed.siteCache.lookup(parseEid('10.0.0.5/32'));
  const locs = (entry?.locators ?? []).map((l) => ({ ip: locatorIp(l.address), name: locatorName(l.address), priority: l.priority }));
  t.deepEqual(locs.sort((a, b) => a.priority - b.priority), [
    // named by its translated data port, which the RTR's answer to its data-port Info-Request told it
    { ip: '198.51.100.10', name: 'pi@tp-40583', priority: 1 },
    { ip: '198.51.100.7', name: undefined, priority: 254 },
  ]);
  t.is(net.natChanges.get('pi'), true, 'its data plane sends from one port now');
  t.true((natted.counters.get('info.request.data-port') ?? 0) >= 1);
  t.true((seed.counters.get('rtr.info.data') ?? 0) >= 1);
  // The group entry names it by its translated RLOC too.
  const members = (seed.siteCache.get(seed.groupKey)?.locators ?? []).flatMap((l) => rleEntries(l.address) ?? []).map((e) => (e.address.kind === 'ipv4' ? e.address.ip : ''));
  t.true(members.includes('198.51.100.10') && !members.includes('192.168.77.5'), members.join());
  // The RTR: to the translated address at the port its data-port Info-Requests came from.
  t.like(seed.resolve(parseEid('10.0.0.5/32'))?.rlocs, [{ address: '198.51.100.10', port: 40583, priority: 1 }]);
  t.is(seed.resolve(parseEid('10.0.0.5/32'))?.rlocs.length, 1);
  // Another member: the RTR only (the member itself at 255, never chosen: the relay target that
  // LISP-crypto seals for and the relay shim names).
  t.deepEqual(open.resolve(parseEid('10.0.0.5/32'))?.rlocs.map((r) => [r.address, r.priority, r.port]), [['198.51.100.7', 254, undefined], ['198.51.100.10', 255, undefined]]);
  // The member behind the NAT: everything through its RTR (the destination at 255, as above).
  t.deepEqual(natted.resolve(parseEid('10.0.0.8/32'))?.rlocs.map((r) => [r.address, r.priority]), [['198.51.100.7', 254], ['198.51.100.8', 255]]);
  // The RTR relays the group's registrations to it (its NAT drops what others replicate to it).
  t.true((seed.counters.get('rtr.register.relayed') ?? 0) >= 1);
  t.like(seed.natStatus(), { relaying: [{ name: 'pi', address: '198.51.100.10', dataPort: 40583, controlPort: 40582 }] });
  t.deepEqual(net.undecodable(), []);
});

test("lispers.net's Info-Request gets the Info-Reply lispers' own Map-Server sent, byte for byte", (t) => {
  const capture = lispDatagrams(readPcapFile(`${NEXT_VECTORS_DIR}/lispers-nat.pcap`));
  const frame = (n: number): Uint8Array => capture.find((d) => d.frame.number === n)?.payload ?? new Uint8Array(0);
  const net = new SimNet();
  // The capture's RTR address, answering as Map-Server and offering itself as RTR, in lispers form.
  const node = net.addNode({ ...simConfig({ name: 'n2', rloc: '198.51.100.6', eids: ['10.0.0.6/32'], seeds: [], lispers: true }), nat: { keepaliveMs: KEEPALIVE, rtr: true } });
  node.start();
  net.wire.length = 0;
  node.receiveControl(frame(55), '198.51.100.10', 40582);
  const reply = net.wire.find((w) => w.to === '198.51.100.10');
  t.is(reply?.port, 40582, 'to the translated source port');
  t.is(hex(reply?.bytes ?? new Uint8Array(0)), hex(frame(56)));
});

test('Info messages the control plane does not handle are counted, never thrown: inside an ECM, or on the data port', (t) => {
  const capture = lispDatagrams(readPcapFile(`${NEXT_VECTORS_DIR}/lispers-nat.pcap`));
  const frame = (n: number): Uint8Array => capture.find((d) => d.frame.number === n)?.payload ?? new Uint8Array(0);
  const net = new SimNet();
  const node = net.addNode(simConfig({ name: 'n2', rloc: '198.51.100.6', eids: ['10.0.0.6/32'], seeds: [] }));
  node.start();
  // An Info-Request inside an ECM (the draft's ECM'd registration path; decent does not relay it).
  const ecm = encodeControl({
    type: 'ecm', security: false, ddt: false,
    inner: { version: 4, source: '192.168.77.5', destination: '198.51.100.6', ttl: 64, tos: 0, id: 0, fragment: 0, flowLabel: 0, sourcePort: 4342, destinationPort: 4342 },
    message: decodeControl(frame(52)),
  });
  t.notThrows(() => node.receiveControl(ecm, '198.51.100.10', 40582));
  t.is(node.counters.get('control.unexpected'), 1);
  // lispers' data-port Info-Request to an RTR (frame 65): not head-end replication, counted.
  t.notThrows(() => node.receiveEncapsulated(frame(65), '198.51.100.10'));
  t.is(node.counters.get('her.rejected'), 1);
});

test('a member that learns it is not behind a NAT sends no extra registration round', (t) => {
  // NAT detection's first answer used to call the NAT-change hook even when it only confirmed our
  // RLOC, so every public member re-registered to the whole group once at start for nothing.
  const registersIn = (keepaliveMs: number): number => {
    const net = new SimNet();
    const seed = net.addNode(simConfig({ name: 'seed', rloc: '198.51.100.7', eids: ['10.0.0.7/32'], seeds: [] }));
    const open = net.addNode({ ...simConfig({ name: 'vm', rloc: '198.51.100.8', eids: ['10.0.0.8/32'], seeds: ['198.51.100.7'] }), nat: { keepaliveMs, rtr: false } });
    seed.start();
    open.start();
    net.advance(2000);
    if (keepaliveMs > 0) t.false(open.natStatus().behindNat, 'the seed answered: not behind NAT');
    return open.counters.get('register.sent') ?? 0;
  };
  const withoutDetection = registersIn(0);
  t.true(withoutDetection > 0);
  t.is(registersIn(KEEPALIVE), withoutDetection);
});
