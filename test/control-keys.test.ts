// LISP-crypto key exchange in the control plane (keys.ts) on the simulated network: two members
// derive the same keys, a forged key is refused in group-bound mode, a rekey switches key-ids
// without dropping the old decapsulation key at once, and `required` sends nothing to a keyless peer.
import test from 'ava';
import { generateKeyPair, openData, sealData, checkSuite, type TrafficKeys } from '../src/crypto';
import type { CryptoConfig, KeyEvent } from '../src/control/keys';
import { securityKeyLcaf } from '../src/control/locators';
import type { ControlNode } from '../src/control/node';
import { parseEid } from '../src/mapping/eid';
import { decodeControl, encodeControl, type MapReply, type MapRequest } from '../src/wire';
import { SimNet, simConfig } from './helpers/sim-net';

const N1 = '192.168.77.5';
const N2 = '192.168.77.6';

function pairOfMembers(net: SimNet, c1: CryptoConfig | undefined, c2: CryptoConfig | undefined): [ControlNode, ControlNode] {
  const n1 = net.addNode(simConfig({ name: 'n1', rloc: N1, eids: ['1.1.1.1/32'], seeds: [N2], crypto: c1 }));
  const n2 = net.addNode(simConfig({ name: 'n2', rloc: N2, eids: ['2.2.2.2/32'], seeds: [N1], crypto: c2 }));
  n1.start();
  n2.start();
  net.until(() => n1.siteCache.all().length >= 3 && n2.siteCache.all().length >= 3, 5_000);
  n1.resolve(parseEid('2.2.2.2/32'));
  n2.resolve(parseEid('1.1.1.1/32'));
  return [n1, n2];
}

const installs = (net: SimNet, name: string, direction: KeyEvent['direction']): KeyEvent[] =>
  (net.keyEvents.get(name) ?? []).filter((e) => e.action === 'install' && e.direction === direction);
const removes = (net: SimNet, name: string, direction: KeyEvent['direction']): KeyEvent[] =>
  (net.keyEvents.get(name) ?? []).filter((e) => e.action === 'remove' && e.direction === direction);

function trafficKeys(e: KeyEvent): TrafficKeys {
  const s = checkSuite(e.suite, e.variant);
  if (!s.ok) throw new Error(s.error);
  return { spec: s.spec, encryptKey: e.encryptKey, icvKey: e.icvKey };
}

const REQUIRED: CryptoConfig = { mode: 'required' };

test('two members exchange keys in both directions; ITR and ETR hold the same keys; a packet sealed by one opens at the other', (t) => {
  const net = new SimNet();
  const [n1, n2] = pairOfMembers(net, REQUIRED, REQUIRED);
  const took = net.until(() => installs(net, 'n1', 'encap').length > 0 && installs(net, 'n2', 'encap').length > 0, 5_000);
  t.true(took >= 0, 'exchanges completed');
  for (const [itr, etr, itrRloc, etrRloc] of [['n1', 'n2', N1, N2], ['n2', 'n1', N2, N1]] as const) {
    const enc = installs(net, itr, 'encap')[0];
    const dec = installs(net, etr, 'decap').find((e) => e.peerRloc === itrRloc);
    if (!dec) return t.fail(`${etr} has no decap key for ${itrRloc}`);
    t.like(enc, { localRloc: itrRloc, peerRloc: etrRloc, keyId: 1, suite: 6, variant: 'rfc' });
    t.like(dec, { localRloc: etrRloc, peerRloc: itrRloc, keyId: 1, suite: 6, variant: 'rfc' });
    t.is(enc.encryptKey.toString('hex'), dec.encryptKey.toString('hex'));
    t.is(enc.encryptKey.length, 32);
    const inner = Buffer.from('4500001c000000004001000001010101020202020800f7ff00000000', 'hex');
    const packet = sealData(trafficKeys(enc), enc.keyId, Buffer.from('8000000100000000', 'hex'), Buffer.from('0000000000000001', 'hex'), inner);
    const opened = openData(trafficKeys(dec), packet);
    t.true(opened.ok && opened.inner.equals(inner), `${itr} -> ${etr}`);
  }
  // The two directions have different keys (different Map-Request nonces).
  t.not(installs(net, 'n1', 'encap')[0].encryptKey.toString('hex'), installs(net, 'n2', 'encap')[0].encryptKey.toString('hex'));
  // Each member registered its key: the site cache carries it in the RLOC-record.
  const reg = n2.siteCache.get('[0]1.1.1.1/32');
  t.regex(JSON.stringify(reg?.locators.map((l) => l.address)), /security-key/);
  t.is(n1.counters.get('crypto.rejected.mismatch'), 0);
  t.deepEqual(net.undecodable(), []);
  t.like(n1.keys.status()[0], { localRloc: N1, peerRloc: N2, encapKeyId: 1, suite: 6, pending: false });
});

