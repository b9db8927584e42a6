// LISP-crypto end to end on running nodes (issue 15): two `decent run` processes on a bridge, with
// the default configuration (`dataplane.encryption: required`), exchange keys in the control
// worker, and the daemon installs them in the data plane. A ping and a TCP transfer of a known
// payload cross the overlay; the capture of the whole underlay (the bridge) never holds that
// payload, and every LISP data packet on it is sealed (K bits set) apart from head-end replicated
// control (instance-id 0xFFFFFF), so nothing went out in clear before the keys were there either.
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
import { netnsAvailable, run } from '../src/testbed/netns';

const avail = netnsAvailable();
const hasDumpcap = spawnSync('dumpcap', ['--version']).status === 0;
/** The known payload: 16 bytes that ping repeats through its data and TCP carries 65,536 times. */
const MARKER = Buffer.from('DECENT-CLEARTXT!');
const EIDS = ['10.0.0.1', '10.0.0.2'];

const RECEIVER = `const net=require('net'),c=require('crypto');
const s=net.createServer((k)=>{const h=c.createHash('sha256');let n=0;
k.on('data',(d)=>{h.update(d);n+=d.length;});
k.on('end',()=>{console.log(JSON.stringify({bytes:n,sha256:h.digest('hex')}));s.close();});});
s.listen(+process.argv[2],process.argv[1],()=>console.log('listening'));`;
const SENDER = `const net=require('net'),c=require('crypto');
const b=Buffer.from(process.argv[4],'hex').toString().repeat(+process.argv[5]);
const k=net.connect({port:+process.argv[2],host:process.argv[1],localAddress:process.argv[3]},()=>{
k.end(b,()=>console.log(JSON.stringify({bytes:b.length,sha256:c.createHash('sha256').update(b).digest('hex')})));});`;

