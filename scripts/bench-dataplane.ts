// bench-dataplane: a pair of decent data planes (scripts/dataplane-runner.js, static map-cache,
// host mode: the EIDs live on each xTR's TUN) next to plain veth and the kernel's VXLAN, on one
// netns testbed, in interleaved rounds (issue 4).
//
//   npm run build && node dist/scripts/bench-dataplane.js [--rounds 3] [--tcp-secs 10] [--pps-secs 5]
//       [--pings 50] [--only veth,vxlan,decent,decent-nooffload,relay]
//
// `relay` is the addon's RawRelay (src/native/relay.ts: the same TUN/UDP path with no lookup,
// no checks): decent / relay isolates what the data plane's own per-packet work costs.
//
// Per round and variant: one iperf3 TCP stream (Mbit/s, retransmits), a 64-byte UDP flood
// (packets/s received; sendmmsg/recvmmsg generator and sink on the addon), ICMP echo RTT
// (median of --pings), and the xTRs' CPU time. We report medians with min–max, ratios to veth
// and VXLAN per round, and the latency decent adds over veth. Needs root, iproute2, iperf3,
// python3 (the pinger) and the vxlan module.
import { ChildProcess, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import * as path from 'node:path';
import { createPair, Pair, run } from './lib/netns';
import { AddressTable, D, Pool, RawRelay, RecvPool, Tun, UdpEndpoint } from '../src/native';
import { icmpPing } from './dataplane-ping';
import type { RunnerSpec } from './dataplane-runner';

interface Args { rounds: number; tcpSecs: number; ppsSecs: number; pings: number; only: string[] }

const VARIANTS = ['veth', 'vxlan', 'decent', 'decent-nooffload', 'relay'] as const;
type Variant = (typeof VARIANTS)[number];
const RUNNER = path.join(__dirname, 'dataplane-runner.js');
const SELF = __filename;

function parseArgs(argv: string[]): Args {
  const a: Args = { rounds: 3, tcpSecs: 10, ppsSecs: 5, pings: 50, only: ['veth', 'vxlan', 'decent'] };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`missing value for ${argv[i]}`);
    switch (argv[i]) {
      case '--rounds': a.rounds = Number(v); break;
      case '--tcp-secs': a.tcpSecs = Number(v); break;
      case '--pps-secs': a.ppsSecs = Number(v); break;
      case '--pings': a.pings = Number(v); break;
      case '--only': a.only = v.split(','); break;
      default: throw new Error(`unknown option ${argv[i]} (see the header of scripts/bench-dataplane.ts)`);
    }
  }
  for (const o of a.only) if (!(VARIANTS as readonly string[]).includes(o)) throw new Error(`unknown variant ${o}`);
  return a;
}

// ---------------- child roles: 64-byte UDP generator and sink (as in bench-io) ----------------

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
  console.log(JSON.stringify({ sent }));
  udp.close();
}

function blastRecv(bind: string, port: number, secs: number): void {
  const udp = UdpEndpoint.open({ address: bind, port, gso: false, gro: false, bufferBytes: 32 << 20 });
  const pool = new RecvPool({ slots: 256, slotSize: 256 });
  let got = 0, first = 0n, last = 0n;
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
    if (idle || Date.now() > deadline) {
      clearInterval(timer);
      const s = Number(last - first) / 1e9;
      console.log(JSON.stringify({ received: got, pps: s > 0 ? got / s : 0 }));
      udp.close();
      process.exit(0);
    }
  }, 200);
}

/** The raw relay in this process's namespace (child role), same TUN MTU and EIDs as decent. */
function relayChild(inner: string, local: string, peer: string): void {
  const tun = Tun.open({ name: 'lisp0', mtu: 1464, addresses: [`${inner}/24`] });
  const udp = UdpEndpoint.open({ address: local, port: 4341 });
  const relay = new RawRelay({ tun, udp, peer: { address: peer, port: 4341 } });
  relay.start();
  process.on('SIGTERM', () => { relay.stop(); process.exit(0); });
  console.log('"ready":true');
}