/** The key exchange Map-Request n1 sent to n2 (the last one on the wire). */
function lastExchange(net: SimNet): MapRequest {
  const w = [...net.wire].reverse().find((x) => x.from === N1 && x.to === N2 && x.port === 4342 && (() => {
    const m = decodeControl(x.bytes);
    return m.type === 'map-request' && m.probe && m.itrRlocs[0].kind === 'lcaf';
  })());
  if (!w) throw new Error('no exchange on the wire');
  return decodeControl(w.bytes) as MapRequest;
}

test('group-bound: a forged Map-Reply with another key is refused, and so is a forged ITR key', (t) => {
  const net = new SimNet();
  const [n1, n2] = pairOfMembers(net, REQUIRED, REQUIRED);
  // n2 vanishes from the wire right away: n1's exchange stays unanswered, an on-path attacker sees it.
  net.kill(n2);
  net.until(() => n1.counters.get('crypto.exchange.sent')! > 0, 5_000);
  const req = lastExchange(net);
  const attacker = generateKeyPair();
  const forged: MapReply = {
    type: 'map-reply', probe: true, echoNonceCapable: false, security: false, nonce: req.nonce,
    records: [{
      ttl: 15, eidMaskLen: 32, eid: { kind: 'ipv4', ip: '2.2.2.2' }, action: 0, authoritative: true, mapVersion: 0,
      locators: [{ priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: true, probed: true, reachable: true,
        address: { kind: 'lcaf', lcaf: securityKeyLcaf(N2, 6, attacker.publicKey) } }],
    }],
  };
  n1.receiveControl(encodeControl(forged), N2, 4342);
  t.is(n1.counters.get('crypto.rejected.mismatch'), 1);
  t.deepEqual(installs(net, 'n1', 'encap'), [], 'no encryption key from the forged reply');

  // The other way: a Map-Request to a member claiming n1's RLOC with the attacker's key.
  const net2 = new SimNet();
  const [, m2] = pairOfMembers(net2, REQUIRED, REQUIRED);
  const before = installs(net2, 'n2', 'decap').length;
  const probe: MapRequest = {
    ...req, nonce: 42n, itrRlocs: [{ kind: 'lcaf', lcaf: securityKeyLcaf(N1, 6, attacker.publicKey) }],
  };
  const sent = net2.wire.length;
  m2.receiveControl(encodeControl(probe), N1, 4342);
  net2.advance(5);
  t.is(m2.counters.get('crypto.rejected.mismatch'), 1);
  t.is(installs(net2, 'n2', 'decap').length, before, 'no decryption key for the forged ITR');
  const reply = net2.wire.slice(sent).map((w) => decodeControl(w.bytes)).find((m) => m.type === 'map-reply' && m.nonce === 42n);
  t.truthy(reply);
  t.notRegex(JSON.stringify(reply, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)), /security-key/, 'the reply carries no key');
});

test('rekey: a new key-id every period; the ETR keeps the previous decap key, drops the one before', (t) => {
  const net = new SimNet();
  pairOfMembers(net, { mode: 'required', rekeyMs: 10_000 }, { mode: 'required', rekeyMs: 10_000 });
  t.true(net.until(() => installs(net, 'n1', 'encap').length === 1, 5_000) >= 0);
  net.advance(11_500);
  t.deepEqual(installs(net, 'n1', 'encap').map((e) => e.keyId), [1, 2]);
  const dec = installs(net, 'n2', 'decap').filter((e) => e.peerRloc === N1);
  t.deepEqual(dec.map((e) => e.keyId), [1, 2]);
  t.not(dec[0].encryptKey.toString('hex'), dec[1].encryptKey.toString('hex'), 'fresh keys');
  t.deepEqual(removes(net, 'n2', 'decap').filter((e) => e.peerRloc === N1), [], 'key-id 1 still decrypts packets in flight');
  net.advance(11_000);
  t.deepEqual(installs(net, 'n1', 'encap').map((e) => e.keyId), [1, 2, 3]);
  t.deepEqual(removes(net, 'n2', 'decap').filter((e) => e.peerRloc === N1).map((e) => e.keyId), [1]);
  net.advance(11_000);
  t.deepEqual(installs(net, 'n1', 'encap').map((e) => e.keyId), [1, 2, 3, 1]);
});

