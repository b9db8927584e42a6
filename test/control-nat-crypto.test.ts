// LISP-crypto with a member behind NAT, in the control plane (SimNet, NATs that let in only what
// answers the member's own packets): the exchange with the member goes ECM'd through its RTR,
// which relays it through the NAT binding; the member answers directly; both ends index the
// pair's keys by the RLOCs the group knows (the member's translated one), and the data plane is
// told which RTRs' relay shims to accept and, at the RTR, each member's data port.
import test from 'ava';
import { encodeControl } from '../src/wire';
import { locatorIp, locatorSecurityKey } from '../src/control/locators';
import { parseEid } from '../src/mapping/eid';
import { mapRequest } from '../src/control/messages';
import { SimNet, simConfig } from './helpers/sim-net';

const SEED = '198.51.100.7', OPEN = '198.51.100.8', PRIVATE = '192.168.77.5', GLOBAL = '198.51.100.10';

function group(): { net: SimNet; seed: ReturnType<SimNet['addNode']>; natted: ReturnType<SimNet['addNode']>; open: ReturnType<SimNet['addNode']> } {
  const net = new SimNet();
  net.strictNat = true;
  const crypto = { mode: 'required' as const };
  const seed = net.addNode({ ...simConfig({ name: 'seed', rloc: SEED, eids: ['10.0.0.7/32'], seeds: [], crypto }), nat: { keepaliveMs: 15_000, rtr: true } });
  const natted = net.addNode(simConfig({ name: 'pi', rloc: PRIVATE, eids: ['10.0.0.5/32'], seeds: [SEED], crypto }));
  const open = net.addNode(simConfig({ name: 'vm', rloc: OPEN, eids: ['10.0.0.8/32'], seeds: [SEED], crypto }));
  net.behindNat(natted, GLOBAL, 40582);
  for (const n of [seed, natted, open]) n.start();
  return { net, seed, natted, open };
}

const installs = (net: SimNet, name: string, direction: 'encap' | 'decap'): string[] =>
  (net.keyEvents.get(name) ?? []).filter((e) => e.action === 'install' && e.direction === direction).map((e) => `${e.localRloc}>${e.peerRloc}`);

test('a member behind NAT registers its key on its translated RLOC and agrees keys with a public member through the RTR, indexed by the RLOCs the group knows', (t) => {
  const { net, seed, natted, open } = group();
  t.true(net.until(() => natted.natStatus().behindNat === true, 2000) >= 0);
  net.advance(6000);
  // its key is bound to the translated RLOC by the group's HMAC (registrations)
  const reg = seed.siteCache.lookup(parseEid('10.0.0.5/32'));
  const keyed = (reg?.locators ?? []).filter((l) => locatorSecurityKey(l.address) !== undefined).map((l) => locatorIp(l.address));
  t.deepEqual(keyed, [GLOBAL]);
  // public member -> member behind NAT: ECM'd to the RTR, relayed through the NAT binding
  t.true((open.counters.get('crypto.exchange.via-rtr') ?? 0) >= 1);
  t.true((seed.counters.get('rtr.request.relayed') ?? 0) >= 1);
  t.true(installs(net, 'vm', 'encap').includes(`${OPEN}>${GLOBAL}`), installs(net, 'vm', 'encap').join());
  t.true(installs(net, 'pi', 'decap').includes(`${GLOBAL}>${OPEN}`), installs(net, 'pi', 'decap').join());
  // member behind NAT -> public member: straight out through its NAT, answered back through it
  t.true(installs(net, 'pi', 'encap').includes(`${GLOBAL}>${OPEN}`), installs(net, 'pi', 'encap').join());
  t.true(installs(net, 'vm', 'decap').includes(`${OPEN}>${GLOBAL}`), installs(net, 'vm', 'decap').join());
  // never under its private RLOC, never with itself
  for (const name of ['vm', 'pi', 'seed']) {
    const all = [...installs(net, name, 'encap'), ...installs(net, name, 'decap')];
    t.false(all.some((k) => k.includes(PRIVATE) || k === `${GLOBAL}>${GLOBAL}`), `${name}: ${all.join()}`);
  }
  // the RTR and the member agree keys too (its own EIDs), the RTR reaching it through the binding
  t.true(installs(net, 'seed', 'encap').includes(`${SEED}>${GLOBAL}`), installs(net, 'seed', 'encap').join());
  t.true(installs(net, 'pi', 'encap').includes(`${GLOBAL}>${SEED}`), installs(net, 'pi', 'encap').join());
  // routes via the RTR name the member behind it at 255, the relay target
  t.deepEqual(open.resolve(parseEid('10.0.0.5/32'))?.rlocs.map((r) => [r.address, r.priority]), [[SEED, 254], [GLOBAL, 255]]);
  // the data planes: which RTRs' shims to accept, and at the RTR the member's data port
  t.deepEqual(net.relayPeers.get('vm'), { rtrs: [SEED], targets: [] });
  t.deepEqual(net.relayPeers.get('pi')?.rtrs, [SEED]);
  t.deepEqual(net.relayPeers.get('seed'), { rtrs: [], targets: [{ address: GLOBAL, port: 40583 }] });
});

