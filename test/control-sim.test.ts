import test from 'ava';
import { parseEid } from '../src/mapping/eid';
import type { ControlNode } from '../src/control/node';
import { SimNet, simConfig } from './helpers/sim-net';

/** resolve() in push mode always answers from the local Map-Resolver. */
const must = <T>(v: T | undefined): T => {
  if (v === undefined) throw new Error('no map-cache entry');
  return v;
};
const siteKeys = (n: ControlNode): string[] => n.siteCache.all().map((e) => e.key).sort();
const groupMembers = (n: ControlNode): string[] => {
  const e = n.mapCache.get('[0](0.0.0.0/0, 224.1.1.1/32)');
  return [...(e?.members ?? [])];
};

/** The demo topology: each node seeds from the next one, like the lispers.net capture. */
function demoGroup(net: SimNet, opts: { key3?: string; ttlMs?: number; lispers?: boolean } = {}): ControlNode[] {
  const spec = [
    { name: 'n1', rloc: '192.168.77.5', eids: ['1.1.1.1/32', "'nexus-n1'"], seeds: ['192.168.77.6'] },
    { name: 'n2', rloc: '192.168.77.6', eids: ['2.2.2.2/32', "'nexus-n2'"], seeds: ['192.168.77.7'] },
    { name: 'n3', rloc: '192.168.77.7', eids: ['3.3.3.3/32', "'nexus-n3'"], seeds: ['192.168.77.5'], key: opts.key3 },
  ];
  return spec.map((s) => net.addNode(simConfig({ ...s, ttlMs: opts.ttlMs, lispers: opts.lispers })));
}

const FULL = [
  "[0]'nexus-n1'", "[0]'nexus-n2'", "[0]'nexus-n3'", '[0](0.0.0.0/0, 224.1.1.1/32)',
  '[0]1.1.1.1/32', '[0]2.2.2.2/32', '[0]3.3.3.3/32',
].sort();

test('three nodes bootstrap from one seed each and converge to identical site caches', (t) => {
  const net = new SimNet();
  const nodes = demoGroup(net);
  nodes.forEach((n) => n.start());
  const took = net.until(() => nodes.every((n) => siteKeys(n).join() === FULL.join()), 5_000);
  t.true(took >= 0, `not converged: ${nodes.map((n) => siteKeys(n).join(' ')).join(' | ')}`);
  t.true(took < 2000, `converged in ${took} ms of simulated time`);
  // The group map-cache entry follows the site cache at the next flush (one per burst of changes).
  net.advance(100);
  for (const n of nodes) {
    const g = n.siteCache.get('[0](0.0.0.0/0, 224.1.1.1/32)');
    t.deepEqual(n.siteCache.get('[0](0.0.0.0/0, 224.1.1.1/32)') && groupMembers(n), ['192.168.77.5', '192.168.77.6', '192.168.77.7']);
    t.truthy(g);
    t.is(n.counters.get('register.rejected.auth'), 0);
  }
  t.deepEqual(net.undecodable(), []);
});

test('push mode tells the data plane the members\' RLOCs (memberRlocsChanged), and a joining member is added', (t) => {
  const net = new SimNet();
  const nodes = demoGroup(net);
  nodes.slice(0, 2).forEach((n) => n.start());
  t.true(net.until(() => nodes.slice(0, 2).every((n) => groupMembers(n).length === 2), 5_000) >= 0);
  t.deepEqual(net.memberRlocs.get('n1'), ['192.168.77.5', '192.168.77.6'], 'n3 not started, nobody registered it');
  t.deepEqual(net.memberRlocs.get('n2'), ['192.168.77.5', '192.168.77.6', '192.168.77.7'], 'n2 seeds from n3: a seed counts');
  nodes[2].start();
  t.true(net.until(() => nodes.every((n) => siteKeys(n).join() === FULL.join()), 5_000) >= 0);
  for (const n of ['n1', 'n2', 'n3']) t.deepEqual(net.memberRlocs.get(n), ['192.168.77.5', '192.168.77.6', '192.168.77.7']);
});

