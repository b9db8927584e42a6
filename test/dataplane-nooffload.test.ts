// The data plane with offloads off (one packet per slot, no TSO/GRO): the path a kernel without
// TUN vnet headers or UDP GSO/GRO takes. A smaller transfer than dataplane-netns; correctness only.
import test from 'ava';
import { netnsAvailable, tcpTransfer } from '../scripts/lib/netns';
import { icmpPing } from '../scripts/dataplane-ping';
import { createBed } from './helpers/dataplane-bed';

const BYTES = 2 * 1024 * 1024;
const avail = netnsAvailable();

test('offloads off: ping and TCP byte-identical, IPv4-in-IPv4 and IPv6-in-IPv6', async (t) => {
  if (!avail.ok) { t.log(`skipped: ${avail.reason}`); t.pass(); return; }
  const bed = await createBed({ offloads: false, mtuA: 1464 });
  t.teardown(() => bed.destroy());
  for (const [dst, port] of [['10.2.0.10', 5201], ['fd02:1::10', 5202]] as const) {
    const p = icmpPing(bed.hA, dst, { count: 2 });
    t.is(p.received, 2, JSON.stringify(p));
    const r = await tcpTransfer(bed.hA, bed.hB, dst, port, BYTES);
    t.is(r.received.bytes, BYTES);
    t.is(r.received.sha256, r.sent.sha256);
  }
  const c = await bed.runB.counters();
  t.is(c['udp4.udpRecvDatagrams'], c['udp4.udpRecvMessages'], 'no GRO');
});

test('udp-gso false: TUN offloads stay on, but every outer datagram is sent as its own message (peers without GRO)', async (t) => {
  if (!avail.ok) { t.log(`skipped: ${avail.reason}`); t.pass(); return; }
  const bed = await createBed({ udpGso: false, mtuA: 1464 });
  t.teardown(() => bed.destroy());
  const r = await tcpTransfer(bed.hA, bed.hB, '10.2.0.10', 5203, BYTES);
  t.is(r.received.sha256, r.sent.sha256);
  const c = await bed.runA.counters();
  t.true(c['tx4.udpSentDatagrams'] > 100, JSON.stringify(c));
  t.is(c['tx4.udpSentMessages'], c['tx4.udpSentDatagrams'], 'no UDP GSO message');
  t.true(c['tun.tunReadBytes'] / c['tun.tunReads'] > 1500, 'the TUN still hands over TSO super-packets');
});