test('rekey on packet count: the data plane\'s count of packets sealed under the send key triggers a new key-id at the limit; counts for an older key-id do not', (t) => {
  const net = new SimNet();
  const [n1] = pairOfMembers(net, { mode: 'required', rekeyPackets: 1000 }, { mode: 'required', rekeyPackets: 1000 });
  t.true(net.until(() => installs(net, 'n1', 'encap').length === 1, 5_000) >= 0);
  n1.keys.packetsSent(N2, 1, 999);
  net.advance(3_000);
  t.deepEqual(installs(net, 'n1', 'encap').map((e) => e.keyId), [1], 'below the limit: no rekey');
  n1.keys.packetsSent(N2, 1, 1000);
  net.advance(3_000);
  t.deepEqual(installs(net, 'n1', 'encap').map((e) => e.keyId), [1, 2], 'at the limit: key-id 2');
  t.deepEqual(installs(net, 'n2', 'decap').filter((e) => e.peerRloc === N1).map((e) => e.keyId), [1, 2]);
  t.is(n1.counters.get('crypto.rekey'), 1);
  // a late report for key-id 1 (sealed before the switch) is not the current key's count
  n1.keys.packetsSent(N2, 1, 5000);
  n1.keys.packetsSent(N2, 2, 10);
  net.advance(3_000);
  t.deepEqual(installs(net, 'n1', 'encap').map((e) => e.keyId), [1, 2]);
  n1.keys.packetsSent(N2, 2, 1000);
  net.advance(3_000);
  t.deepEqual(installs(net, 'n1', 'encap').map((e) => e.keyId), [1, 2, 3]);
});

test('a peer that leaves the map-cache and the site cache loses our send keys only: the decap keys its ITR still seals with stay (pull mode forgets mappings)', (t) => {
  const net = new SimNet();
  const [n1] = pairOfMembers(net, { mode: 'preferred' }, { mode: 'preferred' });
  t.true(net.until(() => installs(net, 'n1', 'encap').length === 1 && installs(net, 'n1', 'decap').length === 1, 5_000) >= 0);
  // n1 forgets n2 (a pull-mode map-cache clear or expiry; n2's registration is not held here)
  n1.siteCache.clear();
  n1.mapCache.clear();
  net.advance(1_500);
  t.deepEqual(removes(net, 'n1', 'encap').map((e) => e.keyId), [1], 'n1 stops sealing to n2');
  t.deepEqual(removes(net, 'n1', 'decap'), [], 'n2 still seals to n1 under key-id 1: n1 keeps it');
});

test('decap keys stay while the data plane reports packets opened under them (the peer may rekey less often than we do); unused for two hours they are dropped', (t) => {
  const net = new SimNet();
  // n1 rekeys every 10 s; n2, the ITR whose key n1 holds, stops rekeying (as a peer with a long
  // crypto.rekey would) but keeps sending to n1 under key-id 1 for an hour
  const [n1, n2] = pairOfMembers(net, { mode: 'required', rekeyMs: 10_000 }, { mode: 'required' });
  t.true(net.until(() => installs(net, 'n1', 'decap').length === 1, 5_000) >= 0);
  n2.keys.stop();
  for (let i = 1; i <= 60; i++) {
    n1.keys.packetsOpened(N2, 1, i * 100);
    net.advance(60_000);
  }
  t.deepEqual(removes(net, 'n1', 'decap'), [], 'in use: kept, however old');
  net.advance(2 * 3_600_000 + 120_000);
  t.deepEqual(removes(net, 'n1', 'decap').map((e) => e.keyId), [1], 'unused for two hours: wiped');
  t.true(installs(net, 'n1', 'encap').length > 100, 'n1 went on rekeying its own direction');
});

test('a retried exchange that the network reorders leaves ITR and ETR with the same key: a retry reuses its nonce, the ETR does not reinstall a key it has', (t) => {
  // Requests and replies take 0 to 1.8 s and overtake each other, so exchanges are retried (after
  // 1 s) and the copies arrive in any order; rekey every 5 s. After each second, n1's send key
  // must be the key n2 opens with.
  let bad = 0, checks = 0;
  for (let seed = 1; seed <= 12; seed++) {
    let x = seed * 7919;
    const rnd = (): number => { x = (x * 1103515245 + 12345) & 0x7fffffff; return x / 0x7fffffff; };
    const net = new SimNet({ jitterMs: () => rnd() * 1800 });
    const [n1] = pairOfMembers(net, { mode: 'required', rekeyMs: 5_000 }, { mode: 'required', rekeyMs: 5_000 });
    const current = (name: string, direction: KeyEvent['direction'], peer: string): Map<number, string> => {
      const m = new Map<number, string>();
      for (const e of net.keyEvents.get(name) ?? []) {
        if (e.direction !== direction || e.peerRloc !== peer) continue;
        if (e.action === 'install') m.set(e.keyId, e.encryptKey.toString('hex')); else m.delete(e.keyId);
      }
      return m;
    };
    for (let s = 0; s < 40; s++) {
      net.advance(1_000);
      const sending = n1.keys.status().find((p) => p.peerRloc === N2)?.encapKeyId ?? 0;
      if (sending === 0) continue;
      checks++;
      if (current('n1', 'encap', N2).get(sending) !== current('n2', 'decap', N1).get(sending)) bad++;
    }
  }
  t.true(checks > 300, `${checks} checks`);
  t.is(bad, 0, `seconds in which n2 could not open what n1 sealed: ${bad} of ${checks}`);
});

