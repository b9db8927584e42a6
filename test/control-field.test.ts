// Field fixes in the control plane (issue 14) and hostile registrations and requests (issue 12),
// on the simulated network: each test failed before its fix.
import test from 'ava';
import { eidKey, parseEid, eidToWire } from '../src/mapping/eid';
import type { ControlNode } from '../src/control/node';
import { unicastLocator } from '../src/control/locators';
import { decodeControl, encodeControl, encodeSigned, verifyControl, type MapRegister } from '../src/wire';
import { SimNet, simConfig } from './helpers/sim-net';

const KEY = 'decent-password';

function group(net: SimNet, n: number, opts: { probeMs?: number; ttlMs?: number } = {}): ControlNode[] {
  return Array.from({ length: n }, (_, i) => {
    const c = simConfig({ name: `n${i + 1}`, rloc: `10.0.0.${i + 1}`, eids: [`10.99.${i + 1}.0/24`], seeds: ['10.0.0.1'], ttlMs: opts.ttlMs });
    return net.addNode({ ...c, timers: { ...c.timers, probeIntervalMs: opts.probeMs ?? 0 } });
  });
}

/** Two members with probing; n1 resolved n2's EID, then n2 died and n1 marked its RLOC down. */
function peerMarkedDown(): { net: SimNet; n1: ControlNode } {
  const net = new SimNet();
  const [n1, n2] = group(net, 2, { probeMs: 1_000 });
  n1.start();
  n2.start();
  net.until(() => n1.siteCache.size === 3, 5_000);
  n1.resolve(parseEid('10.99.2.1/32'));
  net.kill(n2);
  net.until(() => n1.mapCache.get('[0]10.99.2.0/24')?.rlocs[0]?.up === false, 10_000);
  return { net, n1 };
}

function register(o: { eid: string; rlocs: string[]; xtrId: bigint; siteId?: bigint; algorithm?: 1 | 2; wantMapNotify?: boolean }): Buffer {
  const m: MapRegister = {
    type: 'map-register', proxyReply: true, security: false, useTtl: true, merge: true, wantMapNotify: o.wantMapNotify ?? false,
    nonce: 77n, keyId: 0, algorithm: o.algorithm ?? 2, authData: new Uint8Array(0),
    records: [{ ttl: 3, ...eidToWire(parseEid(o.eid)), action: 0, authoritative: true, mapVersion: 0, locators: o.rlocs.map((ip) => unicastLocator(ip)) }],
    xtrId: o.xtrId, siteId: o.siteId ?? 0n,
  };
  return encodeSigned(m, KEY, { keyId: 0, algorithm: o.algorithm ?? 2 });
}

test('a member restarted on the same RLOC (new xTR-ID) gets every registration at once, not at the next round', (t) => {
  const net = new SimNet();
  const nodes = group(net, 4);
  nodes.forEach((n) => n.start());
  t.true(net.until(() => nodes.every((n) => n.siteCache.size === 5), 5_000) >= 0);
  net.advance(5_000);
  net.kill(nodes[3]);
  const restarted = net.addNode({ ...simConfig({ name: 'n4', rloc: '10.0.0.4', eids: ['10.99.4.0/24'], seeds: ['10.0.0.1'] }), xtrId: 0xabcdefn });
  restarted.start();
  const took = net.until(() => restarted.siteCache.size === 5, 30_000);
  t.true(took >= 0 && took < 2_000, `the restarted member knew every EID after ${took} ms (periodic round: 60 s)`);
  // Its old registration is superseded, not merged with the new one.
  const entry = nodes[0].siteCache.get('[0]10.99.4.0/24');
  t.is(entry?.registrations.size, 1);
});

test('an RLOC marked down is up again as soon as its member registers again (no probe round needed)', (t) => {
  const { net, n1 } = peerMarkedDown();
  t.false(n1.mapCache.get('[0]10.99.2.0/24')?.rlocs[0]?.up);
  const back = net.addNode({ ...simConfig({ name: 'n2', rloc: '10.0.0.2', eids: ['10.99.2.0/24'], seeds: ['10.0.0.1'] }), xtrId: 0x2222n });
  back.start();
  const took = net.until(() => n1.mapCache.get('[0]10.99.2.0/24')?.rlocs[0]?.up === true, 5_000, 1);
  t.true(took >= 0 && took < 100, `up again ${took} ms after the registration (probe interval 1 s)`);
});