function config(i: number, dir: string, seed: string): string {
  return [
    `name: n${i + 1}`, 'eids:', `  - ${EIDS[i]}/32`, 'rlocs:', '  interfaces: [eth0]',
    'decent:', '  group: 224.1.1.1', `  seeds: [${seed}]`, 'auth:', '  key: decent-password',
    'timers:', '  register-interval: 10s', '  registration-ttl: 30s',
    // no `encryption:` key: the default is what is tested
    'dataplane:', '  tun: decent0', 'api:', `  socket: ${path.join(dir, `n${i + 1}.sock`)}`, '',
  ].join('\n');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test.serial('running nodes encrypt by default: ping and TCP cross sealed, the underlay never carries the payload', async (t) => {
  if (!avail.ok || !hasDumpcap) { t.log(`skipped: ${avail.ok ? 'no dumpcap' : avail.reason}`); t.pass(); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-crypto-node-'));
  const bed = createTestbed({ prefix: 'cry', nodes: 2, subnet: '192.168.78', firstHost: 5 });
  const children: ChildProcess[] = [];
  const stopAll = async (list: ChildProcess[]): Promise<void> => {
    await Promise.all(list.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
      setTimeout(() => { c.kill('SIGKILL'); resolve(); }, 5000).unref();
    })));
  };
  t.teardown(async () => {
    await stopAll(children);
    bed.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const pcap = path.join(dir, 'underlay.pcap');
  const cap = bed.bridgeNs.spawn(['dumpcap', '-q', '-P', '-i', 'br0', '-f', 'udp', '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 3000);
    cap.stderr?.on('data', (d: Buffer) => { if (d.toString().includes('Capturing on')) { clearTimeout(timer); resolve(); } });
  });
  const bin = path.resolve(__dirname, '../../bin/decent');
  const logs: string[] = ['', ''];
  const nodes = bed.nodes;
  for (const n of nodes) {
    const file = path.join(dir, `n${n.index + 1}.yaml`);
    fs.writeFileSync(file, config(n.index, dir, nodes[1 - n.index].address));
    n.ns.ip(['addr', 'add', `${EIDS[n.index]}/32`, 'dev', 'lo']);
    const child = n.ns.spawn([process.execPath, bin, 'run', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => { logs[n.index] = (logs[n.index] + d.toString()).slice(-4000); });
    children.push(child);
  }
  const sock = (i: number): string => path.join(dir, `n${i + 1}.sock`);
  const get = <T>(i: number, p: string): Promise<T> => apiRequest<T>(sock(i), 'GET', p, 2000);
  const failWith = (what: string): string => `${what}\nn1: ${logs[0].slice(-1500)}\nn2: ${logs[1].slice(-1500)}`;

  // both site caches hold both EIDs
  const convergeBy = Date.now() + 20_000;
  for (;;) {
    const done = await Promise.all([0, 1].map((i) => get<SiteCacheRow[]>(i, '/api/site-cache')
      .then((rows) => EIDS.every((e) => rows.some((r) => r.eid === `[0]${e}/32`)), () => false)));
    if (done.every(Boolean)) break;
    if (Date.now() > convergeBy) { t.fail(failWith('site caches did not converge')); return; }
    await sleep(100);
  }

  // The first ping, at once: it resolves, and under `required` waits in the miss queue until the
  // key exchange is done (nothing leaves in clear); it must be answered, not lost.
  const ping = (from: number, to: number, waitS: number): boolean =>
    spawnSync('ip', ['netns', 'exec', nodes[from].ns.name, 'ping', '-n', '-c', '1', '-W', String(waitS), '-s', '1000', '-p', MARKER.toString('hex'),
      '-I', EIDS[from], EIDS[to]]).status === 0;
  if (!ping(0, 1, 6)) { t.fail(failWith('n1 -> n2: the first ping through the overlay was not answered')); return; }
  t.true(ping(1, 0, 6), 'ping n2 -> n1');
  t.true(ping(0, 1, 2), 'ping n1 -> n2 once keys are in');

  let ready!: () => void;
  const listening = new Promise<void>((r) => { ready = r; });
  const rx = run(nodes[1].ns, [process.execPath, '-e', RECEIVER, EIDS[1], '5401'], (l) => { if (l === 'listening') ready(); });
  await Promise.race([listening, rx.done]);
  const tx = run(nodes[0].ns, [process.execPath, '-e', SENDER, EIDS[1], '5401', EIDS[0], MARKER.toString('hex'), '65536']);
  const [sent, received] = (await Promise.all([tx.done, rx.done])).map((o) => JSON.parse(o.trim().split('\n').pop() ?? '{}') as { bytes: number; sha256: string });
  t.is(received.bytes, MARKER.length * 65536);
  t.is(received.sha256, sent.sha256, 'the TCP transfer arrived byte for byte');

  type Stat = { direction: string; peerRloc: string; suite: number; sending: boolean; encrypted: number; decrypted: number; authFailures: number };
  const [k1, k2] = await Promise.all([get<Stat[]>(0, '/api/crypto'), get<Stat[]>(1, '/api/crypto')]);
  const tx1 = k1.find((k) => k.direction === 'encap' && k.sending), rx2 = k2.filter((k) => k.direction === 'decap');
  t.like(tx1, { peerRloc: nodes[1].address, suite: 6 }, JSON.stringify(k1));
  t.true((tx1?.encrypted ?? 0) > 500, JSON.stringify(k1));
  t.true(rx2.reduce((n, k) => n + k.decrypted, 0) > 500, JSON.stringify(k2));
  t.is([...k1, ...k2].reduce((n, k) => n + k.authFailures, 0), 0);
  const [c1, c2] = await Promise.all([get<{ dataplane: Record<string, number> }>(0, '/api/counters'), get<{ dataplane: Record<string, number> }>(1, '/api/counters')]);
  t.is(c1.dataplane.cryptoDropClear + c2.dataplane.cryptoDropClear, 0, 'no clear data arrived');
  t.is(c1.dataplane.cryptoDropNoKey + c2.dataplane.cryptoDropNoKey, 0, 'no packet lost for want of a key');
  t.log(`n1 held ${c1.dataplane.cryptoHeldNoKey} + n2 ${c2.dataplane.cryptoHeldNoKey} packets until their keys came; n1 sealed ${tx1?.encrypted}`);

  // decent show peers names the send key and what crossed sealed
  const shown = spawnSync(process.execPath, [bin, 'show', 'peers', '--socket', sock(0)], { encoding: 'utf8' }).stdout;
  t.regex(shown, /suite 6 key [123], \d{3,} sealed \/ \d+ opened/, shown);

  await stopAll(children);
  await stopAll([cap]);
  const bytes = fs.readFileSync(pcap);
  t.is(bytes.indexOf(MARKER), -1, 'the payload never crossed the underlay in clear');
  let sealed = 0, clearData = 0;
  const file = readPcapFile(pcap);
  for (const f of file.frames) {
    const p = parseFrame(file.header.linkType, f.data);
    if (p.kind !== 'udp' || p.udp.destinationPort !== 4341 || p.payload.length < 8) continue;
    const flags = p.payload[0], iid = (p.payload[4] << 16) | (p.payload[5] << 8) | p.payload[6];
    if ((flags & 3) !== 0) sealed++;
    else if (!((flags & 0x08) !== 0 && iid === 0xffffff)) clearData++;
  }
  t.true(sealed > 20, `${sealed} sealed data packets captured`);
  t.is(clearData, 0, 'no LISP data packet in clear on the underlay');
});
