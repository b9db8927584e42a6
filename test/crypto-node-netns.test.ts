// LISP-crypto end to end on running nodes (issue 15): two `decent run` processes on a bridge, with
// the default configuration (`dataplane.encryption: required`), exchange keys in the control
// worker, and the daemon installs them in the data plane. A ping and a TCP transfer of a known
// payload cross the overlay; the capture of the whole underlay (the bridge) never holds that
// payload, and every LISP data packet on it is sealed (K bits set) apart from head-end replicated
// control (instance-id 0xFFFFFF), so nothing went out in clear before the keys were there either.
import test from 'ava';
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultSuites, hasAesInstructions, readCpuinfo } from '../src/crypto';
import { parseFrame } from '../src/pcap/packet';
import { readPcapFile } from '../src/pcap/reader';
import { netnsAvailable } from '../src/testbed/netns';
import { BIN, startCryptoNodes } from './helpers/crypto-nodes';

const avail = netnsAvailable();
const hasDumpcap = spawnSync('dumpcap', ['--version']).status === 0;
/** The known payload: 16 bytes that ping repeats through its data and TCP carries 65,536 times. */
const MARKER = Buffer.from('DECENT-CLEARTXT!');

test.serial('running nodes encrypt by default: ping and TCP cross sealed, the underlay never carries the payload', async (t) => {
  if (!avail.ok || !hasDumpcap) { t.log(`skipped: ${avail.ok ? 'no dumpcap' : avail.reason}`); t.pass(); return; }
  let cap!: ChildProcess, pcap = '';
  // no `encryption:` key: the default is what is tested
  const n = await startCryptoNodes(t, '192.168.78', [], async (bed, dir) => {
    pcap = path.join(dir, 'underlay.pcap');
    cap = bed.bridgeNs.spawn(['dumpcap', '-q', '-P', '-i', 'br0', '-f', 'udp', '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 3000);
      cap.stderr?.on('data', (d: Buffer) => { if (d.toString().includes('Capturing on')) { clearTimeout(timer); resolve(); } });
    });
  });
  t.teardown(() => { cap.kill('SIGKILL'); });
  if (!await n.converged()) { t.fail(n.failWith('site caches did not converge')); return; }

  // The first ping, at once: it resolves, and under `required` waits in the miss queue until the
  // key exchange is done (nothing leaves in clear); it must be answered, not lost.
  const pattern = MARKER.toString('hex');
  if (!n.ping(0, 1, 6, pattern)) { t.fail(n.failWith('n1 -> n2: the first ping through the overlay was not answered')); return; }
  t.true(n.ping(1, 0, 6, pattern), 'ping n2 -> n1');
  t.true(n.ping(0, 1, 2, pattern), 'ping n1 -> n2 once keys are in');

  const { sent, received } = await n.transfer(5401, pattern, 65536);
  t.is(received.bytes, MARKER.length * 65536);
  t.is(received.sha256, sent.sha256, 'the TCP transfer arrived byte for byte');

  type Stat = { direction: string; peerRloc: string; suite: number; sending: boolean; encrypted: number; decrypted: number; authFailures: number };
  const [k1, k2] = await Promise.all([n.get<Stat[]>(0, '/api/crypto'), n.get<Stat[]>(1, '/api/crypto')]);
  const tx1 = k1.find((k) => k.direction === 'encap' && k.sending), rx2 = k2.filter((k) => k.direction === 'decap');
  // the default suite follows the CPU (both nodes run on this one)
  const suite = defaultSuites(hasAesInstructions(readCpuinfo()))[0];
  t.like(tx1, { peerRloc: n.bed.nodes[1].address, suite }, JSON.stringify(k1));
  t.true((tx1?.encrypted ?? 0) > 500, JSON.stringify(k1));
  t.true(rx2.reduce((s, k) => s + k.decrypted, 0) > 500, JSON.stringify(k2));
  t.is([...k1, ...k2].reduce((s, k) => s + k.authFailures, 0), 0);
  const [c1, c2] = await Promise.all([n.get<{ dataplane: Record<string, number> }>(0, '/api/counters'), n.get<{ dataplane: Record<string, number> }>(1, '/api/counters')]);
  t.is(c1.dataplane.cryptoDropClear + c2.dataplane.cryptoDropClear, 0, 'no clear data arrived');
  t.is(c1.dataplane.cryptoDropNoKey + c2.dataplane.cryptoDropNoKey, 0, 'no packet lost for want of a key');
  t.log(`n1 held ${c1.dataplane.cryptoHeldNoKey} + n2 ${c2.dataplane.cryptoHeldNoKey} packets until their keys came; n1 sealed ${tx1?.encrypted}`);

  // decent show peers names the send key and what crossed sealed
  const shown = spawnSync(process.execPath, [BIN, 'show', 'peers', '--socket', n.sock(0)], { encoding: 'utf8' }).stdout;
  t.regex(shown, new RegExp(`suite ${suite} key [123], \\d{3,} sealed / \\d+ opened`), shown);

  await n.stopNodes([cap]);
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

test.serial('rekey on packet count: the data plane reports what each send key sealed, a new key-id takes over mid-transfer, nothing is lost', async (t) => {
  if (!avail.ok) { t.log(`skipped: ${avail.reason}`); t.pass(); return; }
  const n = await startCryptoNodes(t, '192.168.79', ['crypto:', '  rekey-packets: 1000']);
  if (!await n.converged()) { t.fail(n.failWith('site caches did not converge')); return; }
  const pattern = MARKER.toString('hex');
  if (![0, 1, 2].some(() => n.ping(0, 1, 4, pattern))) { t.fail(n.failWith('n1 -> n2: no ping through the overlay')); return; }
  // 4 MiB in 80 writes 40 ms apart (≈ 3 s, ≈ 3,000 sealed segments): the counts reach the key
  // exchange once a second, so at 1,000 packets per key the transfer spans rekeys
  const { sent, received } = await n.transfer(5402, pattern, 262144, 80, 40);
  t.is(received.bytes, MARKER.length * 262144);
  t.is(received.sha256, sent.sha256, 'the TCP transfer arrived byte for byte across the rekeys');

  type Stat = { direction: string; keyId: number; sending: boolean; encrypted: number; authFailures: number; replays: number; outOfWindow: number; unknownKeyId: number };
  type Counters = { control: Record<string, number>; dataplane: Record<string, number> };
  const [c1, c2] = await Promise.all([n.get<Counters>(0, '/api/counters'), n.get<Counters>(1, '/api/counters')]);
  const [k1, k2] = await Promise.all([n.get<Stat[]>(0, '/api/crypto'), n.get<Stat[]>(1, '/api/crypto')]);
  t.true(c1.control['crypto.rekey'] >= 1, `n1 rekeyed on count: ${JSON.stringify(k1)}`);
  t.not(k1.find((k) => k.direction === 'encap' && k.sending)?.keyId, 1, 'n1 sends under a later key-id');
  // nothing dropped on either side for a key reason: no packet without a key, none under an
  // unknown key-id, no authentication failure, replay or out-of-window packet
  t.is(c1.dataplane.cryptoDropNoKey + c2.dataplane.cryptoDropNoKey, 0);
  for (const k of [...k1, ...k2]) t.like(k, { authFailures: 0, replays: 0, outOfWindow: 0, unknownKeyId: 0 }, JSON.stringify(k));
  t.log(`rekeys: n1 ${c1.control['crypto.rekey']}, n2 ${c2.control['crypto.rekey'] ?? 0}; n1 keys ${JSON.stringify(k1.filter((k) => k.direction === 'encap').map((k) => [k.keyId, k.encrypted]))}`);
});
