// LISP-crypto end to end through an RTR (issue 16): a member behind a real NAT (pi), a public
// member (pub) and a public RTR (rtr), all with `dataplane.encryption: required`. Pings and a
// TCP transfer cross both ways pub -> rtr -> pi and pi -> rtr -> pub; the capture of the public
// underlay (both legs of the RTR) holds only sealed data packets and never the payload, and the
// RTR opens none of what it relays (it holds no keys for the pair pub-pi; README "Behind NAT").
import test from 'ava';
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../src/api/client';
import type { SiteCacheRow } from '../src/control/protocol';
import { parseFrame } from '../src/pcap/packet';
import { readPcapFile } from '../src/pcap/reader';
import { createTestbed } from '../src/testbed/bridge';
import { createNat } from '../src/testbed/nat';
import { netnsAvailable, run, tcpTransfer, type Netns } from '../src/testbed/netns';
import { launchMember } from '../src/testbed/member';
import { stopChildren } from './helpers/nodes';

const avail = netnsAvailable();
const hasDumpcap = spawnSync('dumpcap', ['--version']).status === 0;
const RTR_EID = '10.0.0.6', PUB_EID = '10.0.0.7', NAT_EID = '10.0.0.5';
const MARKER = Buffer.from('NAT-CLEARTEXT-!!');
/** The relay shim's first byte (src/wire/relay-shim.ts): N and V both set. */
const SHIM_MARK = 0x90;


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test.serial('encryption required through an RTR: pings and TCP both ways stay sealed on both legs, the RTR opens nothing it relays', async (t) => {
  if (!avail.ok || !hasDumpcap) { t.log(`skipped: ${avail.ok ? 'no dumpcap' : avail.reason}`); t.pass(); return; }
  const bed = createTestbed({ prefix: 'ncr', nodes: 2, subnet: '198.51.100', firstHost: 7 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-nat-crypto-'));
  const children: ChildProcess[] = [];
  const made: { nat?: ReturnType<typeof createNat>; cap?: ChildProcess } = {};
  t.teardown(async () => {
    made.cap?.kill('SIGKILL');
    await stopChildren(children);
    made.nat?.destroy();
    bed.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const nat = createNat({ bridge: bed, prefix: 'ncr', publicAddress: '198.51.100.10', privateSubnet: '192.168.76' });
  made.nat = nat;
  const [rtr, pub] = bed.nodes;
  const pcap = path.join(dir, 'underlay.pcap');
  const cap = bed.bridgeNs.spawn(['dumpcap', '-q', '-P', '-i', 'br0', '-f', 'udp', '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
  made.cap = cap;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 3000);
    cap.stderr?.on('data', (d: Buffer) => { if (d.toString().includes('Capturing on')) { clearTimeout(timer); resolve(); } });
  });
  type Name = 'rtr' | 'pub' | 'pi';
  const logs: Record<Name, string> = { rtr: '', pub: '', pi: '' };
  const start = (name: Name, ns: Netns, eid: string, seeds: string[]): void => {
    children.push(launchMember({ dir, name, ns, eid, seeds, group: '224.9.9.8', rtr: name === 'rtr', encryption: 'required', logs }));
  };
  start('rtr', rtr.ns, RTR_EID, []);
  start('pub', pub.ns, PUB_EID, [rtr.address]);
  start('pi', nat.host, NAT_EID, [rtr.address]);
  const sock = (name: Name): string => path.join(dir, `${name}.sock`);
  const get = <T>(name: Name, p: string): Promise<T> => apiRequest<T>(sock(name), 'GET', p, 2000);
  const failWith = (what: string): string => `${what}\nrtr: ${logs.rtr.slice(-2500)}\npub: ${logs.pub.slice(-2500)}\npi: ${logs.pi.slice(-2500)}`;
  const dump = async (): Promise<string> => {
    const out: string[] = [];
    for (const name of ['rtr', 'pub', 'pi'] as const) {
      const c = await get<{ control: Record<string, number>; dataplane: Record<string, number> }>(name, '/api/counters').catch(() => undefined);
      const nz = (r: Record<string, number> | undefined): string => JSON.stringify(Object.fromEntries(Object.entries(r ?? {}).filter(([k, v]) => v !== 0 && /crypto|rtr|relay|drop|probe/i.test(k))));
      out.push(`${name} control ${nz(c?.control)}\n${name} dataplane ${nz(c?.dataplane)}\n${name} keys ${JSON.stringify(await get(name, '/api/crypto').catch(() => undefined))}`);
    }
    return out.join('\n');
  };
  const until = async (what: string, ms: number, ok: () => Promise<boolean>): Promise<boolean> => {
    const by = Date.now() + ms;
    for (;;) {
      if (await ok().catch(() => false)) return true;
      if (Date.now() > by) { t.fail(`${failWith(what)}\n${await dump()}`); return false; }
      await sleep(100);
    }
  };

  type Status = { nat: { behindNat?: boolean; rtrs: string[] } };
  if (!await until('pi did not detect the NAT', 20_000, async () => (await get<Status>('pi', '/api/status')).nat.behindNat === true)) return;
  if (!await until('pub has no registration of pi via the RTR', 20_000, async () => {
    const r = (await get<SiteCacheRow[]>('pub', '/api/site-cache')).find((x) => x.eid === `[0]${NAT_EID}/32`);
    return r !== undefined && r.rlocs.some((x) => x.startsWith('198.51.100.10 (pi@tp-')) && r.rlocs.includes(rtr.address);
  })) return;
  if (!await until('pi did not learn pub\'s EID', 20_000, async () => (await get<SiteCacheRow[]>('pi', '/api/site-cache')).some((x) => x.eid === `[0]${PUB_EID}/32`))) return;

  const pattern = MARKER.toString('hex');
  const ping = (ns: Netns, from: string, to: string): boolean =>
    spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-n', '-c', '1', '-W', '1', '-p', pattern, '-I', from, to]).status === 0;
  if (!await until('pub -> pi: no ping through the RTR', 20_000, async () => ping(pub.ns, PUB_EID, NAT_EID))) return;
  if (!await until('pi -> pub: no ping through the RTR', 20_000, async () => ping(nat.host, NAT_EID, PUB_EID))) return;

  for (const [fromNs, fromEid, toNs, toEid, port] of [[nat.host, NAT_EID, pub.ns, PUB_EID, 5511], [pub.ns, PUB_EID, nat.host, NAT_EID, 5512]] as const) {
    const { sent, received } = await tcpTransfer(fromNs, toNs, toEid, port, MARKER.length * 65536, { localAddress: fromEid, pattern: MARKER });
    t.is(received.bytes, MARKER.length * 65536, `${fromEid} -> ${toEid}`);
    t.is(received.sha256, sent.sha256, `${fromEid} -> ${toEid}: the TCP transfer arrived byte for byte`);
  }

  // Keys: pub and pi agreed on keys with each other (pub knows pi by its translated RLOC); the RTR
  // opened nothing (nothing was addressed to its own EID) and relayed sealed packets.
  type Stat = { direction: string; peerRloc: string; encrypted: number; decrypted: number; authFailures: number };
  type Counters = { control: Record<string, number>; dataplane: Record<string, number> };
  const [kPub, kPi, kRtr] = await Promise.all([get<Stat[]>('pub', '/api/crypto'), get<Stat[]>('pi', '/api/crypto'), get<Stat[]>('rtr', '/api/crypto')]);
  const sum = (ks: Stat[], f: (k: Stat) => boolean, v: (k: Stat) => number): number => ks.filter(f).reduce((s, k) => s + v(k), 0);
  t.true(sum(kPub, (k) => k.peerRloc === nat.publicAddress && k.direction === 'encap', (k) => k.encrypted) > 500, `pub sealed to pi: ${JSON.stringify(kPub)}`);
  t.true(sum(kPub, (k) => k.peerRloc === nat.publicAddress && k.direction === 'decap', (k) => k.decrypted) > 500, `pub opened from pi: ${JSON.stringify(kPub)}`);
  t.true(sum(kPi, (k) => k.peerRloc === pub.address && k.direction === 'encap', (k) => k.encrypted) > 500, `pi sealed to pub: ${JSON.stringify(kPi)}`);
  t.true(sum(kPi, (k) => k.peerRloc === pub.address && k.direction === 'decap', (k) => k.decrypted) > 500, `pi opened from pub: ${JSON.stringify(kPi)}`);
  t.is(sum(kRtr, () => true, (k) => k.decrypted + k.authFailures), 0, `the RTR opened nothing: ${JSON.stringify(kRtr)}`);
  t.is(sum([...kPub, ...kPi], () => true, (k) => k.authFailures), 0);
  const [cRtr, cPub, cPi] = await Promise.all([get<Counters>('rtr', '/api/counters'), get<Counters>('pub', '/api/counters'), get<Counters>('pi', '/api/counters')]);
  t.true(cRtr.dataplane.rtrRelayedSealed > 500, `the RTR relayed sealed packets: ${JSON.stringify(cRtr.dataplane)}`);
  t.is(cPub.dataplane.cryptoDropClear + cPi.dataplane.cryptoDropClear + cRtr.dataplane.cryptoDropClear, 0, 'no clear data arrived');
  t.is(cPub.dataplane.relayShimDropped + cPi.dataplane.relayShimDropped, 0, 'no relayed packet refused');

  // Hostile shims are counted drops, never thrown: a FROM shim from a member that is no RTR (pi,
  // through its NAT) and a TO shim to a member that relays nothing (pub); a FROM shim from the
  // RTR naming pi but sealed under no key of pi's fails its ICV at pub (the shim only picks which
  // keys are tried); a TO shim naming an address that is no member nor binding is dropped at the RTR.
  const shim = (type: number, ip: string): string => `90${type.toString(16).padStart(2, '0')}0400${ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('')}`;
  const forged = `${'09'}123456000000${'00'}${'ab'.repeat(80)}`; // LISP header KK=1, I, then junk
  const send = (ns: Netns, to: string, hex: string): Promise<string> => run(ns, [process.execPath, '-e',
    "const d=require('dgram').createSocket('udp4');d.send(Buffer.from(process.argv[3],'hex'),4341,process.argv[1],()=>d.close())", to, 'x', hex]).done;
  await send(nat.host, pub.address, shim(2, pub.address) + forged);
  await send(rtr.ns, pub.address, shim(1, nat.publicAddress) + forged);
  await send(rtr.ns, pub.address, shim(2, nat.publicAddress) + forged);
  await send(pub.ns, rtr.address, shim(1, '203.0.113.5') + forged);
  await sleep(300);
  const [hPub, hRtr, hk] = await Promise.all([get<Counters>('pub', '/api/counters'), get<Counters>('rtr', '/api/counters'), get<Stat[]>('pub', '/api/crypto')]);
  t.is(hPub.dataplane.relayShimDropped, 2, 'pub: a FROM shim from a non-RTR and a TO shim are dropped, counted');
  t.is(hRtr.dataplane.relayShimDropped, 1, 'the RTR: a TO shim to no member is dropped, counted');
  t.is(sum(hk, (k) => k.peerRloc === nat.publicAddress && k.direction === 'decap', (k) => k.authFailures), 1, 'a forged packet under pi\'s keys fails its ICV');

  // The capture: on both legs of the RTR only sealed data (or head-end replicated control).
  await stopChildren(children);
  cap.kill('SIGTERM');
  await new Promise((r) => cap.once('close', r));
  t.is(fs.readFileSync(pcap).indexOf(MARKER), -1, 'the payload never crossed the underlay in clear');
  const legs = new Map<string, number>();
  let clearData = 0;
  const file = readPcapFile(pcap);
  for (const f of file.frames) {
    const p = parseFrame(file.header.linkType, f.data);
    if (p.kind !== 'udp' || p.udp.destinationPort === 4342 || p.udp.sourcePort === 4342 || p.payload.length < 8) continue;
    if (p.udp.destinationPort !== 4341 && p.udp.sourcePort !== 4341) continue;
    if (p.payload.subarray(-16).every((x) => x === 0xab)) continue; // the forged ones above
    let o = 0;
    if (p.payload[0] === SHIM_MARK) o = p.payload[2] === 6 ? 20 : 8;
    const flags = p.payload[o], iid = (p.payload[o + 4] << 16) | (p.payload[o + 5] << 8) | p.payload[o + 6];
    if ((flags & 0x08) !== 0 && iid === 0xffffff) continue;
    if ((flags & 3) === 0) { clearData++; continue; }
    const leg = [p.ip.source, p.ip.destination].sort().join(' - ');
    legs.set(leg, (legs.get(leg) ?? 0) + 1);
  }
  t.log(`sealed data packets per leg: ${JSON.stringify([...legs])}`);
  t.is(clearData, 0, 'no LISP data packet in clear on either leg');
  // (a capture on the bridge sees UDP GSO messages before they are split: fewer frames than datagrams)
  t.true((legs.get([rtr.address, pub.address].sort().join(' - ')) ?? 0) > 50, 'sealed packets on the leg pub - rtr');
  t.true((legs.get([rtr.address, nat.publicAddress].sort().join(' - ')) ?? 0) > 50, 'sealed packets on the leg rtr - NAT');
  t.is(legs.get([pub.address, nat.publicAddress].sort().join(' - ')) ?? 0, 0, 'nothing went around the RTR');
});

for (const mapping of ['symmetric', 'endpoint-independent'] as const) {
  const how = mapping === 'symmetric' ? 'through the RTR (the second NAT is symmetric)' : 'on their direct path';
  test.serial(`encryption required between two members behind NATs, ${how}: pings and TCP both ways, sealed`, async (t) => {
    if (!avail.ok) { t.log(`skipped: ${avail.reason}`); t.pass(); return; }
    const prefix = mapping === 'symmetric' ? 'ncs' : 'nce';
    const bed = createTestbed({ prefix, nodes: 1, subnet: '198.51.100', firstHost: 7 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-nat-crypto2-'));
    const children: ChildProcess[] = [];
    const made: { a?: ReturnType<typeof createNat>; b?: ReturnType<typeof createNat> } = {};
    t.teardown(async () => {
      await stopChildren(children);
      made.a?.destroy();
      made.b?.destroy();
      bed.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const natA = createNat({ bridge: bed, prefix: `${prefix}a`, publicAddress: '198.51.100.10', privateSubnet: '192.168.74' });
    made.a = natA;
    const natB = createNat({ bridge: bed, prefix: `${prefix}b`, publicAddress: '198.51.100.11', privateSubnet: '192.168.75', mapping });
    made.b = natB;
    const rtr = bed.nodes[0];
    type Name = 'rtr' | 'pa' | 'pb';
    const logs: Record<Name, string> = { rtr: '', pa: '', pb: '' };
    const start = (name: Name, ns: Netns, eid: string, seeds: string[]): void => {
      children.push(launchMember({ dir, name, ns, eid, seeds, group: '224.9.9.7', rtr: name === 'rtr', encryption: 'required', logs }));
    };
    const A_EID = '10.0.0.5', B_EID = '10.0.0.8';
    start('rtr', rtr.ns, RTR_EID, []);
    start('pa', natA.host, A_EID, [rtr.address]);
    start('pb', natB.host, B_EID, [rtr.address]);
    const get = <T>(name: Name, p: string): Promise<T> => apiRequest<T>(path.join(dir, `${name}.sock`), 'GET', p, 2000);
    type Counters = { control: Record<string, number>; dataplane: Record<string, number> };
    const dump = async (): Promise<string> => (await Promise.all((['rtr', 'pa', 'pb'] as const).map(async (n) => {
      const c = await get<Counters>(n, '/api/counters').catch(() => undefined);
      const nz = (r: Record<string, number> | undefined): string => JSON.stringify(Object.fromEntries(Object.entries(r ?? {}).filter(([k, v]) => v !== 0 && /crypto|rtr|relay|drop|direct/i.test(k))));
      return `${n} ${nz(c?.control)} ${nz(c?.dataplane)}\n${logs[n].slice(-1500)}`;
    }))).join('\n');
    const until = async (what: string, ms: number, ok: () => Promise<boolean>): Promise<boolean> => {
      const by = Date.now() + ms;
      for (;;) {
        if (await ok().catch(() => false)) return true;
        if (Date.now() > by) { t.fail(`${what}\n${await dump()}`); return false; }
        await sleep(100);
      }
    };
    const ping = (ns: Netns, from: string, to: string): boolean =>
      spawnSync('ip', ['netns', 'exec', ns.name, 'ping', '-n', '-c', '1', '-W', '1', '-I', from, to]).status === 0;
    if (!await until('pa -> pb: no ping', 30_000, async () => ping(natA.host, A_EID, B_EID))) return;
    if (!await until('pb -> pa: no ping', 15_000, async () => ping(natB.host, B_EID, A_EID))) return;
    // endpoint-independent NATs: the transfers run on the direct path once both ends took it
    if (mapping !== 'symmetric' && !await until('no direct path', 20_000, async () => {
      const [a, b] = await Promise.all([get<Counters>('pa', '/api/counters'), get<Counters>('pb', '/api/counters')]);
      return (a.control['direct.reply.received'] ?? 0) > 0 && (b.control['direct.reply.received'] ?? 0) > 0;
    })) return;
    for (const [fromNs, fromEid, toNs, toEid, port] of [[natA.host, A_EID, natB.host, B_EID, 5521], [natB.host, B_EID, natA.host, A_EID, 5522]] as const) {
      const { sent, received } = await tcpTransfer(fromNs, toNs, toEid, port, MARKER.length * 32768, { localAddress: fromEid, pattern: MARKER });
      t.is(received.bytes, MARKER.length * 32768, `${fromEid} -> ${toEid}`);
      t.is(received.sha256, sent.sha256, `${fromEid} -> ${toEid}: the TCP transfer arrived byte for byte`);
    }
    const [cr, ca, cb] = await Promise.all([get<Counters>('rtr', '/api/counters'), get<Counters>('pa', '/api/counters'), get<Counters>('pb', '/api/counters')]);
    t.is(ca.dataplane.cryptoDropClear + cb.dataplane.cryptoDropClear, 0, 'no clear data arrived');
    t.is(cr.dataplane.rtrRelayed, 0, 'the RTR re-encapsulated nothing in clear');
    if (mapping === 'symmetric') t.true(cr.dataplane.rtrRelayedSealed > 200, `relayed sealed: ${cr.dataplane.rtrRelayedSealed}`);
    else t.true(cr.dataplane.rtrRelayedSealed < 50, `the transfers went direct, not through the RTR (relayed ${cr.dataplane.rtrRelayedSealed})`);
    type Stat = { direction: string; peerRloc: string; decrypted: number; authFailures: number };
    const [ka, kb] = await Promise.all([get<Stat[]>('pa', '/api/crypto'), get<Stat[]>('pb', '/api/crypto')]);
    const opened = (ks: Stat[], from: string): number => ks.filter((k) => k.direction === 'decap' && k.peerRloc === from).reduce((s, k) => s + k.decrypted, 0);
    t.true(opened(ka, natB.publicAddress) > 200 && opened(kb, natA.publicAddress) > 200, `${JSON.stringify(ka)}\n${JSON.stringify(kb)}`);
    t.log(`rtr relayed ${cr.dataplane.rtrRelayedSealed} sealed datagrams; pa opened ${opened(ka, natB.publicAddress)} from pb, pb ${opened(kb, natA.publicAddress)} from pa`);
  });
}
