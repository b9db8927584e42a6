// The measurements of one variant in one round: iperf3 TCP (1 and 4 streams), iperf3 UDP with
// 1400-byte payloads, 64-byte packets/s, and ICMP echo RTT. Each returns its figure plus the
// CPU window over it, so the runner can charge the tunnel's CPU to the traffic it carried.
import { type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { run } from '../testbed/netns';
import { pingRtts } from './ping';
import { CpuWindow } from './proc';
import { HOST_A, HOST_B, type BenchBed } from './testbed';

export const CASES = ['tcp1', 'tcp4', 'udp', 'pps', 'ping'] as const;
export type CaseName = (typeof CASES)[number];

export interface CaseResult {
  /** tcp/udp: Mbit/s received; pps: packets/s received; ping: median RTT ms. */
  value: number;
  /** Packets or bits the receiver got, for CPU per packet / per Gbit/s. */
  packets?: number;
  retrans?: number;
  lossPct?: number;
  wallSeconds: number;
  /** CPU % of one CPU used by processes other than the benchmark's during the case. */
  otherCpuPct: number;
  /** CPU seconds of each tunnel process (decent or wireguard-go; xTR A, xTR B) during the case. */
  tunnelCpuSeconds: number[];
}

const BLAST = path.join(__dirname, 'blast.js');
const PORT = 5201;

function waitFor(child: ChildProcess, want: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`${what}: no "${want}" within 10 s`)), 10_000);
    child.stdout?.on('data', (d: Buffer) => { buf += d.toString(); if (buf.includes(want)) { clearTimeout(t); resolve(); } });
    child.once('exit', (c) => { clearTimeout(t); reject(new Error(`${what} exited (${c}) before "${want}"`)); });
  });
}

function collect(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', () => resolve(out));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill();
  await gone;
}

/** Runs `body` inside a CPU window that watches the tunnel processes and every child of the bed. */
async function windowed<T>(bed: BenchBed, body: () => Promise<T>): Promise<{ r: T; w: ReturnType<CpuWindow['finish']>; tunnel: number[] }> {
  const tunnels = bed.tunnelPids();
  const w = new CpuWindow(() => bed.children.pids());
  const r = await body();
  const fin = w.finish();
  return { r, w: fin, tunnel: tunnels.map((p) => fin.perPid.get(p) ?? 0) };
}

interface IperfEnd {
  end: {
    sum_received?: { bits_per_second: number; bytes: number };
    sum_sent?: { retransmits?: number };
    sum?: { bits_per_second: number; bytes: number; lost_percent?: number; packets?: number; lost_packets?: number };
  };
}

async function iperf(bed: BenchBed, args: string[]): Promise<IperfEnd> {
  const srv = bed.children.track(bed.hostB.spawn(['iperf3', '-s', '-1', '--forceflush', '-B', HOST_B, '-p', String(PORT)]));
  try {
    await waitFor(srv, 'listening', 'iperf3 server');
    const client = run(bed.hostA, ['iperf3', '-c', HOST_B, '-p', String(PORT), '-J', ...args]);
    bed.children.track(client.child);
    return JSON.parse(await client.done) as IperfEnd;
  } finally {
    // The next case's server needs port 5201: wait until this one is gone.
    await stop(srv);
  }
}

export async function tcp(bed: BenchBed, streams: number, secs: number): Promise<CaseResult> {
  const { r, w, tunnel } = await windowed(bed, () => iperf(bed, ['-t', String(secs), '-P', String(streams)]));
  const rx = r.end.sum_received ?? { bits_per_second: 0, bytes: 0 };
  return {
    value: rx.bits_per_second / 1e6, retrans: r.end.sum_sent?.retransmits ?? 0,
    wallSeconds: w.wallSeconds, otherCpuPct: w.otherCpuPct, tunnelCpuSeconds: tunnel,
  };
}

export async function udp(bed: BenchBed, secs: number): Promise<CaseResult> {
  const { r, w, tunnel } = await windowed(bed, () => iperf(bed, ['-u', '-b', '0', '-l', '1400', '-t', String(secs)]));
  // The receiver's side: what crossed the tunnel, not what the sender managed to write.
  const rx = r.end.sum_received ?? { bits_per_second: 0, bytes: 0 };
  return {
    value: rx.bits_per_second / 1e6, packets: rx.bytes / 1400, lossPct: r.end.sum?.lost_percent ?? 0,
    wallSeconds: w.wallSeconds, otherCpuPct: w.otherCpuPct, tunnelCpuSeconds: tunnel,
  };
}

export async function pps64(bed: BenchBed, secs: number): Promise<CaseResult> {
  const { r, w, tunnel } = await windowed(bed, async () => {
    const sink = bed.children.track(bed.hostB.spawn([process.execPath, BLAST, 'recv', HOST_B, '9000', String(secs)]));
    const out = collect(sink);
    await waitFor(sink, 'listening', 'packet sink');
    const tx = run(bed.hostA, [process.execPath, BLAST, 'send', HOST_A, HOST_B, '9000', String(secs)]);
    bed.children.track(tx.child);
    await tx.done;
    return JSON.parse((await out).trim().split('\n').pop() ?? '{}') as { received?: number; pps?: number };
  });
  return { value: r.pps ?? 0, packets: r.received ?? 0, wallSeconds: w.wallSeconds, otherCpuPct: w.otherCpuPct, tunnelCpuSeconds: tunnel };
}

export async function ping(bed: BenchBed, count: number): Promise<CaseResult> {
  const { r, w, tunnel } = await windowed(bed, () => Promise.resolve(pingRtts(bed.hostA, HOST_B, count)));
  if (r.length === 0) throw new Error(`no echo reply from ${HOST_B}`);
  const s = [...r].sort((a, b) => a - b);
  const m = s.length >> 1;
  const median = s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  return { value: median, packets: r.length, wallSeconds: w.wallSeconds, otherCpuPct: w.otherCpuPct, tunnelCpuSeconds: tunnel };
}

/**
 * Waits until an echo crosses the testbed: quick with a static map-cache; an encrypted group
 * first registers, resolves and agrees keys (nothing crosses before, encryption is required).
 */
export async function reachable(bed: BenchBed, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (pingRtts(bed.hostA, HOST_B, 1, 0, 0.5).length > 0) return;
    if (Date.now() > deadline) throw new Error(`${HOST_A} cannot reach ${HOST_B} through the testbed`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