test('the acknowledging Map-Notify uses the Map-Register\'s key-id and algorithm (HMAC-SHA-1 from OOR)', (t) => {
  const net = new SimNet();
  const [n1] = group(net, 1);
  n1.start();
  n1.receiveControl(register({ eid: '10.50.0.0/16', rlocs: ['10.0.0.9'], xtrId: 9n, algorithm: 1, wantMapNotify: true }), '10.0.0.9', 4342);
  const notify = net.wire.find((w) => w.to === '10.0.0.9');
  t.truthy(notify, 'no Map-Notify sent');
  const m = decodeControl(notify!.bytes);
  t.is(m.type, 'map-notify');
  if (m.type === 'map-notify') t.is(m.algorithm, 1);
  t.is(verifyControl(notify!.bytes, KEY), 'ok');
});

test('an EID held by another live member is refused, counted and logged with its owner; a multihomed site may share it', (t) => {
  const net = new SimNet();
  const [n1] = group(net, 1);
  n1.start();
  n1.receiveControl(register({ eid: '10.77.0.2/32', rlocs: ['10.0.0.2'], xtrId: 2n }), '10.0.0.2', 4342);
  n1.receiveControl(register({ eid: '10.77.0.2/32', rlocs: ['10.0.0.3'], xtrId: 3n }), '10.0.0.3', 4342);
  n1.receiveControl(register({ eid: '10.77.0.0/24', rlocs: ['10.0.0.3'], xtrId: 3n }), '10.0.0.3', 4342);
  t.deepEqual(n1.siteCache.get('[0]10.77.0.2/32')?.locators.map((l) => (l.address.kind === 'ipv4' ? l.address.ip : '?')), ['10.0.0.2']);
  t.is(n1.counters.get('register.rejected.owned'), 1, 'the exact EID is refused');
  t.is(n1.siteCache.get('[0]10.77.0.0/24') !== undefined, true, 'a covering prefix of its own is a different EID');
  // A more-specific inside someone else's prefix is refused too.
  n1.receiveControl(register({ eid: '10.77.0.9/32', rlocs: ['10.0.0.4'], xtrId: 4n }), '10.0.0.4', 4342);
  t.is(n1.counters.get('register.rejected.owned'), 2);

  const net2 = new SimNet();
  const c = simConfig({ name: 'm', rloc: '10.0.0.1', eids: ['10.99.1.0/24'], seeds: [] });
  const m = net2.addNode({ ...c, policy: { ...c.policy, multihomedSites: [5n] } });
  m.start();
  m.receiveControl(register({ eid: '10.77.0.2/32', rlocs: ['10.0.0.2'], xtrId: 2n, siteId: 5n }), '10.0.0.2', 4342);
  m.receiveControl(register({ eid: '10.77.0.2/32', rlocs: ['10.0.0.3'], xtrId: 3n, siteId: 5n }), '10.0.0.3', 4342);
  t.is(m.siteCache.get('[0]10.77.0.2/32')?.locators.length, 2);
  t.is(m.counters.get('register.rejected.owned'), 0);
});

test('merged RLOC sets are capped: 2 × 200 locators cannot make a record the wire cannot carry', (t) => {
  const net = new SimNet();
  const c = simConfig({ name: 'n1', rloc: '10.0.0.1', eids: ['10.99.1.0/24'], seeds: [] });
  const n1 = net.addNode({ ...c, policy: { ...c.policy, multihomedSites: [5n] } });
  n1.start();
  const many = (base: number): string[] => Array.from({ length: 200 }, (_, i) => `10.${base}.${i >> 8}.${i & 255}`);
  n1.receiveControl(register({ eid: '10.88.0.0/16', rlocs: many(1), xtrId: 2n, siteId: 5n }), '10.1.0.0', 4342);
  n1.receiveControl(register({ eid: '10.88.0.0/16', rlocs: many(2), xtrId: 3n, siteId: 5n }), '10.2.0.0', 4342);
  t.is(n1.counters.get('register.rejected.limit'), 2);
  n1.receiveControl(register({ eid: '10.88.0.0/16', rlocs: many(1).slice(0, 20), xtrId: 2n, siteId: 5n }), '10.1.0.0', 4342);
  n1.receiveControl(register({ eid: '10.88.0.0/16', rlocs: many(2).slice(0, 20), xtrId: 3n, siteId: 5n }), '10.2.0.0', 4342);
  t.is(n1.counters.get('register.rejected.limit'), 3, 'the merge of 20 + 20 exceeds 32');
  // A Map-Request for it is answered, not thrown out of the handler.
  t.notThrows(() => n1.resolve(parseEid('10.88.1.1/32')));
});

