// Direct paths between members behind NATs (src/control/direct.ts) on the simulated network: the
// RTR tells each member its translated data port, both register it and probe each other there;
// traffic moves off the RTR once a probe is answered, and back when answers stop. Forged replies
// change nothing. (The real NATs, symmetric ones included, are in nat-direct-netns.test.ts.)
import test from 'ava';
import { encodeControl } from '../src/wire';
import { parseEid } from '../src/mapping/eid';
import { locatorName } from '../src/control/locators';
import { inDataHeader } from '../src/control/nat';
import { peerRows } from '../src/control/views';
import { SimNet, simConfig } from './helpers/sim-net';

function group(): { net: SimNet; rtr: ReturnType<SimNet['addNode']>; pi: ReturnType<SimNet['addNode']>; pj: ReturnType<SimNet['addNode']> } {
  const net = new SimNet();
  const rtr = net.addNode({ ...simConfig({ name: 'alpha', rloc: '198.51.100.7', eids: ['10.0.0.7/32'], seeds: [] }), nat: { keepaliveMs: 15_000, rtr: true } });
  const pi = net.addNode(simConfig({ name: 'pi', rloc: '192.168.77.5', eids: ['10.0.0.5/32'], seeds: ['198.51.100.7'] }));
  const pj = net.addNode(simConfig({ name: 'pj', rloc: '192.168.78.5', eids: ['10.0.0.6/32'], seeds: ['198.51.100.7'] }));
  net.behindNat(pi, '198.51.100.10', 40582);
  net.behindNat(pj, '198.51.100.20', 41000);
  for (const n of [rtr, pi, pj]) n.start();
  return { net, rtr, pi, pj };
}

// the RLOCs traffic goes to (a route via an RTR also names the member behind it at 255, never chosen)
const path = (n: ReturnType<SimNet['addNode']>, eid: string): [string, number | undefined][] =>
  (n.resolve(parseEid(eid))?.rlocs ?? []).filter((r) => r.priority < 255).map((r) => [r.address, r.port]);

const pathTo = (n: ReturnType<SimNet['addNode']>, ip: string): string | undefined => peerRows(n).find((r) => r.rlocs.includes(ip))?.path;

test('the RTR tells a member its translated data port; the member registers it as host@tp-PORT', (t) => {
  const { net, rtr, pi } = group();
  t.true(net.until(() => pi.natStatus().dataPort !== undefined, 3000) >= 0, 'data port learnt');
  t.is(pi.natStatus().dataPort, 40583, 'the data socket binding (control + 1 in SimNet)');
  t.true((rtr.counters.get('info.reply.data-port') ?? 0) >= 1);
  net.advance(200);
  const names = (rtr.siteCache.lookup(parseEid('10.0.0.5/32'))?.locators ?? []).map((l) => locatorName(l.address));
  t.true(names.includes('pi@tp-40583'), names.join());
  t.deepEqual(net.undecodable(), []);
});

