// Admission before HMAC (admission.ts) in a large push group (issue 17): a newcomer learns the
// members from its seed's list before any of them is in its site cache, then every member sends
// it its registrations at once. Sources outside the site cache share one budget (a burst of
// 1,000); members the seed named must not be counted against it, or a join into a group of more
// than 1,000 loses registrations until the next period.
import test from 'ava';
import { encodeData, encodeInnerUdp } from '../src/wire';
import { messageType } from './helpers/message-tally';
import { memberConfig, memberEidKey } from './helpers/sim-group';
import { SimNet } from './helpers/sim-net';

/** Head-end replicated copy of a Map-Register from `from` (RFC 9962 §4.2: IID 0xFFFFFF, inner UDP 4342 → G). */
function her(from: string, register: Buffer): Buffer {
  const inner = encodeInnerUdp({
    version: 4, source: from, destination: '224.1.1.1', ttl: 32, tos: 0, id: 0, fragment: 0x4000, flowLabel: 0, sourcePort: 4342, destinationPort: 4342,
  }, register);
  return encodeData({
    type: 'data',
    header: { noncepresent: true, lsbEnabled: false, echoNonce: false, mapVersioning: false, iidPresent: true, keyId: 0, nonce: 1, iid: 0xffffff, lsb: 0 },
    payload: inner,
  });
}

test('a newcomer admits the registrations of all 1,100 members its seed listed, arriving at once', (t) => {
  const M = 1_100;
  // The members' registrations (EID and group), as each sends them when it starts.
  const spare = new SimNet({ keepWire: true });
  const members = Array.from({ length: M }, (_, k) => spare.addNode(memberConfig(k + 2)));
  members.forEach((m) => m.start());
  const registers = spare.wire.filter((w) => w.port === 4342 && messageType(w.port, w.bytes) === 'map-register');
  t.is(registers.length, 2 * M);

  // The seed (member 1) learns them, a few hundred a second (its own budget for newcomers).
  const net = new SimNet({ keepWire: false });
  const seed = net.addNode(memberConfig(1));
  seed.start();
  for (let k = 0; k < registers.length; k += 400) {
    for (const r of registers.slice(k, k + 400)) seed.receiveControl(r.bytes, r.from, 4342);
    net.advance(1_000);
  }
  t.is(seed.siteCache.size, M + 2, 'the seed holds every member');

  // The newcomer joins through it and is listed; then every member's registrations reach it at once.
  const joiner = net.addNode(memberConfig(M + 2));
  joiner.start();
  net.advance(1_000);
  t.is(joiner.replicationTargets().length, M + 1, 'the seed listed every member to the newcomer');
  for (const r of registers) joiner.receiveEncapsulated(her(r.from, r.bytes), r.from);
  const missing = members.map((_, k) => memberEidKey(k + 2)).filter((key) => !joiner.siteCache.get(key));
  t.is(joiner.counters.get('control.rate-limited') ?? 0, 0, 'nothing refused before HMAC');
  t.deepEqual(missing.length, 0, `the newcomer lacks ${missing.length} members' EIDs`);
});