test('the ITR resolves through its local Map-Resolver: proxy data for peers, negative for unknowns', (t) => {
  const net = new SimNet();
  const [n1] = demoGroup(net);
  for (const n of net.nodes.values()) n.start();
  net.advance(1000);
  const hit = must(n1.resolve(parseEid('2.2.2.2/32')));
  t.false(hit.negative);
  t.deepEqual(hit.rlocs.map((r) => r.address), ['192.168.77.6']);
  const name = must(n1.resolve(parseEid("'nexus-n3'")));
  t.deepEqual(name.rlocs.map((r) => r.address), ['192.168.77.7']);
  const miss = must(n1.resolve(parseEid('9.9.9.9/32')));
  t.true(miss.negative);
  t.is(miss.action, 1);
});

test('a negative entry turns positive as soon as the registration arrives', (t) => {
  const net = new SimNet();
  const [n1, n2] = demoGroup(net).slice(0, 2);
  n1.start();
  t.true(must(n1.resolve(parseEid('2.2.2.2/32'))).negative);
  n2.start();
  const took = net.until(() => n1.mapCache.get('[0]2.2.2.2/32')?.negative === false, 2000);
  t.true(took >= 0);
  const events = net.mapCacheEvents.get('n1') ?? [];
  t.true(events.some((e) => e.op === 'set' && e.entry.key === '[0]2.2.2.2/32' && !e.entry.negative));
});

test('roaming: a peer map-cache follows a new RLOC within one round trip', (t) => {
  const net = new SimNet();
  const nodes = demoGroup(net);
  nodes.forEach((n) => n.start());
  net.advance(1500);
  const [n1, n2] = nodes;
  t.deepEqual(must(n1.resolve(parseEid('2.2.2.2/32'))).rlocs.map((r) => r.address), ['192.168.77.6']);
  net.move(n2, '192.168.77.66');
  const took = net.until(() => n1.mapCache.get('[0]2.2.2.2/32')?.rlocs.map((r) => r.address).join() === '192.168.77.66', 5_000, 1);
  t.true(took >= 0 && took < 1000, `roamed in ${took} ms`);
  // The group's member list follows too, so registrations keep reaching the roamer.
  net.until(() => groupMembers(n1).includes('192.168.77.66') && !groupMembers(n1).includes('192.168.77.6'), 5_000);
  t.true(groupMembers(n1).includes('192.168.77.66'));
  t.false(groupMembers(n1).includes('192.168.77.6'));
});

test('a node with the wrong key is rejected, counted, and never enters a site cache', (t) => {
  const net = new SimNet();
  const nodes = demoGroup(net, { key3: 'not-the-key' });
  nodes.forEach((n) => n.start());
  net.advance(3000);
  const [n1, n2, n3] = nodes;
  for (const n of [n1, n2]) t.false(siteKeys(n).includes('[0]3.3.3.3/32'));
  // n3 bootstraps through n1, so n1 sees its registrations and rejects them; n3 rejects everyone's.
  t.true((n1.counters.get('register.rejected.auth') ?? 0) > 0);
  t.true((n3.counters.get('register.rejected.auth') ?? 0) > 0);
  t.deepEqual(siteKeys(n3).filter((k) => !k.includes('3.3.3.3') && !k.includes('nexus-n3') && !k.includes('224.1.1.1')), []);
});