test('an ECM Map-Request with inner source port 0 or a multicast ITR-RLOC is a counted drop', (t) => {
  const net = new SimNet();
  const [n1] = group(net, 1);
  n1.start();
  net.advance(100);
  const before = net.wire.length;
  for (const [itr, port] of [['10.0.0.9', 0], ['224.0.0.1', 4342], ['0.0.0.0', 4342]] as const) {
    const bytes = encodeControl({
      type: 'ecm', security: false, ddt: false,
      message: {
        type: 'map-request', authoritative: false, mapDataPresent: false, probe: false, smr: false, pitr: false, smrInvoked: false,
        nonce: 5n, sourceEid: { kind: 'none' }, itrRlocs: [{ kind: 'ipv4', ip: itr }], records: [{ ...eidToWire(parseEid('10.99.1.0/24')) }],
      },
      inner: { version: 4, source: itr, destination: '10.99.1.1', ttl: 64, tos: 0, id: 0, fragment: 0, flowLabel: 0, sourcePort: port, destinationPort: 4342 },
    });
    n1.receiveControl(bytes, '10.0.0.9', 4342);
  }
  t.deepEqual(net.wire.slice(before).filter((w) => w.port === 0 || w.to === '224.0.0.1' || w.to === '0.0.0.0'), []);
  t.is(n1.counters.get('request.rejected.address'), 3);
});

test('an RLOC-probe reply counts only with the nonce of a probe we sent to that RLOC', (t) => {
  const { net, n1 } = peerMarkedDown();
  const forged = encodeControl({
    type: 'map-reply', probe: true, echoNonceCapable: false, security: false, nonce: 12345n,
    records: [{ ttl: 1, ...eidToWire(parseEid('10.99.2.0/24')), action: 0, authoritative: true, mapVersion: 0, locators: [unicastLocator('10.0.0.2')] }],
  });
  n1.receiveControl(forged, '10.0.0.2', 4342);
  net.advance(10);
  t.false(n1.mapCache.get('[0]10.99.2.0/24')?.rlocs[0]?.up, 'a forged probe reply keeps a dead RLOC down');
  t.is(n1.counters.get('probe.reply.unmatched'), 1);
});

test('a captured withdraw or register replayed later is refused; a retransmission is acked without effect', (t) => {
  const net = new SimNet();
  const nodes = group(net, 3);
  nodes.forEach((n) => n.start());
  const [n1, n2] = nodes;
  t.true(net.until(() => nodes.every((n) => n.siteCache.size === 4), 5_000) >= 0);
  // Capture n2's registrations to n1 (head-end replicated), then n2 leaves with a withdraw.
  const fromN2 = (): typeof net.wire => net.wire.filter((w) => w.from === '10.0.0.2' && w.to === '10.0.0.1' && w.port === 4341);
  net.advance(61_000);
  const captured = fromN2().slice(-2);
  t.true(captured.length > 0);
  n2.stop(true);
  net.advance(100);
  const withdraw = fromN2().slice(-2);
  net.kill(n2);
  t.is(n1.siteCache.get('[0]10.99.2.0/24'), undefined, 'withdrawn');
  // The captured register, replayed: no resurrection.
  for (const w of captured) n1.receiveEncapsulated(w.bytes, '10.0.0.2');
  net.advance(100);
  t.is(n1.siteCache.get('[0]10.99.2.0/24'), undefined, 'a replayed register resurrected a departed member');
  t.true((n1.counters.get('register.rejected.replay') ?? 0) > 0);
  // n3's registration is live; its own captured (older) register replayed after a newer one is refused too.
  const n3Old = net.wire.filter((w) => w.from === '10.0.0.3' && w.to === '10.0.0.1' && w.port === 4341).slice(-2);
  net.advance(61_000);
  const before = n1.counters.get('register.rejected.replay') ?? 0;
  for (const w of [...n3Old, ...withdraw]) n1.receiveEncapsulated(w.bytes, w.from);
  t.true((n1.counters.get('register.rejected.replay') ?? 0) > before);
  t.truthy(n1.siteCache.get('[0]10.99.3.0/24'), 'a replayed register did no harm');
});

