// bench-io: the raw relay on the native addon (TUN -> UDP -> TUN, JS loop, no lookups) next
// to plain veth and the kernel's VXLAN, in one run on one netns testbed (issue 3).
//
//   npm run bench:io -- [--rounds 3] [--tcp-secs 10] [--pps-secs 5] [--batch 64]
//                       [--only veth,vxlan,relay,relay-nooffload,relay-chacha,relay-aes,reference] [--reference DIR]
//
// relay-chacha / relay-aes are the same relay with LISP-crypto on (RFC 8061 suites 6 and 5: every
// segment sealed in the addon after the GSO split, opened before coalescing; TUN MTU 28 bytes
// smaller for the IV and ICV); their ratios to the clear relay are taken per round.
//
// --reference DIR adds the C relay of the reference prototype (../shared/perf/tunlimits) as a
// variant, built into a temporary copy if DIR/build/relay is missing, so our relay is compared
// with it in the same run. It runs in offload mode with -V (inner checksums verified before
// coalescing), which is what our relay does too.
//
// Per round and variant: one iperf3 TCP stream (Mbit/s, retransmits) and a 64-byte UDP flood
// (packets/s received; generator and sink are sendmmsg/recvmmsg loops on the addon), plus
// the relays' CPU time (from /proc/<pid>/stat) per packet received. Rounds interleave the
// variants so background drift on a shared machine hits all of them alike; we report the
// median with min-max. Needs root, iproute2, iperf3, and the kernel's vxlan module.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, tmpdir } from 'node:os';
import { createPair, Pair, run } from './lib/netns';
import { randomBytes } from 'node:crypto';
import { AddressTable, D, KeyTable, NO_TUN_OFFLOADS, Pool, RawRelay, RecvPool, Tun, UdpEndpoint } from '../src/native';
import { LISP_DATA_PORT } from '../src/wire/constants';

interface Args {
  rounds: number;
  tcpSecs: number;
  ppsSecs: number;
  only: string[];
  batch: number;
  reference?: string;
}

const VARIANTS = ['veth', 'vxlan', 'relay', 'relay-nooffload', 'relay-chacha', 'relay-aes', 'reference'] as const;
type Variant = (typeof VARIANTS)[number];

function parseArgs(argv: string[]): Args {
  const a: Args = { rounds: 3, tcpSecs: 10, ppsSecs: 5, only: ['veth', 'vxlan', 'relay'], batch: 64 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`missing value for ${argv[i]}`);
    switch (argv[i]) {
      case '--rounds': a.rounds = Number(v); break;
      case '--tcp-secs': a.tcpSecs = Number(v); break;
      case '--pps-secs': a.ppsSecs = Number(v); break;
      case '--only': a.only = v.split(','); break;
      case '--batch': a.batch = Number(v); break;
      case '--reference': a.reference = v; if (!a.only.includes('reference')) a.only.push('reference'); break;
      default: throw new Error(`unknown option ${argv[i]} (see the header of scripts/bench-io.ts)`);
    }
  }
  for (const o of a.only) if (!(VARIANTS as readonly string[]).includes(o)) throw new Error(`unknown variant ${o}`);
  if (a.only.includes('reference') && !a.reference) throw new Error('the reference variant needs --reference DIR (the tunlimits prototype)');
  if (!Number.isInteger(a.batch) || a.batch < 1 || a.batch > 1024) throw new Error(`--batch must be 1..1024, got ${a.batch}`);
  return a;
}

// ---------------- child roles ----------------

interface RelaySpec {
  netns: string; tun: string; inner: string; local: string; peer: string; offloads: boolean; batch: number;
  /** LISP-crypto: suite and the hex keys this side seals with (tx) and opens with (rx) */
  crypto?: { suite: 5 | 6; tx: string; rx: string };
}

function relayChild(spec: RelaySpec): void {
  const tun = Tun.open({
    name: spec.tun, netns: spec.netns, mtu: spec.crypto ? 1464 - 28 : 1464, addresses: [spec.inner],
    offloads: spec.offloads ? undefined : NO_TUN_OFFLOADS,
  });
  const udp = UdpEndpoint.open({ address: spec.local, port: LISP_DATA_PORT, netns: spec.netns, gso: spec.offloads, gro: spec.offloads });
  let crypto: { keys: KeyTable; txSet: number; rxSet: number } | undefined;
  if (spec.crypto) {
    const keys = new KeyTable(4);
    const txSet = keys.allocate(), rxSet = keys.allocate();
    keys.install(txSet, 1, { suite: spec.crypto.suite, encryptionKey: Buffer.from(spec.crypto.tx, 'hex') });
    keys.setSendKey(txSet, 1);
    keys.install(rxSet, 1, { suite: spec.crypto.suite, encryptionKey: Buffer.from(spec.crypto.rx, 'hex') });
    crypto = { keys, txSet, rxSet };
  }
  const relay = new RawRelay({ tun, udp, peer: { address: spec.peer, port: LISP_DATA_PORT }, batch: spec.batch, crypto });
  relay.start();
  process.on('SIGTERM', () => {
    process.stderr.write(`${JSON.stringify({ tun: tun.stats, udp: udp.stats })}\n`);
    relay.stop();
    process.exit(0);
  });
  console.log('ready');
}