// ---------------- orchestration ----------------

function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop()!.trim().split(/\s+/);
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

function waitLine(child: ChildProcess, want: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => { buf += d.toString(); if (buf.includes(want)) resolve(); });
    child.on('exit', (c) => reject(new Error(`child exited (${c}) before "${want}"`)));
  });
}

const EID_A = '10.96.0.1', EID_B = '10.96.0.2';

async function startXtrs(bed: Pair, offloads: boolean): Promise<ChildProcess[]> {
  const spec = (local: string, peer: string, rloc: string, peerRloc: string): RunnerSpec => ({
    tun: 'lisp0', mtu: 1464, offloads, instanceId: 7, localEids: [`${local}/32`], rlocs: [rloc], routes: [`${peer}/32`],
    staticMapCache: [{ eid: `${peer}/32`, rlocs: [peerRloc] }],
  });
  const kids = [
    bed.a.spawn([process.execPath, RUNNER, JSON.stringify(spec(EID_A, EID_B, bed.addrA, bed.addrB))], { stdio: ['pipe', 'pipe', 'pipe'] }),
    bed.b.spawn([process.execPath, RUNNER, JSON.stringify(spec(EID_B, EID_A, bed.addrB, bed.addrA))], { stdio: ['pipe', 'pipe', 'pipe'] }),
  ];
  await Promise.all(kids.map((k) => waitLine(k, '"ready":true')));
  return kids;
}

async function startRelays(bed: Pair): Promise<ChildProcess[]> {
  const kids = [
    bed.a.spawn([process.execPath, SELF, '--child-relay', EID_A, bed.addrA, bed.addrB], { stdio: ['ignore', 'pipe', 'pipe'] }),
    bed.b.spawn([process.execPath, SELF, '--child-relay', EID_B, bed.addrB, bed.addrA], { stdio: ['ignore', 'pipe', 'pipe'] }),
  ];
  await Promise.all(kids.map((k) => waitLine(k, '"ready":true')));
  return kids;
}

async function stopXtrs(kids: ChildProcess[]): Promise<void> {
  await Promise.all(kids.map((k) => new Promise<void>((resolve) => {
    if (k.exitCode !== null) { resolve(); return; }
    k.once('exit', () => resolve());
    k.kill('SIGTERM');
  })));
}

async function tcp(bed: Pair, target: string, secs: number): Promise<{ mbps: number; retrans: number }> {
  const srv = bed.b.spawn(['iperf3', '-s', '-1', '--forceflush', '-B', target, '-p', '5201']);
  await waitLine(srv, 'listening');
  const out = await run(bed.a, ['iperf3', '-c', target, '-p', '5201', '-t', String(secs), '-J']).done;
  // wait for the server to be gone, or the next round's server may find port 5201 still bound
  if (srv.exitCode === null && srv.signalCode === null) {
    const gone = new Promise<void>((r) => srv.once('exit', () => r()));
    srv.kill();
    await gone;
  }
  const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
  return { mbps: j.end.sum_received.bits_per_second / 1e6, retrans: j.end.sum_sent.retransmits ?? 0 };
}

async function pps(bed: Pair, local: string, target: string, secs: number): Promise<number> {
  const sink = bed.b.spawn([process.execPath, SELF, '--child-recv', target, '9000', String(secs)]);
  await waitLine(sink, 'listening');
  const sinkOut = new Promise<string>((resolve) => { let o = ''; sink.stdout?.on('data', (d: Buffer) => { o += d.toString(); }); sink.on('exit', () => resolve(o)); });
  await run(bed.a, [process.execPath, SELF, '--child-send', local, target, '9000', String(secs)]).done;
  const out = await sinkOut;
  return (JSON.parse(out.trim().split('\n').pop() ?? '{}') as { pps?: number }).pps ?? 0;
}