test('two members behind NATs go direct within 3 s, each to the other translated data port; forged replies change nothing', (t) => {
  const { net, pi, pj, rtr } = group();
  const took = net.until(() => path(pi, '10.0.0.6/32')[0]?.[1] === 41001 && path(pj, '10.0.0.5/32')[0]?.[1] === 40583, 5000);
  t.true(took >= 0 && took <= 3000, `direct after ${took} ms`);
  t.deepEqual(path(pi, '10.0.0.6/32'), [['198.51.100.20', 41001]]);
  t.deepEqual(path(pj, '10.0.0.5/32'), [['198.51.100.10', 40583]]);
  t.regex(pathTo(pi, '198.51.100.20') ?? '', /^direct to 198\.51\.100\.20:41001 \(both behind NAT; probe answered \d+\.\d s ago\)$/);
  // The RTR and a public member: unchanged (the RTR at the binding, the others via the RTR).
  t.deepEqual(path(rtr, '10.0.0.5/32'), [['198.51.100.10', 40583]]);
  t.deepEqual(path(pi, '10.0.0.7/32'), [['198.51.100.7', undefined]]);
  t.regex(pathTo(pi, '198.51.100.7') ?? '', /^via RTR 198\.51\.100\.7 \(we are behind NAT\)$/);

  // Forged probe replies: a nonce we never sent, and a nonce we sent but from another port.
  const before = pi.counters.get('direct.reply.unmatched') ?? 0;
  const forged = (nonce: bigint): Buffer => inDataHeader(encodeControl({ type: 'map-reply', probe: true, echoNonceCapable: false, security: false, nonce, records: [] }));
  pi.receiveEncapsulated(forged(123n), '198.51.100.20', 41001);
  const sent = net.wire.filter((w) => w.from === '198.51.100.10' && w.to === '198.51.100.20' && w.port === 41001).at(-1);
  t.truthy(sent, 'pi probes pj');
  const nonce = sent ? sent.bytes.readBigUInt64BE(8 + 4) : 0n;
  pi.receiveEncapsulated(forged(nonce), '198.51.100.20', 41002);
  pi.receiveEncapsulated(forged(nonce), '198.51.100.99', 41001);
  t.is((pi.counters.get('direct.reply.unmatched') ?? 0) - before, 3);
  // A probe from an address no member registered is not answered (no reflection off members).
  const sentBefore = pi.counters.get('direct.reply.sent') ?? 0;
  const probe = inDataHeader(encodeControl({
    type: 'map-request', authoritative: false, mapDataPresent: false, probe: true, smr: false, pitr: false, smrInvoked: false,
    nonce: 7n, sourceEid: { kind: 'none' }, itrRlocs: [{ kind: 'ipv4', ip: '203.0.113.9' }], records: [{ eid: { kind: 'ipv4', ip: '10.0.0.5' }, eidMaskLen: 32 }],
  }));
  pi.receiveEncapsulated(probe, '203.0.113.9', 4341);
  t.is(pi.counters.get('direct.probe.unknown'), 1);
  pi.receiveEncapsulated(probe, '198.51.100.20', 41001);
  t.is((pi.counters.get('direct.reply.sent') ?? 0) - sentBefore, 1, 'a member is answered');
  t.deepEqual(net.undecodable(), []);
});

test('a direct path whose probes stop being answered goes back through the RTR', (t) => {
  const { net, pi, pj } = group();
  t.true(net.until(() => path(pi, '10.0.0.6/32')[0]?.[1] === 41001, 5000) >= 0);
  // The path between the two NATs breaks; both still reach the RTR.
  net.dropIf = (from, to) => [from, to].includes('198.51.100.10') && [from, to].includes('198.51.100.20');
  const took = net.until(() => path(pi, '10.0.0.6/32')[0]?.[0] === '198.51.100.7' && path(pj, '10.0.0.5/32')[0]?.[0] === '198.51.100.7', 10_000);
  t.true(took >= 0 && took <= 5000, `back via the RTR after ${took} ms`);
  t.regex(pathTo(pi, '198.51.100.20') ?? '', /^via RTR 198\.51\.100\.7 \(direct path lost: no probe answered for \d\.\d s\)$/);
  // And direct again once the path heals.
  net.dropIf = undefined;
  t.true(net.until(() => path(pi, '10.0.0.6/32')[0]?.[1] === 41001, 20_000) >= 0, 'direct again');
});

test('probes never answered (a symmetric NAT) leave traffic via the RTR, and say why', (t) => {
  const { net, pi, pj } = group();
  net.dropIf = (from, to) => [from, to].includes('198.51.100.10') && [from, to].includes('198.51.100.20');
  net.advance(12_000);
  t.deepEqual(path(pi, '10.0.0.6/32'), [['198.51.100.7', undefined]]);
  t.deepEqual(path(pj, '10.0.0.5/32'), [['198.51.100.7', undefined]]);
  t.regex(pathTo(pi, '198.51.100.20') ?? '', /^via RTR 198\.51\.100\.7 \(direct probes to 198\.51\.100\.20:41001 unanswered: \d+ sent \(symmetric NAT\?\)\)$/);
  t.true((pi.counters.get('direct.probe.sent') ?? 0) >= 8);
});