test('Map-Request reflection: the rate limit keys on the outer source, replies to unproven addresses stay small, requesters are bounded', (t) => {
  const net = new SimNet();
  const [n1] = group(net, 1);
  n1.start();
  // Many group EIDs registered, so a request for all of them would answer with a big reply.
  for (let i = 0; i < 40; i++) n1.receiveControl(register({ eid: `10.60.${i}.0/24`, rlocs: ['10.0.0.50'], xtrId: 50n }), '10.0.0.50', 4342);
  net.advance(10);
  const ecm = (inner: string, eids: string[]): Buffer => encodeControl({
    type: 'ecm', security: false, ddt: false,
    message: {
      type: 'map-request', authoritative: false, mapDataPresent: false, probe: false, smr: false, pitr: false, smrInvoked: false,
      nonce: 6n, sourceEid: { kind: 'none' }, itrRlocs: [{ kind: 'ipv4', ip: inner }], records: eids.map((e) => eidToWire(parseEid(e))),
    },
    inner: { version: 4, source: inner, destination: '10.60.0.1', ttl: 64, tos: 0, id: 0, fragment: 0, flowLabel: 0, sourcePort: 4342, destinationPort: 4342 },
  });
  const before = net.wire.length;
  for (let i = 0; i < 200; i++) n1.receiveControl(ecm(`192.0.2.${i}`, ['10.60.0.1/32']), '203.0.113.9', 4342);
  const replies = net.wire.slice(before).filter((w) => w.to.startsWith('192.0.2.'));
  t.true(replies.length <= 20, `${replies.length} replies to 200 requests from one outer source with rotating inner sources`);
  t.true((n1.counters.get('request.rate-limited') ?? 0) + (n1.counters.get('control.rate-limited') ?? 0) >= 180);
  // A request for 40 EIDs to a victim that never registered: the reply is at most 3 × the request.
  const big = ecm('198.51.100.7', Array.from({ length: 40 }, (_, i) => `10.60.${i}.1/32`));
  const mark = net.wire.length;
  n1.receiveControl(big, '203.0.113.10', 4342);
  const reply = net.wire.slice(mark).find((w) => w.to === '198.51.100.7');
  t.truthy(reply);
  t.true(reply!.bytes.length <= 3 * big.length, `reply ${reply?.bytes.length} B for a ${big.length} B request`);
});

test('a node with the wrong key, or a seed that never answers, is told in words', (t) => {
  const net = new SimNet();
  const good = net.addNode(simConfig({ name: 'g', rloc: '10.0.0.1', eids: ['10.99.1.0/24'], seeds: [] }));
  const bad = net.addNode(simConfig({ name: 'b', rloc: '10.0.0.2', eids: ['10.99.2.0/24'], seeds: ['10.0.0.1', '192.0.2.9'], key: 'wrong' }));
  good.start();
  bad.start();
  t.deepEqual(bad.diagnostics(), [], 'nothing said before a few rounds');
  net.advance(5_000);
  const said = bad.diagnostics();
  t.true(said.some((d) => d.startsWith('no member accepted our registrations') && d.includes('check auth.key') && d.includes('10.0.0.1')), said.join(' | '));
  t.true(said.includes('seed 192.0.2.9 did not answer (4 tries)') || said.some((d) => /^seed 192\.0\.2\.9 did not answer \(\d+ tries\)$/.test(d)), said.join(' | '));
  t.deepEqual(good.diagnostics(), []);
});

test('a flood from a non-member is cut before decoding and HMAC; members keep being heard', (t) => {
  const net = new SimNet();
  const nodes = group(net, 2);
  nodes.forEach((n) => n.start());
  const [n1] = nodes;
  t.true(net.until(() => n1.siteCache.size === 3, 5_000) >= 0);
  const forged = register({ eid: '10.66.0.0/16', rlocs: ['198.51.100.1'], xtrId: 66n });
  const wrongKey = Buffer.from(forged);
  wrongKey[wrongKey.length - 1] ^= 0xff;
  const authBefore = n1.counters.get('register.rejected.auth') ?? 0;
  for (let i = 0; i < 5_000; i++) n1.receiveControl(wrongKey, '198.51.100.1', 4342);
  const verified = (n1.counters.get('register.rejected.auth') ?? 0) - authBefore;
  t.true(verified <= 50, `${verified} of 5,000 flooded registers reached the HMAC check`);
  t.true((n1.counters.get('control.rate-limited') ?? 0) >= 4_950);
  // A member's registration still gets through at once.
  const accepted = n1.counters.get('register.accepted') ?? 0;
  net.advance(61_000);
  t.true((n1.counters.get('register.accepted') ?? 0) > accepted);
});

