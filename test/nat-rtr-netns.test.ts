// A member behind a real NAT (an nftables masquerade namespace, src/testbed/nat.ts) joins a group
// whose public member is its seed and its RTR: it detects the NAT, registers its translated RLOC
// and the RTR at priority 254 (never its private address), pings cross both ways through the RTR,
// and a TCP transfer arrives byte for byte (SHA-256). Its data leaves from one source port (its
// data socket), the RTR shows the NAT binding it relays to, and when the NAT forgets its mappings
// (conntrack flush) or moves to a new public address, the next keepalive brings the path back.
import test from 'ava';
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../src/api/client';
import type { SiteCacheRow } from '../src/control/protocol';
import { createTestbed } from '../src/testbed/bridge';
import { createNat } from '../src/testbed/nat';
import { netnsAvailable, tcpTransfer, type Netns } from '../src/testbed/netns';
import { launchMember } from '../src/testbed/member';
import { DECENT_BIN, stopChildren } from './helpers/nodes';

const avail = netnsAvailable();
const PUB_EID = '10.0.0.7', NAT_EID = '10.0.0.5';


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test.serial('behind a NAT: detected, registered via the RTR, pings both ways and a TCP transfer through the RTR, and back after the NAT forgets its mappings', async (t) => {
  if (!avail.ok) { t.log(`skipped: ${avail.reason}`); t.pass(); return; }
  const bed = createTestbed({ prefix: 'nrt', nodes: 1, subnet: '198.51.100', firstHost: 7 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-nat-rtr-'));
  const children: ChildProcess[] = [];
  const made: { nat?: ReturnType<typeof createNat> } = {};
  t.teardown(async () => {
    await stopChildren(children);
    made.nat?.destroy();
    bed.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const nat = createNat({ bridge: bed, prefix: 'nrt', publicAddress: '198.51.100.10', privateSubnet: '192.168.77' });
  made.nat = nat;
  const pub = bed.nodes[0];
  const logs: Record<string, string> = { pub: '', pi: '' };
  const start = (name: 'pub' | 'pi', ns: Netns, eid: string, seeds: string[]): void => {
    // The clear path: the RTR reads the inner header and re-encapsulates (the sealed path, with
    // relay shims, is test/nat-crypto-netns.test.ts).
    children.push(launchMember({ dir, name, ns, eid, seeds, group: '224.9.9.9', rtr: name === 'pub', encryption: 'off', logs }));
  };

  start('pub', pub.ns, PUB_EID, []);
  start('pi', nat.host, NAT_EID, [pub.address]);
  const sock = (name: string): string => path.join(dir, `${name}.sock`);
  const get = <T>(name: string, p: string): Promise<T> => apiRequest<T>(sock(name), 'GET', p, 2000);
  const failWith = (what: string): string => `${what}\npub: ${logs.pub.slice(-2500)}\npi: ${logs.pi.slice(-2500)}`;
  const until = async (what: string, ms: number, ok: () => Promise<boolean>): Promise<boolean> => {
    const by = Date.now() + ms;
    for (;;) {
      if (await ok().catch(() => false)) return true;
      if (Date.now() > by) { t.fail(failWith(what)); return false; }
      await sleep(100);
    }
  };
  const startedAt = Date.now();

  // Detection and registration via the RTR: pub's site cache holds pi's EID with the translated
  // RLOC and the RTR at 254, never pi's private address.
  type Status = { nat: { behindNat?: boolean; rtrs: string[]; relaying: { name: string; address: string; dataPort?: number; controlPort?: number }[] } };
  if (!await until('pi did not detect the NAT', 20_000, async () => (await get<Status>('pi', '/api/status')).nat.behindNat === true)) return;
  t.deepEqual((await get<Status>('pi', '/api/status')).nat.rtrs, [pub.address]);
  if (!await until('pub has no registration of pi via the RTR', 20_000, async () => {
    const rows = await get<SiteCacheRow[]>('pub', '/api/site-cache');
    const r = rows.find((x) => x.eid === `[0]${NAT_EID}/32`);
    return r !== undefined && r.rlocs.some((x) => x.startsWith('198.51.100.10 (pi@tp-')) && r.rlocs.includes(pub.address);
  })) return;
  const row = (await get<SiteCacheRow[]>('pub', '/api/site-cache')).find((x) => x.eid === `[0]${NAT_EID}/32`);
  t.false(row?.rlocs.some((x) => x.startsWith(nat.hostAddress)), `the private RLOC is never registered: ${JSON.stringify(row)}`);
  // pi learns the group through its RTR (its NAT drops what pub replicates to it directly)
  if (!await until('pi did not learn pub\'s EID', 20_000, async () => (await get<SiteCacheRow[]>('pi', '/api/site-cache')).some((x) => x.eid === `[0]${PUB_EID}/32`))) return;
  if (!await until('pub holds no NAT binding for pi', 20_000, async () => (await get<Status>('pub', '/api/status')).nat.relaying.some((r) => r.name === 'pi' && r.dataPort !== undefined))) return;
  const binding = (await get<Status>('pub', '/api/status')).nat.relaying.find((r) => r.name === 'pi');
  t.like(binding, { address: '198.51.100.10' });
  t.true((binding?.dataPort ?? 0) >= 40000 && (binding?.dataPort ?? 0) <= 40999, JSON.stringify(binding));

  // Pings both ways (the first packets may wait for resolution).
  const ping = (ns: Netns, from: string, to: string): boolean =>
    spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-n', '-c', '1', '-W', '1', '-I', from, to]).status === 0;
  if (!await until('pi -> pub: no ping through the RTR', 15_000, async () => ping(nat.host, NAT_EID, PUB_EID))) return;
  const firstPingMs = Date.now() - startedAt;
  if (!await until('pub -> pi: no ping through the RTR', 15_000, async () => ping(pub.ns, PUB_EID, NAT_EID))) return;
  t.log(`first ping pi -> pub ${firstPingMs} ms after both processes were started`);

  // A TCP transfer from behind the NAT, and one towards it.
  for (const [fromNs, fromEid, toNs, toEid, port] of [[nat.host, NAT_EID, pub.ns, PUB_EID, 5501], [pub.ns, PUB_EID, nat.host, NAT_EID, 5502]] as const) {
    const { sent, received } = await tcpTransfer(fromNs, toNs, toEid, port, 2 * 1024 * 1024, { localAddress: fromEid });
    t.is(received.bytes, 2 * 1024 * 1024, `${fromEid} -> ${toEid}`);
    t.is(received.sha256, sent.sha256, `${fromEid} -> ${toEid}: the TCP transfer arrived byte for byte`);
  }

  // Behind the NAT all data leaves from the data socket: the NAT holds one UDP mapping from
  // pi's 4341 (and its control port's), not one per flow.
  const ct = nat.ns.exec(['conntrack', '-L', '-p', 'udp', '-s', nat.hostAddress]);
  const sports = new Set([...ct.matchAll(/src=192\.168\.77\.5 dst=\S+ sport=(\d+)/g)].map((m) => m[1]));
  t.deepEqual([...sports].sort(), ['4341', '4342'], ct);
  t.log(`binding ${JSON.stringify(binding)}`);
  // The RTR's Map-Notifys (the member list that ends pi's bootstrapping) reach pi through its NAT.
  const piCounters = await get<{ control: Record<string, number> }>('pi', '/api/counters');
  t.true(piCounters.control['notify.received'] > 0, JSON.stringify(piCounters.control));

  // decent show peers (and /api/peers) say how each side reaches the other.
  const peers = await get<{ name: string | null; rlocs: string[]; path: string }[]>('pub', '/api/peers');
  t.like(peers.find((p) => p.name === 'pi'), { rlocs: ['198.51.100.10'], path: `direct to its NAT 198.51.100.10:${binding?.dataPort} (we are its RTR)` }, JSON.stringify(peers));
  const shown = spawnSync(process.execPath, [DECENT_BIN, 'show', 'peers', '--socket', sock('pi')], { encoding: 'utf8' }).stdout;
  t.regex(shown, /path/, shown);
  t.true(shown.split('\n').some((l) => l.split(/\s{2,}/)[1] === pub.address && l.endsWith(`via RTR ${pub.address} (we are behind NAT)`)), shown);
  t.false(shown.includes('198.51.100.10'), 'not itself');

  // NAT rebinding: the NAT forgets every mapping. pi's next data-port Info-Request (every
  // keepalive) tells pub its new port; pub -> pi works again without anyone restarting.
  nat.flushConntrack();
  const flushedAt = Date.now();
  if (!await until('pub -> pi: no ping after the NAT forgot its mappings', 15_000, async () => ping(pub.ns, PUB_EID, NAT_EID))) return;
  const after = (await get<Status>('pub', '/api/status')).nat.relaying.find((r) => r.name === 'pi');
  t.log(`after a conntrack flush pub -> pi works again after ${Date.now() - flushedAt} ms (keepalive 2 s); data port ${binding?.dataPort} -> ${after?.dataPort}`);

  // NAT rebinding to a new public address (draft-ietf-lisp-nat-traversal §4.2: Info-Requests
  // repeat): pi's next Info-Request reveals the new translated address, pi re-registers it, pub
  // relays to it, and pings work both ways again.
  nat.changePublicAddress('198.51.100.11');
  const movedAt = Date.now();
  if (!await until('pub -> pi: no ping after the NAT changed its public address', 15_000, async () => ping(pub.ns, PUB_EID, NAT_EID))) return;
  const movedMs = Date.now() - movedAt;
  if (!await until('pi -> pub: no ping after the NAT changed its public address', 15_000, async () => ping(nat.host, NAT_EID, PUB_EID))) return;
  const moved = (await get<SiteCacheRow[]>('pub', '/api/site-cache')).find((x) => x.eid === `[0]${NAT_EID}/32`);
  t.true(moved?.rlocs.some((x) => x.startsWith('198.51.100.11 (pi@tp-')) === true, `pi registered its new translated RLOC: ${JSON.stringify(moved)}`);
  t.false(moved?.rlocs.some((x) => x.startsWith('198.51.100.10')), 'and not the old one');
  t.like((await get<Status>('pub', '/api/status')).nat.relaying.find((r) => r.name === 'pi'), { address: '198.51.100.11' });
  t.log(`after a new public address pub -> pi works again after ${movedMs} ms (keepalive 2 s)`);
});
