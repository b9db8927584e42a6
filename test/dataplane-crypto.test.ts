// LISP-crypto through the data plane (issue 15): two xTRs with `encryption: required`
// (test/helpers/dataplane-bed.ts). Before any key nothing crosses (the ITR holds the packet in
// its miss queue instead of sending it in clear) and the first ping is answered once the keys
// arrive while it waits; once the key events are applied the encap hook picks the send
// set, the addon seals per segment, the ETR opens before its inner checks, and a TCP transfer
// arrives byte for byte. Since both ends refuse clear data, the transfer passing proves every
// packet was sealed and opened. The ITR's too-big limit leaves room for the IV and ICV: xA's TUN
// MTU is 1500, so a DF packet of 1500 - 36 - 51 + 1 bytes gets ICMP frag-needed with 1413.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { netnsAvailable, tcpTransfer } from '../scripts/lib/netns';
import { icmpPing } from '../scripts/dataplane-ping';
import { createBed, Runner } from './helpers/dataplane-bed';

const avail = netnsAvailable();

function keyEvent(r: Runner, direction: 'encap' | 'decap', localRloc: string, peerRloc: string, key: Buffer): Promise<Record<string, unknown>> {
  return r.request({
    cmd: 'key',
    key: { action: 'install', direction, localRloc, peerRloc, keyId: 1, suite: 6, variant: 'rfc', encryptKey: key.toString('hex'), icvKey: '' },
  });
}

test.serial('encryption required: nothing crosses without keys, the first ping waits for them and is answered; with them TCP arrives byte-identical (suite 6)', async (t) => {
  if (!avail.ok) { t.log(`skipped: ${avail.reason}`); t.pass(); return; }
  const b = await createBed({ encryption: 'required' });
  t.teardown(() => b.destroy());
  // The first ping leaves hA before any key exists: xA holds it (nothing in clear reaches xB).
  const first = b.hA.spawn(['ping', '-n', '-c', '1', '-W', '5', '10.2.0.10']);
  const firstDone = new Promise<number | null>((resolve) => first.once('exit', (code) => resolve(code)));
  const heldBy = Date.now() + 3000;
  while ((await b.runA.counters()).cryptoHeldNoKey < 1 && Date.now() < heldBy) await new Promise((r) => setTimeout(r, 20));
  const held = await b.runA.counters(), atB = await b.runB.counters();
  t.like(held, { cryptoHeldNoKey: 1, cryptoHeldSent: 0, encapPackets: 0 }, 'no key: the ping waits, it is not sent in clear');
  t.like(atB, { decapPackets: 0, cryptoDropClear: 0 }, 'xB received nothing');

  const ab = randomBytes(32), ba = randomBytes(32);
  // B's keys first (an ETR installs its decap key before it answers the exchange, RFC 8061 §6)
  t.like(await keyEvent(b.runB, 'decap', '192.168.77.2', '192.168.77.1', ab), { ok: true });
  t.like(await keyEvent(b.runB, 'encap', '192.168.77.2', '192.168.77.1', ba), { ok: true });
  t.like(await keyEvent(b.runA, 'decap', '192.168.77.1', '192.168.77.2', ba), { ok: true });
  t.like(await keyEvent(b.runA, 'encap', '192.168.77.1', '192.168.77.2', ab), { ok: true });
  t.is(await firstDone, 0, 'the first ping, sent before any key, is answered');
  t.like(await b.runA.counters(), { cryptoHeldNoKey: 1, cryptoHeldSent: 1, cryptoDropNoKey: 0 });
  const after = icmpPing(b.hA, '10.2.0.10', { count: 3 });
  t.is(after.received, 3, JSON.stringify(after));
  // 1500 (path) - 36 (IPv4 + UDP + LISP) - 51 (the most a sealed datagram grows) = 1413
  const big = icmpPing(b.hA, '10.2.0.10', { count: 1, size: 1414 - 28, df: true });
  t.deepEqual(big.errors[0], { type: 3, code: 4, mtu: 1413, from: '10.2.0.10' }, JSON.stringify(big));
  t.is(icmpPing(b.hA, '10.2.0.10', { count: 1, size: 1413 - 28, df: true }).received, 1, 'the largest packet that fits goes through sealed');
  const bytes = 4 * 1024 * 1024;
  const x = await tcpTransfer(b.hA, b.hB, '10.2.0.10', 5301, bytes);
  t.is(x.received.bytes, bytes);
  t.is(x.received.sha256, x.sent.sha256);
  const ca = await b.runA.counters(), cb = await b.runB.counters();
  t.is(cb.cryptoDropClear, 0, 'B never saw clear data');
  t.is(cb.cryptoDropUnknownPeer + ca.cryptoDropUnknownPeer, 0);
  // per peer and key-id, as `decent show peers` would show them: A sealed what B opened
  const ka = (await b.runA.keyStats()).find((k) => k.direction === 'encap'), kb = (await b.runB.keyStats()).find((k) => k.direction === 'decap');
  t.like(ka, { peerRloc: '192.168.77.2', keyId: 1, suite: 6, sending: true, authFailures: 0 });
  t.like(kb, { peerRloc: '192.168.77.1', keyId: 1, suite: 6, authFailures: 0, replays: 0 });
  t.true((kb?.decrypted as number) > 3000 && (kb?.decrypted as number) <= (ka?.encrypted as number), JSON.stringify({ ka, kb }));
  t.log(`A ${JSON.stringify({ encap: ca.encapPackets, noKey: ca.cryptoDropNoKey })} B ${JSON.stringify({ decap: cb.decapPackets, bad: cb.dropBadHeader })}`);
});