test('the RTR relays an ECM\'d exchange only for a member it serves and only from a registered RLOC; others are counted, never thrown', (t) => {
  const { net, seed, natted } = group();
  t.true(net.until(() => natted.natStatus().behindNat === true, 2000) >= 0);
  net.advance(3000);
  const ecm = (source: string, destination: string): Buffer => encodeControl({
    type: 'ecm', security: false, ddt: false, message: mapRequest({ nonce: 7n, itrRloc: source, eid: parseEid('10.0.0.5/32'), probe: true }),
    inner: { version: 4, source, destination, ttl: 64, tos: 0, id: 0, fragment: 0, flowLabel: 0, sourcePort: 4342, destinationPort: 4342 },
  });
  const relayed = seed.counters.get('rtr.request.relayed') ?? 0;
  seed.receiveControl(ecm('203.0.113.9', GLOBAL), '203.0.113.9', 4342);
  t.is(seed.counters.get('rtr.request.refused'), 1, 'from a non-member: refused');
  t.is(seed.counters.get('rtr.request.relayed') ?? 0, relayed);
  // for an address we do not relay for: answered as a Map-Resolver, not relayed
  seed.receiveControl(ecm(OPEN, '198.51.100.99'), OPEN, 4342);
  t.is(seed.counters.get('rtr.request.relayed') ?? 0, relayed);
});

test('two members behind two NATs agree keys through the RTR both ways: requests and replies ECM\'d to it and relayed through each NAT binding', (t) => {
  const net = new SimNet();
  net.strictNat = true;
  const crypto = { mode: 'required' as const };
  const seed = net.addNode({ ...simConfig({ name: 'seed', rloc: SEED, eids: ['10.0.0.7/32'], seeds: [], crypto }), nat: { keepaliveMs: 15_000, rtr: true } });
  const pi = net.addNode(simConfig({ name: 'pi', rloc: PRIVATE, eids: ['10.0.0.5/32'], seeds: [SEED], crypto }));
  const pj = net.addNode(simConfig({ name: 'pj', rloc: '192.168.78.5', eids: ['10.0.0.6/32'], seeds: [SEED], crypto }));
  net.behindNat(pi, GLOBAL, 40582);
  net.behindNat(pj, '198.51.100.20', 41000);
  for (const n of [seed, pi, pj]) n.start();
  t.true(net.until(() => pi.natStatus().behindNat === true && pj.natStatus().behindNat === true, 2000) >= 0);
  net.advance(8000);
  const GLOBAL2 = '198.51.100.20';
  t.true(installs(net, 'pi', 'encap').includes(`${GLOBAL}>${GLOBAL2}`), installs(net, 'pi', 'encap').join());
  t.true(installs(net, 'pj', 'decap').includes(`${GLOBAL2}>${GLOBAL}`), installs(net, 'pj', 'decap').join());
  t.true(installs(net, 'pj', 'encap').includes(`${GLOBAL2}>${GLOBAL}`), installs(net, 'pj', 'encap').join());
  t.true(installs(net, 'pi', 'decap').includes(`${GLOBAL}>${GLOBAL2}`), installs(net, 'pi', 'decap').join());
  t.is(pi.counters.get('crypto.reply.unmatched') ?? 0, 0);
  t.true((seed.counters.get('rtr.request.relayed') ?? 0) >= 4, 'both requests and both replies went through the RTR');
});
