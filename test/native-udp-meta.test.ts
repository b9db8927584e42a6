// The addon's per-datagram metadata between two network namespaces: the receive side reports
// each datagram's TTL/hop limit and TOS/traffic class (D.TTLTOS), the send side takes a per-slot
// outer source (D.AUX = 1 + address-table entry; IP_PKTINFO / IPV6_PKTINFO) and falls back to
// the kernel's choice, counted, when that source is not a local address.
import test from 'ava';
import { AddressTable, D, Pool, RecvPool, UdpEndpoint } from '../src/native';
import { ip, Netns, netnsAvailable, uniqueName } from '../scripts/lib/netns';

const avail = netnsAvailable();
let a: Netns | undefined, b: Netns | undefined;

test.before(() => {
  if (!avail.ok) return;
  a = new Netns(uniqueName('nma'));
  b = new Netns(uniqueName('nmb'));
  const na = uniqueName('nva'), nb = uniqueName('nvb');
  ip(['link', 'add', na, 'netns', a.name, 'type', 'veth', 'peer', 'name', nb, 'netns', b.name]);
  a.ip(['link', 'set', na, 'up']);
  b.ip(['link', 'set', nb, 'up']);
  for (const x of ['10.77.0.1/24', '10.77.0.5/24', 'fd77:1::1/64', 'fd77:1::5/64']) a.ip(['addr', 'add', x, 'dev', na, ...(x.includes(':') ? ['nodad'] : [])]);
  for (const x of ['10.77.0.2/24', 'fd77:1::2/64']) b.ip(['addr', 'add', x, 'dev', nb, ...(x.includes(':') ? ['nodad'] : [])]);
});

test.after.always(() => {
  a?.destroy();
  b?.destroy();
});

for (const v6 of [false, true]) {
  test.serial(`IPv${v6 ? 6 : 4}: TTL/TOS reported on receive; per-slot source, 0 = kernel, non-local = fallback`, async (t) => {
    if (!avail.ok || !a || !b) { t.log(`skipped: ${avail.reason}`); t.pass(); return; }
    const [local1, local5, peer, foreign] = v6
      ? ['fd77:1::1', 'fd77:1::5', 'fd77:1::2', 'fd77:9::9'] : ['10.77.0.1', '10.77.0.5', '10.77.0.2', '203.0.113.9'];
    const rx = UdpEndpoint.open({ address: v6 ? '::' : '0.0.0.0', port: 6200, netns: b.name, gro: false });
    const tx = UdpEndpoint.open({ address: v6 ? '::' : '0.0.0.0', port: 0, netns: a.name, gso: false, gro: false, maxBatch: 1 });
    const table = new AddressTable(3);
    table.set(0, peer, 6200);
    table.set(1, local5, 0);
    table.set(2, foreign, 0);
    const pool = new Pool({ slots: 5, slotSize: 2048 + 64 });
    // slot k carries payload k; sources: kernel (AUX 0), local5 (AUX 2), foreign (AUX 3). Slots 3
    // and 4 carry the socket's own TTL 64 / TOS 0 (sent without cmsgs) between other values.
    const aux = [0, 2, 3, 0, 0], ttl = [9, 17, 33, 64, 64], tos = [0xb8, 0x29, 0x02, 0, 0x2e];
    for (let k = 0; k < 5; k++) {
      pool.put(k, new Uint8Array([k, 0, 0, 0]));
      pool.setField(k, D.ADDR, 0);
      pool.setField(k, D.AUX, aux[k]);
      pool.setField(k, D.TTLTOS, ttl[k] | (tos[k] << 8) | 0x10000);
    }
    tx.send(pool, 5, table);
    const rp = new RecvPool({ slots: 8, slotSize: 2048 + 64 });
    const got = new Map<number, { src: string; ttltos: number }>();
    for (let tries = 0; tries < 100 && got.size < 5; tries++) {
      const n = rx.recv(rp);
      for (let i = 0; i < n; i++) got.set(rp.packet(i)[0], { src: rp.source(i)?.address ?? '', ttltos: rp.field(i, D.TTLTOS) });
      if (n === 0) await new Promise((r) => setTimeout(r, 20));
    }
    const stats = tx.stats;
    tx.close();
    rx.close();
    t.is(got.size, 5, JSON.stringify([...got]));
    const kernelPick = got.get(0)?.src;
    t.true(kernelPick === local1 || kernelPick === local5, `kernel picked ${kernelPick}`);
    t.is(got.get(1)?.src, local5, 'the slot\'s source wins');
    t.is(got.get(2)?.src, kernelPick, 'a non-local source falls back to the kernel\'s choice');
    t.is(stats.srcFallbacks, 1);
    for (let k = 0; k < 5; k++) {
      t.is(got.get(k)?.ttltos, ttl[k] | (tos[k] << 8) | 0x10000, `slot ${k}: TTL/TOS as sent, no hop in between`);
    }
  });
}