function vxlanUp(bed: Pair): void {
  bed.a.ip(['link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'local', bed.addrA, 'remote', bed.addrB, 'dstport', '4789', 'dev', bed.vethA]);
  bed.b.ip(['link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'local', bed.addrB, 'remote', bed.addrA, 'dstport', '4789', 'dev', bed.vethB]);
  bed.a.ip(['addr', 'add', '10.97.0.1/24', 'dev', 'vx0']);
  bed.b.ip(['addr', 'add', '10.97.0.2/24', 'dev', 'vx0']);
  bed.a.ip(['link', 'set', 'vx0', 'mtu', '1450', 'up']);
  bed.b.ip(['link', 'set', 'vx0', 'mtu', '1450', 'up']);
}

const median = (x: number[]): number => { const s = [...x].sort((p, q) => p - q); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (x: number, d = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const range = (x: number[], d = 0): string => `${fmt(Math.min(...x), d)}–${fmt(Math.max(...x), d)}`;

interface Sample { variant: Variant; round: number; tcpMbps: number; retrans: number; pps: number; rttMs: number; cpuPct: number; usPerPkt: number }

async function measure(bed: Pair, v: Variant, round: number, a: Args): Promise<Sample> {
  const decent = v.startsWith('decent') || v === 'relay';
  const target = v === 'veth' ? bed.addrB : v === 'vxlan' ? '10.97.0.2' : EID_B;
  const local = v === 'veth' ? bed.addrA : v === 'vxlan' ? '10.97.0.1' : EID_A;
  const kids = v === 'relay' ? await startRelays(bed) : decent ? await startXtrs(bed, v === 'decent') : [];
  try {
    const cpu = (): number => kids.reduce((s, k) => s + cpuSeconds(k.pid ?? 0), 0);
    const warm = icmpPing(bed.a, target, { count: 3, intervalSec: 0.05 });
    if (warm.received === 0) throw new Error(`${v}: no echo reply from ${target}: ${JSON.stringify(warm)}`);
    const ping = icmpPing(bed.a, target, { count: a.pings, intervalSec: 0.02 });
    const c0 = cpu(), t0 = process.hrtime.bigint();
    const t = await tcp(bed, target, a.tcpSecs);
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpuPct = kids.length ? (100 * (cpu() - c0)) / wall : 0;
    const c1 = cpu();
    const p = await pps(bed, local, target, a.ppsSecs);
    const usPerPkt = kids.length && p > 0 ? ((cpu() - c1) * 1e6) / (p * a.ppsSecs) : 0;
    return { variant: v, round, tcpMbps: t.mbps, retrans: t.retrans, pps: p, rttMs: median(ping.rtt), cpuPct, usPerPkt };
  } finally {
    await stopXtrs(kids);
  }
}

function report(samples: Sample[], a: Args): string {
  const by = (v: Variant): Sample[] => samples.filter((s) => s.variant === v);
  const kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
  const lines: string[] = [];
  lines.push(`bench-dataplane: ${a.rounds} interleaved rounds, iperf3 TCP 1 stream ${a.tcpSecs} s, 64-byte UDP ${a.ppsSecs} s, ` +
    `${a.pings} pings; Linux ${kernel}, Node ${process.version}, ${cpus().length} CPUs`);
  lines.push('');
  lines.push('| variant | TCP Mbit/s median (min–max) | retransmits | 64-B pps median (min–max) | ping RTT ms median (min–max) | xTR CPU % (TCP) | xTR CPU µs/packet (64 B) |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const v of VARIANTS) {
    const s = by(v);
    if (!s.length) continue;
    const d = v !== 'veth' && v !== 'vxlan';
    lines.push(`| ${v} | ${fmt(median(s.map((x) => x.tcpMbps)))} (${range(s.map((x) => x.tcpMbps))}) | ${fmt(median(s.map((x) => x.retrans)))} | ` +
      `${fmt(median(s.map((x) => x.pps)))} (${range(s.map((x) => x.pps))}) | ${fmt(median(s.map((x) => x.rttMs)), 3)} (${range(s.map((x) => x.rttMs), 3)}) | ` +
      `${d ? fmt(median(s.map((x) => x.cpuPct))) : '–'} | ${d ? `${fmt(median(s.map((x) => x.usPerPkt)), 1)} (${range(s.map((x) => x.usPerPkt), 1)})` : '–'} |`);
  }
  const perRound = (num: Variant, den: Variant, f: (n: Sample, d: Sample) => number | undefined): number[] => {
    const r: number[] = [];
    for (let i = 0; i < a.rounds; i++) {
      const n = samples.find((s) => s.variant === num && s.round === i), d = samples.find((s) => s.variant === den && s.round === i);
      const x = n && d ? f(n, d) : undefined;
      if (x !== undefined && Number.isFinite(x)) r.push(x);
    }
    return r;
  };
  const show = (r: number[], d: number): string => (r.length ? `${fmt(median(r), d)} (${range(r, d)})` : 'n/a');
  const ratio = (num: Variant, den: Variant, key: 'tcpMbps' | 'pps'): string =>
    show(perRound(num, den, (n, d) => (d[key] > 0 ? n[key] / d[key] : undefined)), 2);
  lines.push('');
  for (const v of ['decent', 'decent-nooffload'] as const) {
    if (!by(v).length) continue;
    lines.push(`${v}: TCP ${ratio(v, 'veth', 'tcpMbps')} of veth, ${ratio(v, 'vxlan', 'tcpMbps')} of kernel VXLAN; ` +
      `64-B pps ${ratio(v, 'veth', 'pps')} of veth, ${ratio(v, 'vxlan', 'pps')} of VXLAN; ` +
      `added ping latency over veth ${show(perRound(v, 'veth', (n, d) => n.rttMs - d.rttMs), 3)} ms` +
      (by('relay').length ? `; TCP ${ratio(v, 'relay', 'tcpMbps')} and 64-B pps ${ratio(v, 'relay', 'pps')} of the raw relay` : '') +
      ' (median, min–max over rounds)');
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child-relay') { relayChild(argv[1], argv[2], argv[3]); return; }
  if (argv[0] === '--child-send') { blastSend(argv[1], argv[2], Number(argv[3]), Number(argv[4])); return; }
  if (argv[0] === '--child-recv') { blastRecv(argv[1], Number(argv[2]), Number(argv[3])); return; }
  const a = parseArgs(argv);
  const bed = createPair({ prefix: 'dpb', subnet: '10.95.0' });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { bed.destroy(); process.exit(130); });
  const samples: Sample[] = [];
  try {
    if (a.only.includes('vxlan')) vxlanUp(bed);
    for (let r = 0; r < a.rounds; r++) {
      for (const v of a.only as Variant[]) {
        let s: Sample;
        try {
          s = await measure(bed, v, r, a);
        } catch (e) {
          // a shared machine can make one measurement fail (e.g. a child's port still bound): skip it
          process.stderr.write(`round ${r + 1}/${a.rounds} ${v}: failed (${(e as Error).message}), skipped\n`);
          continue;
        }
        samples.push(s);
        process.stderr.write(`round ${r + 1}/${a.rounds} ${v}: ${fmt(s.tcpMbps)} Mbit/s (${s.retrans} retr), ${fmt(s.pps)} pps, ` +
          `RTT ${fmt(s.rttMs, 3)} ms${s.cpuPct ? `, xTR CPU ${fmt(s.cpuPct)} %, ${fmt(s.usPerPkt, 1)} µs/packet` : ''}\n`);
      }
    }
  } finally {
    bed.destroy();
  }
  console.log(report(samples, a));
  console.log(`\nraw: ${JSON.stringify(samples)}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