test('required: a peer that registers no key and answers with none gets no keys; preferred falls back to plain RFC 8061', (t) => {
  const net = new SimNet();
  const [n1] = pairOfMembers(net, REQUIRED, undefined);
  net.advance(3_000);
  t.true(n1.counters.get('crypto.exchange.sent')! > 0);
  t.true(n1.counters.get('crypto.rejected.nokey')! > 0);
  t.deepEqual(installs(net, 'n1', 'encap'), []);

  // n2 registers no key but does the RFC exchange: required refuses it, preferred accepts it.
  for (const [mode, expected] of [['required', 0], ['preferred', 1]] as const) {
    const net2 = new SimNet();
    const n1b = net2.addNode(simConfig({ name: 'n1', rloc: N1, eids: ['1.1.1.1/32'], seeds: [N2], crypto: { mode } }));
    const n2b = net2.addNode(simConfig({ name: 'n2', rloc: N2, eids: ['2.2.2.2/32'], seeds: [N1], crypto: { mode: 'preferred' } }));
    // Strip n2's key from its registrations as a keyless implementation would send them.
    (n2b.keys as unknown as { registeredKey: () => undefined }).registeredKey = () => undefined;
    n1b.start();
    n2b.start();
    net2.until(() => n1b.siteCache.all().length >= 3, 5_000);
    n1b.resolve(parseEid('2.2.2.2/32'));
    net2.advance(3_000);
    t.is(installs(net2, 'n1', 'encap').length, expected, mode);
    if (mode === 'required') t.true(n1b.counters.get('crypto.rejected.unbound')! > 0);
  }
});

test('a Map-Request whose ITR-RLOC is a Security Key LCAF (lispers.net) is answered at the RLOC inside it', (t) => {
  const net = new SimNet();
  const [, n2] = pairOfMembers(net, undefined, undefined);
  const attacker = generateKeyPair();
  const req: MapRequest = {
    type: 'map-request', authoritative: false, mapDataPresent: false, probe: false, smr: false, pitr: false, smrInvoked: false,
    nonce: 7n, sourceEid: { kind: 'ipv4', ip: '1.1.1.1' }, itrRlocs: [{ kind: 'lcaf', lcaf: securityKeyLcaf(N1, 2, attacker.publicKey) }],
    records: [{ eidMaskLen: 32, eid: { kind: 'ipv4', ip: '2.2.2.2' } }],
  };
  const sent = net.wire.length;
  n2.receiveControl(encodeControl(req), '10.9.9.9', 4342);
  const reply = net.wire.slice(sent).find((w) => decodeControl(w.bytes).type === 'map-reply');
  t.is(reply?.to, N1);
});

test('the ITR offers the suite both prefer; a peer that prefers ChaCha20-Poly1305 (no AES instructions) gets it both ways', (t) => {
  const aesFirst: CryptoConfig = { mode: 'required', suites: [5, 6] };
  const chachaFirst: CryptoConfig = { mode: 'required', suites: [6, 5] };
  for (const [c1, c2, want] of [[aesFirst, aesFirst, 5], [aesFirst, chachaFirst, 6], [chachaFirst, aesFirst, 6], [chachaFirst, chachaFirst, 6]] as const) {
    const net = new SimNet();
    pairOfMembers(net, c1, c2);
    t.true(net.until(() => installs(net, 'n1', 'encap').length > 0 && installs(net, 'n2', 'encap').length > 0, 5_000) >= 0);
    t.deepEqual([installs(net, 'n1', 'encap')[0].suite, installs(net, 'n2', 'encap')[0].suite], [want, want],
      `n1 ${c1.suites?.join(',')} / n2 ${c2.suites?.join(',')}: suite ${want} both ways`);
  }
});
