// Outer DF on IPv4 (RFC 9300 §7.1: an implementation SHOULD set DF=1 on the outer IPv4 header,
// so the ETR never reassembles): the addon's sockets send every datagram with DF=1, the segments
// of a UDP GSO message as well as single datagrams; a socket opened with `fragment` sends DF=0
// and lets the kernel fragment what does not fit. The receiving namespace counts with nftables.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { AddressTable, D, Pool, UdpEndpoint } from '../src/native';
import { ip, Netns, netnsAvailable, uniqueName } from '../scripts/lib/netns';

const avail = netnsAvailable();
/** By path: node_modules/.bin has an unrelated `nft` (@vercel/nft) ahead of the system's on PATH. */
const NFT = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p)) ?? 'nft';

function nft(ns: Netns, script: string): string {
  return execFileSync('ip', ['netns', 'exec', ns.name, NFT, '-f', '-'], { input: script, encoding: 'utf8' });
}

/** Packets counted by each named counter in ns (table ip dft). */
function counters(ns: Netns): Record<string, number> {
  const out = execFileSync('ip', ['netns', 'exec', ns.name, NFT, '-j', 'list', 'counters'], { encoding: 'utf8' });
  const j = JSON.parse(out) as { nftables: { counter?: { name: string; packets: number } }[] };
  const r: Record<string, number> = {};
  for (const e of j.nftables) if (e.counter) r[e.counter.name] = e.counter.packets;
  return r;
}

test('IPv4 outer DF: set on single datagrams and on GSO segments; a fragment socket sends DF=0 and is fragmented', async (t) => {
  if (!avail.ok) { t.log(`skipped: ${avail.reason}`); t.pass(); return; }
  const a = new Netns(uniqueName('dfa')), b = new Netns(uniqueName('dfb'));
  t.teardown(() => { a.destroy(); b.destroy(); });
  const na = uniqueName('dva'), nb = uniqueName('dvb');
  ip(['link', 'add', na, 'netns', a.name, 'type', 'veth', 'peer', 'name', nb, 'netns', b.name]);
  a.ip(['link', 'set', na, 'up']);
  b.ip(['link', 'set', nb, 'up']);
  a.ip(['addr', 'add', '10.79.0.1/24', 'dev', na]);
  b.ip(['addr', 'add', '10.79.0.2/24', 'dev', nb]);
  nft(b, `table ip dft {
    counter total { }
    counter dfset { }
    chain in { type filter hook prerouting priority 0; policy accept;
      ip saddr 10.79.0.1 ip protocol udp counter name total
      ip saddr 10.79.0.1 ip protocol udp ip frag-off & 0x4000 != 0 counter name dfset
    }
  }`);
  const table = new AddressTable(1);
  table.set(0, '10.79.0.2', 6300);
  const pool = new Pool({ slots: 2, slotSize: 16384 + 64 });
  const send = (u: UdpEndpoint, sizes: number[], gso: number): number => {
    sizes.forEach((n, k) => {
      pool.put(k, new Uint8Array(n));
      pool.setField(k, D.ADDR, 0);
      pool.setField(k, D.GSO, k === 0 ? gso : 0);
    });
    return u.send(pool, sizes.length, table);
  };
  const tx = UdpEndpoint.open({ address: '0.0.0.0', port: 0, netns: a.name, gso: true, gro: false });
  t.true(tx.offloads.gso, 'the kernel has UDP GSO');
  // one GSO message of 8 x 1000-byte datagrams, and one single 500-byte datagram
  t.is(send(tx, [8000, 500], 1000), 9);
  const c1 = counters(b);
  t.true(c1.total >= 2, JSON.stringify(c1));
  t.is(c1.dfset, c1.total, `every IPv4 datagram has DF=1: ${JSON.stringify(c1)}`);
  tx.close();
  const frag = UdpEndpoint.open({ address: '0.0.0.0', port: 0, netns: a.name, gso: false, gro: false, fragment: true });
  t.is(send(frag, [3000], 0), 1);
  const c2 = counters(b);
  t.is(c2.dfset, c1.dfset, 'no DF from the fragment socket');
  t.is(c2.total - c1.total, 3, '3000 bytes over MTU 1500: three fragments');
  t.is(frag.stats.udpSendDrops, 0);
  frag.close();
});