/** 64-byte UDP payloads with sendmmsg batches of 64, as fast as the socket takes them. */
function blastSend(local: string, dst: string, port: number, secs: number): void {
  const udp = UdpEndpoint.open({ address: local, port: 0, gso: false, gro: false });
  const pool = new Pool({ slots: 64, slotSize: 256 });
  const payload = Buffer.alloc(64, 0x5a);
  for (let i = 0; i < 64; i++) { pool.put(i, payload); pool.setField(i, D.ADDR, 0); }
  const to = new AddressTable(1);
  to.set(0, dst, port);
  const end = Date.now() + secs * 1000;
  let sent = 0;
  while (Date.now() < end) sent += udp.send(pool, 64, to);
  console.log(JSON.stringify({ sent, dropsAtSender: udp.stats.udpSendDrops }));
  udp.close();
}

function blastRecv(bind: string, port: number, secs: number): void {
  const udp = UdpEndpoint.open({ address: bind, port, gso: false, gro: false, bufferBytes: 32 << 20 });
  const pool = new RecvPool({ slots: 256, slotSize: 256 });
  let got = 0, first = 0n, last = 0n;
  const finish = (): void => {
    const s = Number(last - first) / 1e9;
    console.log(JSON.stringify({ received: got, seconds: s, pps: s > 0 ? got / s : 0 }));
    udp.close();
    process.exit(0);
  };
  udp.onReadable(() => {
    for (let n; (n = udp.recv(pool)) > 0; ) {
      const now = process.hrtime.bigint();
      if (got === 0) first = now;
      got += n;
      last = now;
    }
  });
  console.log('listening');
  const deadline = Date.now() + (secs + 10) * 1000;
  const timer = setInterval(() => {
    const idle = got > 0 && Number(process.hrtime.bigint() - last) / 1e9 > 1;
    if (idle || Date.now() > deadline) { clearInterval(timer); finish(); }
  }, 200);
}

// ---------------- orchestration ----------------

function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop()!.trim().split(/\s+/);
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in USER_HZ (100 on Linux)
  } catch {
    return 0;
  }
}

function waitLine(child: ChildProcess, want: string, stream: 'stdout' | 'stderr' = 'stdout'): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child[stream]?.on('data', (d: Buffer) => { buf += d.toString(); if (buf.includes(want)) resolve(); });
    child.on('exit', (c) => reject(new Error(`child exited (${c}) before "${want}": ${buf.trim()}`)));
  });
}

interface Sample { variant: Variant; round: number; tcpMbps: number; retrans: number; pps: number; cpuPct: number; usPerPkt: number }

const SELF = __filename;