test('ten nodes converge; a killed node vanishes after its TTL; a restarted one re-joins', (t) => {
  const net = new SimNet();
  const ttlMs = 6_000;
  const mk = (i: number): ReturnType<typeof simConfig> => simConfig({
    name: `n${i}`, rloc: `10.0.0.${i}`, eids: [`172.16.${i}.0/24`], seeds: [`10.0.0.${i === 1 ? 2 : 1}`], ttlMs, registerIntervalMs: 2_000,
  });
  const nodes = Array.from({ length: 10 }, (_, i) => net.addNode(mk(i + 1)));
  nodes.forEach((n) => n.start());
  const full = (n: ControlNode): boolean => n.siteCache.size === 11;
  const took = net.until(() => nodes.every(full), 10_000);
  t.true(took >= 0 && took < 2000, `10 nodes converged in ${took} ms`);

  net.kill(nodes[4]);
  const others = nodes.filter((_, i) => i !== 4);
  net.advance(ttlMs - 2_500);
  t.true(others.every((n) => n.siteCache.get('[0]172.16.5.0/24') !== undefined), 'still there before the TTL');
  const gone = net.until(() => others.every((n) => !n.siteCache.get('[0]172.16.5.0/24') && !groupMembers(n).includes('10.0.0.5')), ttlMs + 3_000);
  t.true(gone >= 0, 'the killed node expired everywhere');

  const again = net.addNode(mk(5));
  again.start();
  const back = net.until(() => [...others, again].every(full), 5_000);
  t.true(back >= 0 && back < 2000, `re-joined in ${back} ms`);
  t.deepEqual(net.undecodable(), []);
});

test('a clean stop withdraws at once (Record TTL 0)', (t) => {
  const net = new SimNet();
  const nodes = demoGroup(net);
  nodes.forEach((n) => n.start());
  net.advance(1500);
  nodes[2].stop(true);
  net.advance(50);
  for (const n of nodes.slice(0, 2)) {
    t.false(siteKeys(n).includes('[0]3.3.3.3/32'));
    t.false(groupMembers(n).includes('192.168.77.7'));
  }
});

test('lig: an ECM Map-Request answered by a peer Map-Resolver with a proxy reply', async (t) => {
  const net = new SimNet();
  const nodes = demoGroup(net);
  nodes.forEach((n) => n.start());
  net.advance(1500);
  const pending = nodes[0].lig(parseEid('3.3.3.3/32'), '192.168.77.6');
  net.advance(10);
  const r = await pending;
  t.is(r.from, '192.168.77.6');
  const rec = r.reply.records[0];
  t.false(rec.authoritative, 'proxy replies have A=0');
  t.is(rec.locators.length, 1);
  t.false(rec.locators[0].local);
  const neg = nodes[0].lig(parseEid('9.9.9.9/32'), '192.168.77.6');
  net.advance(10);
  const n = await neg;
  t.is(n.reply.records[0].locators.length, 0);
  t.is(n.reply.records[0].action, 1);
});

test('lispers wire forms on request: padded (S,G) and named RLE entries', (t) => {
  const net = new SimNet();
  const nodes = demoGroup(net, { lispers: true });
  nodes.forEach((n) => n.start());
  const took = net.until(() => nodes.every((n) => siteKeys(n).join() === FULL.join()), 5_000);
  t.true(took >= 0);
  const padded = net.wire.some((w) => w.port === 4341 && w.bytes.includes(Buffer.from('400300000900001400000000', 'hex')));
  t.true(padded, 'Multicast-Info with the 2-byte pad on the wire');
  t.deepEqual(net.undecodable(), []);
});

test('a node whose seed starts later still joins quickly (bootstrap retry)', (t) => {
  const net = new SimNet();
  const n1 = net.addNode(simConfig({ name: 'n1', rloc: '10.9.0.1', eids: ['1.1.1.1/32'], seeds: ['10.9.0.2'] }));
  n1.start(); // its seed is not on the wire yet: this registration is lost
  net.advance(600);
  // The seed's own seed is absent for good, so only n1's retry can bring the two together.
  const n2 = net.addNode(simConfig({ name: 'n2', rloc: '10.9.0.2', eids: ['2.2.2.2/32'], seeds: ['10.9.0.3'] }));
  n2.start();
  const took = net.until(() => n1.siteCache.get('[0]2.2.2.2/32') !== undefined && n2.siteCache.get('[0]1.1.1.1/32') !== undefined, 5_000);
  t.true(took >= 0 && took < 1500, `joined ${took} ms after the seed came up`);
});