test('ten members started one after another (150 ms apart, all seeding from one) converge', (t) => {
  // The guard an incremental-membership change must pass: a join announced only by the joiner's
  // own registrations and its seed's snapshot left members that started early missing later ones.
  const net = new SimNet();
  const nodes = Array.from({ length: 10 }, (_, i) => net.addNode(simConfig({
    name: `n${i + 1}`, rloc: `10.84.0.${i + 1}`, eids: [`10.${i + 1}.0.0/16`], seeds: [i === 0 ? '10.84.0.2' : '10.84.0.1'], ttlMs: 6_000, registerIntervalMs: 2_000,
  })));
  [3, 7, 1, 9, 0, 5, 2, 8, 4, 6].forEach((k, j) => net.schedule(() => nodes[k].start(), j * 150));
  const took = net.until(() => nodes.every((n) => n.siteCache.size === 11), 60_000);
  t.true(took >= 0, `site cache sizes ${nodes.map((n) => n.siteCache.size).join(', ')}, want 11`);
});

test('the member whose registration was refused is told who owns the EID (once a minute)', (t) => {
  const net = new SimNet();
  const owner = net.addNode(simConfig({ name: 'owner', rloc: '10.0.0.1', eids: ['10.99.9.0/24'], seeds: [] }));
  const dup = net.addNode(simConfig({ name: 'dup', rloc: '10.0.0.2', eids: ['10.99.9.0/24'], seeds: ['10.0.0.1'] }));
  const warnings: string[] = [];
  const env = dup.env;
  const log = env.log;
  env.log = (level, msg) => {
    if (level === 'warn') warnings.push(msg);
    log(level, msg);
  };
  owner.start();
  net.advance(100);
  dup.start();
  net.advance(3_000);
  t.true((owner.counters.get('register.rejected.owned') ?? 0) > 0);
  t.true(warnings.some((w) => w.startsWith('EID 10.99.9.0/24 is owned by 10.0.0.1')), warnings.join(' | '));
  t.is(dup.counters.get('register.refused.owned'), 1, 'told once, not at every refused register');
});

test('the data plane gets the EID space once whole, then only what changed (a join adds one EID, a leave removes one)', (t) => {
  const net = new SimNet();
  const nodes = group(net, 6);
  nodes.forEach((n) => n.start());
  t.true(net.until(() => nodes.every((n) => n.siteCache.size === 7), 5_000) >= 0);
  net.advance(1_000);
  const changes = net.eidSpaceChanges.get('n1') ?? [];
  t.true(changes.length > 0 && changes[0].replace, 'the first publication replaces');
  t.true(changes.slice(1).every((c) => !c.replace), 'later ones are changes');
  // Replaying the changes gives exactly the others' EIDs.
  const space = new Set<string>();
  for (const c of changes) {
    if (c.replace) space.clear();
    for (const e of c.removed) space.delete(eidKey(e));
    for (const e of c.added) space.add(eidKey(e));
  }
  t.deepEqual([...space].sort(), [2, 3, 4, 5, 6].map((i) => `[0]10.99.${i}.0/24`));
  const before = changes.length;
  const joiner = net.addNode(simConfig({ name: 'n7', rloc: '10.0.0.7', eids: ['10.99.7.0/24'], seeds: ['10.0.0.1'] }));
  joiner.start();
  t.true(net.until(() => nodes[0].siteCache.get('[0]10.99.7.0/24') !== undefined, 5_000) >= 0);
  net.advance(1_000);
  const joined = changes.slice(before);
  t.deepEqual(joined.map((c) => ({ replace: c.replace, added: c.added.map(eidKey), removed: c.removed.map(eidKey) })),
    [{ replace: false, added: ['[0]10.99.7.0/24'], removed: [] }], 'one change with the new EID only');
  const beforeLeave = changes.length;
  joiner.stop(true);
  t.true(net.until(() => !nodes[0].siteCache.get('[0]10.99.7.0/24')?.locators.length, 5_000) >= 0);
  net.advance(1_000);
  t.deepEqual(changes.slice(beforeLeave).flatMap((c) => c.removed.map(eidKey)), ['[0]10.99.7.0/24']);
  t.deepEqual(changes.slice(beforeLeave).flatMap((c) => c.added), []);
});