async function startRelays(bed: Pair, offloads: boolean, batch: number, suite?: 5 | 6): Promise<ChildProcess[]> {
  const len = suite === 6 ? 32 : 16, ab = randomBytes(len).toString('hex'), ba = randomBytes(len).toString('hex');
  const specs: RelaySpec[] = [
    { netns: bed.a.path, tun: 'lisp0', inner: '10.98.0.1/24', local: bed.addrA, peer: bed.addrB, offloads, batch,
      crypto: suite ? { suite, tx: ab, rx: ba } : undefined },
    { netns: bed.b.path, tun: 'lisp0', inner: '10.98.0.2/24', local: bed.addrB, peer: bed.addrA, offloads, batch,
      crypto: suite ? { suite, tx: ba, rx: ab } : undefined },
  ];
  const kids = specs.map((s) => spawn(process.execPath, [SELF, '--child-relay', JSON.stringify(s)], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await Promise.all(kids.map((k) => waitLine(k, 'ready')));
  return kids;
}

/** The prototype's C relay, built once into a temporary copy when needed. */
function referenceRelay(dir: string): string {
  const built = join(dir, 'build', 'relay');
  if (existsSync(built)) return built;
  const copy = join(tmpdir(), 'decent-bench-tunlimits');
  if (!existsSync(join(copy, 'build', 'relay'))) {
    cpSync(dir, copy, { recursive: true });
    execFileSync('bash', [join(copy, 'scripts', 'build.sh')], { stdio: 'ignore' });
  }
  return join(copy, 'build', 'relay');
}

async function startReference(bed: Pair, relay: string, batch: number): Promise<ChildProcess[]> {
  const side = (inner: string, local: string, peer: string): string[] =>
    [relay, '-m', 'offload', '-V', '-t', 'lisp0', '-a', inner, '-M', '1464', '-l', local, '-r', peer, '-e', '10.98.0.0/24', '-b', String(batch)];
  const kids = [bed.a.spawn(side('10.98.0.1/24', bed.addrA, bed.addrB)), bed.b.spawn(side('10.98.0.2/24', bed.addrB, bed.addrA))];
  await Promise.all(kids.map((k) => waitLine(k, 'relay up', 'stderr')));
  return kids;
}

/** Stop the relays; returns each one's counters (printed on SIGTERM). */
async function stopRelays(kids: ChildProcess[]): Promise<string[]> {
  return Promise.all(kids.map((k) => new Promise<string>((resolve) => {
    let err = '';
    k.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    if (k.exitCode !== null) { resolve(err); return; }
    k.once('close', () => resolve(err.trim()));
    k.kill('SIGTERM');
  })));
}

async function tcp(bed: Pair, target: string, secs: number): Promise<{ mbps: number; retrans: number }> {
  const srv = bed.b.spawn(['iperf3', '-s', '-1', '--forceflush', '-B', target, '-p', '5201']);
  await waitLine(srv, 'listening');
  const out = await run(bed.a, ['iperf3', '-c', target, '-p', '5201', '-t', String(secs), '-J']).done;
  srv.kill();
  const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
  return { mbps: j.end.sum_received.bits_per_second / 1e6, retrans: j.end.sum_sent.retransmits ?? 0 };
}

async function pps(bed: Pair, local: string, target: string, secs: number): Promise<number> {
  const sink = bed.b.spawn([process.execPath, SELF, '--child-recv', target, '9000', String(secs)]);
  await waitLine(sink, 'listening');
  const sinkOut = new Promise<string>((resolve) => { let o = ''; sink.stdout?.on('data', (d: Buffer) => { o += d.toString(); }); sink.on('close', () => resolve(o)); });
  await run(bed.a, [process.execPath, SELF, '--child-send', local, target, '9000', String(secs)]).done;
  const out = await sinkOut;
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { pps?: number; received?: number };
  return r.pps ?? 0;
}

function vxlanUp(bed: Pair): void {
  bed.a.ip(['link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'local', bed.addrA, 'remote', bed.addrB, 'dstport', '4789', 'dev', bed.vethA]);
  bed.b.ip(['link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'local', bed.addrB, 'remote', bed.addrA, 'dstport', '4789', 'dev', bed.vethB]);
  bed.a.ip(['addr', 'add', '10.97.0.1/24', 'dev', 'vx0']);
  bed.b.ip(['addr', 'add', '10.97.0.2/24', 'dev', 'vx0']);
  bed.a.ip(['link', 'set', 'vx0', 'mtu', '1450', 'up']);
  bed.b.ip(['link', 'set', 'vx0', 'mtu', '1450', 'up']);
}

async function measure(bed: Pair, v: Variant, round: number, a: Args): Promise<Sample> {
  const target = v === 'veth' ? bed.addrB : v === 'vxlan' ? '10.97.0.2' : '10.98.0.2';
  const local = v === 'veth' ? bed.addrA : v === 'vxlan' ? '10.97.0.1' : '10.98.0.1';
  const relays = v === 'reference' ? await startReference(bed, referenceRelay(a.reference ?? ''), a.batch)
    : v.startsWith('relay') ? await startRelays(bed, v !== 'relay-nooffload', a.batch,
      v === 'relay-chacha' ? 6 : v === 'relay-aes' ? 5 : undefined) : [];
  try {
    const cpu = (): number => relays.reduce((s, k) => s + cpuSeconds(k.pid ?? 0), 0);
    const c0 = cpu(), t0 = process.hrtime.bigint();
    const t = await tcp(bed, target, a.tcpSecs);
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpuPct = relays.length ? (100 * (cpu() - c0)) / wall : 0;
    const c1 = cpu();
    const p = await pps(bed, local, target, a.ppsSecs);
    const usPerPkt = relays.length && p > 0 ? ((cpu() - c1) * 1e6) / (p * a.ppsSecs) : 0;
    return { variant: v, round, tcpMbps: t.mbps, retrans: t.retrans, pps: p, cpuPct, usPerPkt };
  } finally {
    const counters = await stopRelays(relays);
    if (process.env.BENCH_IO_DEBUG) for (const c of counters) process.stderr.write(`${v} relay counters: ${c}\n`);
  }
}

const median = (x: number[]): number => { const s = [...x].sort((p, q) => p - q); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (x: number, d = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const range = (x: number[], d = 0): string => `${fmt(Math.min(...x), d)}–${fmt(Math.max(...x), d)}`;

function report(samples: Sample[], a: Args): string {
  const by = (v: Variant): Sample[] => samples.filter((s) => s.variant === v);
  const kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
  const lines: string[] = [];
  lines.push(`bench-io: ${a.rounds} interleaved rounds, iperf3 TCP 1 stream ${a.tcpSecs} s, 64-byte UDP ${a.ppsSecs} s; ` +
    `Linux ${kernel}, ${process.versions.node ? `Node ${process.version}` : ''}, ${cpus().length} CPUs`);
  lines.push('');
  lines.push('| variant | TCP Mbit/s median (min–max) | retransmits | 64-B pps median (min–max) | relay CPU % (TCP) | relay CPU % per Gbit/s | relay CPU µs/packet (64 B) |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const v of VARIANTS) {
    const s = by(v);
    if (!s.length) continue;
    const cpu = v.startsWith('relay') || v === 'reference';
    lines.push(`| ${v} | ${fmt(median(s.map((x) => x.tcpMbps)))} (${range(s.map((x) => x.tcpMbps))}) | ${fmt(median(s.map((x) => x.retrans)))} | ` +
      `${fmt(median(s.map((x) => x.pps)))} (${range(s.map((x) => x.pps))}) | ${cpu ? fmt(median(s.map((x) => x.cpuPct))) : '–'} | ` +
      `${cpu ? fmt(median(s.map((x) => x.cpuPct / (x.tcpMbps / 1000))), 1) : '–'} | ` +
      `${cpu ? `${fmt(median(s.map((x) => x.usPerPkt)), 1)} (${range(s.map((x) => x.usPerPkt), 1)})` : '–'} |`);
  }
  // ratios per round (same round = same background), then median and range
  const ratio = (num: Variant, den: Variant, key: 'tcpMbps' | 'pps'): string => {
    const r: number[] = [];
    for (let i = 0; i < a.rounds; i++) {
      const n = samples.find((s) => s.variant === num && s.round === i), d = samples.find((s) => s.variant === den && s.round === i);
      if (n && d && d[key] > 0) r.push(n[key] / d[key]);
    }
    return r.length ? `${fmt(median(r), 2)} (${range(r, 2)})` : 'n/a';
  };
  lines.push('');
  for (const v of ['relay', 'relay-nooffload'] as const) {
    if (!by(v).length) continue;
    lines.push(`${v}: TCP ${ratio(v, 'veth', 'tcpMbps')} of veth, ${ratio(v, 'vxlan', 'tcpMbps')} of kernel VXLAN; ` +
      `64-B pps ${ratio(v, 'veth', 'pps')} of veth, ${ratio(v, 'vxlan', 'pps')} of VXLAN (median, min–max over rounds)`);
  }
  for (const v of ['relay-chacha', 'relay-aes'] as const) {
    if (!by(v).length || !by('relay').length) continue;
    lines.push(`${v} (encrypted) vs the clear relay, same rounds: TCP ${ratio(v, 'relay', 'tcpMbps')}, 64-B pps ${ratio(v, 'relay', 'pps')} ` +
      '(targets: TCP >= 0.6, pps >= 0.8)');
  }
  if (by('reference').length && by('relay').length) {
    lines.push(`relay vs the reference C prototype: TCP ${ratio('relay', 'reference', 'tcpMbps')}, 64-B pps ${ratio('relay', 'reference', 'pps')}; ` +
      `reference: TCP ${ratio('reference', 'vxlan', 'tcpMbps')} of kernel VXLAN`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child-relay') { relayChild(JSON.parse(argv[1]) as RelaySpec); return; }
  if (argv[0] === '--child-send') { blastSend(argv[1], argv[2], Number(argv[3]), Number(argv[4])); return; }
  if (argv[0] === '--child-recv') { blastRecv(argv[1], Number(argv[2]), Number(argv[3])); return; }
  const a = parseArgs(argv);
  const bed = createPair({ prefix: 'dnb', subnet: '10.99.0' });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { bed.destroy(); process.exit(130); });
  const samples: Sample[] = [];
  try {
    if (a.only.includes('vxlan')) vxlanUp(bed);
    for (let r = 0; r < a.rounds; r++) {
      for (const v of a.only as Variant[]) {
        const s = await measure(bed, v, r, a);
        samples.push(s);
        process.stderr.write(`round ${r + 1}/${a.rounds} ${v}: ${fmt(s.tcpMbps)} Mbit/s (${s.retrans} retr), ${fmt(s.pps)} pps` +
          `${s.cpuPct ? `, relay CPU ${fmt(s.cpuPct)} %, ${fmt(s.usPerPkt, 1)} µs/packet` : ''}\n`);
      }
    }
  } finally {
    bed.destroy();
  }
  console.log(report(samples, a));
  console.log(`\nraw: ${JSON.stringify(samples)}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