test('reconfigure (SIGHUP): removed EIDs are withdrawn at once, new ones registered', (t) => {
  const net = new SimNet();
  const nodes = demoGroup(net);
  nodes.forEach((n) => n.start());
  net.advance(1500);
  const [n1, n2] = nodes;
  n1.reconfigure({ ...n1.config, eids: [parseEid('1.1.1.1/32'), parseEid('9.9.9.0/24')] });
  net.advance(50);
  t.false(siteKeys(n2).includes("[0]'nexus-n1'"), 'the dropped name EID is gone at the peer');
  t.true(siteKeys(n2).includes('[0]9.9.9.0/24'), 'the new prefix is registered');
  t.true(siteKeys(n2).includes('[0]1.1.1.1/32'));
  t.true(siteKeys(n2).includes('[0](0.0.0.0/0, 224.1.1.1/32)'), 'membership is untouched');
});

test('Map-Requests are rate-limited per requester, and requesters get an SMR when we roam', async (t) => {
  const net = new SimNet();
  const nodes = demoGroup(net);
  nodes.forEach((n) => n.start());
  net.advance(1500);
  const [n1, n2, n3] = nodes;
  // n1 asks n3 as its Map-Resolver, so n3 remembers n1 as a recent requester.
  const asked = n1.lig(parseEid('3.3.3.3/32'), '192.168.77.7');
  net.advance(10);
  await asked;
  const smrsBefore = n1.counters.get('smr.received') ?? 0;
  net.move(n3, '192.168.77.77');
  net.advance(20);
  t.is((n1.counters.get('smr.received') ?? 0) - smrsBefore, 2, 'one SMR per EID of n3');
  t.is(n2.counters.get('smr.received') ?? 0, 0, 'only recent requesters are solicited');

  // A flood of requests from one source: the first 20 are answered, then the bucket is empty.
  const flood = Array.from({ length: 40 }, () => n1.lig(parseEid('2.2.2.2/32'), '192.168.77.6', 50).then(() => 1, () => 0));
  net.advance(100);
  const answered = (await Promise.all(flood)).reduce((a: number, b) => a + b, 0);
  t.true(answered >= 20 && answered <= 22, `${answered} answered`);
  t.true((n2.counters.get('request.rate-limited') ?? 0) >= 18);
});

test('an IPv6 group over IPv6 RLOCs converges with (::/0, G) membership', (t) => {
  const net = new SimNet();
  const nodes = [1, 2, 3].map((i) => net.addNode(simConfig({
    name: `v6n${i}`, rloc: `2001:db8::${i}`, eids: [`fd00:${i}::/48`], seeds: [`2001:db8::${(i % 3) + 1}`], group: 'ff0e::1:1',
  })));
  nodes.forEach((n) => n.start());
  const took = net.until(() => nodes.every((n) => n.siteCache.size === 4), 5_000);
  t.true(took >= 0, nodes.map((n) => siteKeys(n).join(' ')).join(' | '));
  const g = nodes[0].siteCache.get('[0](::/0, ff0e::1:1/128)');
  t.truthy(g);
  t.deepEqual(nodes[0].replicationTargets(), ['2001:db8::2', '2001:db8::3']);
  t.deepEqual(must(nodes[0].resolve(parseEid('fd00:3::1/128'))).rlocs.map((r) => r.address), ['2001:db8::3']);
  t.deepEqual(net.undecodable(), []);
});

