import test from 'ava';
import { lispDatagrams } from '../src/pcap/lisp';
import { SimNet, simConfig } from './helpers/sim-net';
import { loadVector } from './helpers/vectors';

// Replays what lispers.net put on the wire in its three-node HER run into a decent Map-Server
// that listens like a fourth member: unicast Map-Registers, head-end replicated copies (IID
// 0xFFFFFF), lispers' unauthenticated (S,G) joins with the padded Multicast-Info LCAF, and its
// RLE Map-Notifys. decent must end up with the site cache lispers' own nodes reported
// (test/vectors/lispers-decent-README.md, "What the nodes' tables showed").
test('a decent Map-Server fed lispers.net traffic builds the same site cache as lispers', (t) => {
  const net = new SimNet();
  const cfg = simConfig({ name: 'decent', rloc: '192.168.77.99', eids: ['9.9.9.9/32'], seeds: [], lispers: true });
  const node = net.addNode({ ...cfg, policy: { ...cfg.policy, acceptUnauthenticatedGroupJoins: true } });
  node.start();
  const frames = lispDatagrams(loadVector('lispers-decent-her-full.pcap'));
  const t0 = frames[0].frame.time;
  let fed = 0;
  for (const d of frames) {
    // Replay in capture time so registration lifetimes (3 min) behave as they did.
    const at = (d.frame.time - t0) * 1000;
    if (at > net.now) net.advance(at - net.now);
    if (d.udp.destinationPort === 4342 && d.plane === 'control') {
      node.receiveControl(d.payload, d.ip.source, d.udp.sourcePort);
      fed++;
    } else if (d.plane === 'data' && node.receiveEncapsulated(d.payload, d.ip.source)) {
      fed++;
    }
  }
  t.true(fed > 200, `${fed} lispers messages fed`);
  const rlocsOf = (key: string): string[] => [...(node.siteCache.get(key)?.locators ?? [])]
    .flatMap((l) => {
      const a = l.address;
      const ips: string[] = [];
      const walk = (x: typeof a): void => {
        if (x.kind === 'ipv4') ips.push(x.ip);
        if (x.kind === 'lcaf' && x.lcaf.type === 'afi-list') x.lcaf.items.forEach(walk);
        if (x.kind === 'lcaf' && x.lcaf.type === 'rle') x.lcaf.entries.forEach((e) => walk(e.address));
      };
      walk(a);
      return ips;
    }).sort();
  t.deepEqual(rlocsOf('[0]1.1.1.1/32'), ['192.168.77.5']);
  t.deepEqual(rlocsOf('[0]2.2.2.2/32'), ['192.168.77.6']);
  t.deepEqual(rlocsOf('[0]3.3.3.3/32'), ['192.168.77.7']);
  t.deepEqual(rlocsOf("[0]'nexus-n1'"), ['192.168.77.5']);
  t.deepEqual(rlocsOf("[0]'nexus-n2'"), ['192.168.77.6']);
  t.deepEqual(rlocsOf("[0]'nexus-n3'"), ['192.168.77.7']);
  // The group entry: the three lispers members plus decent itself, merged per xTR-ID.
  t.deepEqual(rlocsOf('[0](0.0.0.0/0, 224.1.1.1/32)'), ['192.168.77.5', '192.168.77.6', '192.168.77.7', '192.168.77.99']);
  t.is(node.counters.get('register.rejected.auth'), 0, 'every lispers registration authenticated or was an allowed group join');
  t.true((node.counters.get('her.received') ?? 0) > 50, 'head-end replicated registrations were taken from the data port');
  // And decent replicates its own registrations back to all three lispers members.
  t.deepEqual(node.replicationTargets(), ['192.168.77.5', '192.168.77.6', '192.168.77.7']);
});

test('without the lispers policy, its unauthenticated group joins are rejected and counted', (t) => {
  const net = new SimNet();
  const node = net.addNode(simConfig({ name: 'strict', rloc: '192.168.77.99', eids: ['9.9.9.9/32'], seeds: [] }));
  node.start();
  for (const d of lispDatagrams(loadVector('lispers-decent-her-startup.pcap'))) {
    if (d.udp.destinationPort === 4342 && d.plane === 'control') node.receiveControl(d.payload, d.ip.source, d.udp.sourcePort);
  }
  t.true((node.counters.get('register.rejected.auth') ?? 0) > 0);
  t.deepEqual(node.replicationTargets(), [], 'no lispers member was admitted');
  t.truthy(node.siteCache.get('[0]1.1.1.1/32'), 'authenticated EID registrations are still accepted');
});
