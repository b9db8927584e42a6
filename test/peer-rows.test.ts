// `decent show peers` reads peerRows(): one row per member, built from the site cache.
import test from 'ava';
import { parseEid } from '../src/mapping/eid';
import { peerRows } from '../src/control/views';
import { SimNet, simConfig } from './helpers/sim-net';

const spec = [
  { name: 'n1', rloc: '192.0.2.5', eids: ['10.0.0.1/32', "'nexus-n1'"], seeds: ['192.0.2.6'] },
  { name: 'n2', rloc: '192.0.2.6', eids: ['10.0.0.2/32', "'nexus-n2'"], seeds: ['192.0.2.7'] },
  { name: 'n3', rloc: '192.0.2.7', eids: ['10.0.0.3/32', '10.3.0.0/16'], seeds: ['192.0.2.5', '192.0.2.99'] },
];

test('peer rows: name, RLOCs, EIDs, last registration, state and reachability of every other member', (t) => {
  const net = new SimNet();
  const nodes = spec.map((s) => net.addNode(simConfig(s)));
  nodes.forEach((n) => n.start());
  t.true(net.until(() => nodes.every((n) => n.siteCache.size === 7), 5_000) >= 0, 'converged');
  const [n1, , n3] = nodes;
  const rows = peerRows(n1);
  t.deepEqual(rows.map((r) => [r.name, r.rlocs, r.eids, r.state, r.reachability]), [
    // A name EID names a member whose registrations carry no RLOC-name; n3 has none.
    ['nexus-n2', ['192.0.2.6'], ["[0]'nexus-n2'", '[0]10.0.0.2/32'], 'registered', 'unknown'],
    [null, ['192.0.2.7'], ['[0]10.0.0.3/32', '[0]10.3.0.0/16'], 'registered', 'unknown'],
  ]);
  for (const r of rows) {
    t.true(r.lastRegistered !== null && r.lastRegistered <= net.now && r.lastRegistered > 0);
    t.true(r.expiresAt !== null && r.expiresAt > net.now);
    t.regex(r.xtrId ?? '', /^0x6e3[23]$/, 'the member\'s xTR-ID');
  }
  // A seed that never registered is listed, so a typo in decent.seeds shows.
  t.deepEqual(peerRows(n3).map((r) => [r.rlocs[0], r.state]), [
    ['192.0.2.5', 'registered'], ['192.0.2.6', 'registered'], ['192.0.2.99', 'seed-not-registered'],
  ]);
  // Once traffic resolves an EID, the member's RLOC state in the map-cache is its reachability.
  n1.resolve(parseEid('10.0.0.2/32'));
  t.is(peerRows(n1).find((r) => r.name === 'nexus-n2')?.reachability, 'up');
});

test('peer rows: lispers-compat members are named by their RLE names', (t) => {
  const net = new SimNet();
  const nodes = spec.slice(0, 2).map((s) => net.addNode(simConfig({ ...s, lispers: true })));
  nodes.forEach((n) => n.start());
  net.until(() => nodes.every((n) => n.siteCache.size === 5), 5_000);
  t.deepEqual(peerRows(nodes[0]).map((r) => [r.name, r.rlocs, r.state]), [['n2', ['192.0.2.6'], 'registered']]);
});