test('pull mode: registrations go to the hashed Map-Server set, lookups to the hashed Map-Resolver', async (t) => {
  // The lispers.net pull run: modulus 3, its hash, names 0/1/2.map-server.decent → n1/n2/n3.
  const net = new SimNet();
  const rlocs = ['192.168.77.5', '192.168.77.6', '192.168.77.7'];
  rlocs.forEach((r, i) => net.dns.set(`${i}.map-server.decent`, [r]));
  const pull = { modulus: 3, dnsSuffix: 'map-server.decent', hash: 'lispers' as const, lookupLengths: [], dnsRefreshMs: 30_000 };
  const nodes = [1, 2, 3].map((i) => net.addNode({
    ...simConfig({ name: `n${i}`, rloc: rlocs[i - 1], eids: [`${i}.${i}.${i}.${i}/32`, `'nexus-n${i}'`], seeds: [] }), mode: 'pull' as const, pull,
  }));
  nodes.forEach((n) => n.start());
  const converged = await net.untilAsync(() => siteKeys(nodes[1]).length === 3 && siteKeys(nodes[2]).length === 3, 5_000);
  t.true(converged >= 0, nodes.map((n) => siteKeys(n).join(' ')).join(' | '));
  // The site caches lispers' own nodes showed (test/vectors/lispers-decent-README.md, "Pull").
  t.deepEqual(siteKeys(nodes[0]), []);
  t.deepEqual(siteKeys(nodes[1]), ["[0]'nexus-n2'", "[0]'nexus-n3'", '[0]2.2.2.2/32']);
  t.deepEqual(siteKeys(nodes[2]), ["[0]'nexus-n1'", '[0]1.1.1.1/32', '[0]3.3.3.3/32']);

  // n1 resolves 2.2.2.2 through n2 and 3.3.3.3 through n3; an unknown EID gets a negative entry.
  for (const e of ['2.2.2.2/32', '3.3.3.3/32', '9.9.9.9/32']) nodes[0].resolve(parseEid(e));
  const got = await net.untilAsync(() => ['[0]2.2.2.2/32', '[0]3.3.3.3/32', '[0]9.9.9.9/32'].every((k) => nodes[0].mapCache.get(k)), 2_000);
  t.true(got >= 0);
  t.deepEqual(nodes[0].mapCache.get('[0]2.2.2.2/32')?.rlocs.map((r) => r.address), ['192.168.77.6']);
  t.deepEqual(nodes[0].mapCache.get('[0]3.3.3.3/32')?.rlocs.map((r) => r.address), ['192.168.77.7']);
  t.true(nodes[0].mapCache.get('[0]9.9.9.9/32')?.negative);
  t.is(nodes[0].counters.get('her.sent'), 0, 'pull mode replicates nothing');
  t.deepEqual(net.undecodable(), []);
});

test('pull mode: a Map-Register lost to a Map-Server that was not up is retransmitted until acknowledged', async (t) => {
  const net = new SimNet();
  net.dns.set('0.ms.test', ['10.7.0.1']);
  net.dns.set('1.ms.test', ['10.7.0.2']);
  const pull = { modulus: 2, dnsSuffix: 'ms.test', hash: 'rfc' as const, lookupLengths: [], dnsRefreshMs: 30_000 };
  const mk = (i: number, eid: string): ReturnType<typeof simConfig> & { mode: 'pull'; pull: typeof pull } => ({
    ...simConfig({ name: `p${i}`, rloc: `10.7.0.${i}`, eids: [eid], seeds: [] }), mode: 'pull', pull,
  });
  // Find an EID that hashes to set 1 (node 2), so node 1 must reach node 2 over the wire.
  const { mapServerName } = await import('../src/control/decent/pull-hash');
  const eid = ['10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16', '10.4.0.0/16'].find((e) => mapServerName(parseEid(e), pull) === '1.ms.test') ?? '';
  t.truthy(eid);
  const n1 = net.addNode(mk(1, eid));
  n1.start();
  await net.untilAsync(() => false, 1500); // n2 is not there: the first sends are lost
  const n2 = net.addNode(mk(2, '192.168.0.0/16'));
  n2.start();
  const took = await net.untilAsync(() => n2.siteCache.get(`[0]${eid}`) !== undefined && (n1.counters.get('register.acked') ?? 0) > 0, 10_000);
  t.true(took >= 0 && took <= 4_000, `registered ${took} ms after the Map-Server came up`);
  t.true((n1.counters.get('register.retransmitted') ?? 0) >= 1);
  const retransmits = n1.counters.get('register.retransmitted') ?? 0;
  await net.untilAsync(() => false, 10_000);
  t.is(n1.counters.get('register.retransmitted'), retransmits, 'no more retransmissions once acknowledged');
});
