// Runs the benchmark: rounds of every variant in turn (interleaved, so a burst of background
// load hits all variants alike and the ratios hold), then the micro-benchmarks.
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import { CASES, ping, pps64, reachable, tcp, udp, type CaseName, type CaseResult } from './cases';
import { codec, fib, type CodecResult, type FibResult } from './micro';
import { rssBytes } from './proc';
import { summarize, type Summary } from './stats';
import { BenchBed, EID_MTU, hasTunnelProcess, innerMtu, suiteOf, VARIANTS, type Variant } from './testbed';

export interface BenchOptions {
  rounds: number;
  quick: boolean;
  variants: Variant[];
  cases: CaseName[];
  micro: boolean;
  tcpSecs: number;
  udpSecs: number;
  ppsSecs: number;
  pings: number;
  progress: (line: string) => void;
}

/** Background load above this (percent of one CPU) during a case flags the run. */
export const LOAD_FLAG_PCT = 10;

export interface Sample {
  variant: Variant;
  round: number;
  case: CaseName;
  result: CaseResult;
  flagged: boolean;
}

export interface VariantSummary {
  tcp_mbps: number | null;
  tcp4_mbps: number | null;
  udp1400_mbps: number | null;
  pps64: number | null;
  rtt_ms: number | null;
  /** The EID hosts' MTU (what fits the variant's tunnel over the 1500-byte underlay). */
  inner_mtu: number;
  /** decent and wireguard-go: CPU of each tunnel process (xTR A, xTR B). */
  cpu?: {
    /** Percent of one CPU per Gbit/s of single-stream TCP, per process (A, B). */
    pct_per_gbps_tcp: (number | null)[];
    /** The same for both processes together: median (min–max) over rounds. */
    pct_per_gbps_tcp_both: Summary | null;
    /** CPU µs per 64-byte packet, per process (A, B). */
    us_per_packet_64: (number | null)[];
    /** CPU µs per 1400-byte UDP packet, per process (A, B). */
    us_per_packet_1400: (number | null)[];
  };
  rss_mb?: number | null;
  /** Median (min–max) of each case over rounds. */
  detail: Partial<Record<CaseName, Summary | null>>;
}

export interface BenchResult {
  tool: string;
  date: string;
  machine: { kernel: string; cpus: number; cpu_model: string; node: string; loadavg_start: number[]; loadavg_end: number[] };
  settings: { rounds: number; quick: boolean; tcp_secs: number; udp_secs: number; pps_secs: number; pings: number; eid_mtu: number; variants: Variant[]; cases: CaseName[] };
  veth: VariantSummary;
  vxlan: VariantSummary;
  decent: VariantSummary;
  'decent-nooffload'?: VariantSummary;
  'decent-encrypted'?: VariantSummary;
  'decent-encrypted-aes'?: VariantSummary;
  'wireguard-go'?: VariantSummary;
  /**
   * Every other variant against decent unencrypted, per round (same load), median (min–max):
   * single-stream TCP, 64-byte packets/s, and the tunnel's CPU per Gbit/s of TCP (both xTRs).
   */
  vs_decent: Partial<Record<Variant, RatioSummary>>;
  /** Encrypted decent against wireguard-go, single-stream TCP per round. */
  encrypted_vs_wireguard_tcp: Partial<Record<Variant, Summary | null>>;
  ratio_tcp_vs_vxlan: number | null;
  ratio_tcp_vs_veth: number | null;
  ratio_pps_vs_veth: number | null;
  ratio_pps_vs_vxlan: number | null;
  added_latency_ms: number | null;
  fib_lookups_per_s: FibResult | null;
  codec_msgs_per_s: CodecResult | null;
  flagged_runs: { variant: Variant; round: number; case: CaseName; other_cpu_pct: number }[];
  /** Busiest background load seen during any case, percent of one CPU. */
  max_other_cpu_pct: number;
  samples: Sample[];
}

export interface RatioSummary { tcp: Summary | null; pps: Summary | null; cpu_per_gbps: Summary | null }

const fmt = (x: number, d = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

function describe(c: CaseName, r: CaseResult): string {
  const cpu = r.tunnelCpuSeconds.length ? `, tunnel CPU ${r.tunnelCpuSeconds.map((s) => fmt((100 * s) / r.wallSeconds)).join('+')} %` : '';
  const load = `, others ${fmt(r.otherCpuPct)} %${r.otherCpuPct > LOAD_FLAG_PCT ? ' (FLAGGED)' : ''}`;
  switch (c) {
    case 'tcp1': case 'tcp4': return `${fmt(r.value)} Mbit/s, ${r.retrans ?? 0} retr${cpu}${load}`;
    case 'udp': return `${fmt(r.value)} Mbit/s, loss ${fmt(r.lossPct ?? 0, 1)} %${cpu}${load}`;
    case 'pps': return `${fmt(r.value)} packets/s${cpu}${load}`;
    case 'ping': return `RTT ${fmt(r.value, 3)} ms${load}`;
  }
}

async function measure(bed: BenchBed, c: CaseName, o: BenchOptions): Promise<CaseResult> {
  switch (c) {
    case 'tcp1': return tcp(bed, 1, o.tcpSecs);
    case 'tcp4': return tcp(bed, 4, o.tcpSecs);
    case 'udp': return udp(bed, o.udpSecs);
    case 'pps': return pps64(bed, o.ppsSecs);
    case 'ping': return ping(bed, o.pings);
  }
}

async function retry<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch {
    await new Promise((r) => setTimeout(r, 500));
    return f();
  }
}

/** Rough duration of one variant's cases, for the progress display's estimate. */
function stepSeconds(c: CaseName, o: BenchOptions): number {
  return c === 'tcp1' || c === 'tcp4' ? o.tcpSecs + 1 : c === 'udp' ? o.udpSecs + 1 : c === 'pps' ? o.ppsSecs + 2 : o.pings * 0.03 + 0.5;
}

/** Percent of one CPU per Gbit/s of TCP, both tunnel processes together. */
function cpuPerGbps(r: CaseResult): number {
  const cpu = r.tunnelCpuSeconds.reduce((a, b) => a + b, 0);
  return r.value > 0 && r.tunnelCpuSeconds.length ? (100 * cpu) / r.wallSeconds / (r.value / 1000) : NaN;
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const loadStart = os.loadavg();
  const samples: Sample[] = [];
  const rss = new Map<Variant, number[]>();
  const started = Date.now();
  const total = o.rounds * o.variants.length * o.cases.length;
  const perRound = o.variants.length * o.cases.reduce((s, c) => s + stepSeconds(c, o) + 1, 0);
  let done = 0;
  if (total > 0) await runRounds();
  async function runRounds(): Promise<void> {
    const bed = new BenchBed();
    const onSignal = (): void => { bed.destroy(); process.exit(130); };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      o.progress(`testbed up: host A — xTR A — veth — xTR B — host B; ${o.rounds} round(s) × ${o.variants.join(', ')} × ${o.cases.join(', ')}`);
      for (let round = 0; round < o.rounds; round++) {
        for (const v of o.variants) {
          try {
            // A second try: on a shared machine a start can trip over a rebuilt binary or a slow fork.
            await retry(async () => {
              await bed.use(v);
              await reachable(bed, suiteOf(v) ? 30_000 : 10_000);
              // an encrypted variant must measure what it says: sealed with its suite
              if (suiteOf(v)) await bed.sendKey(v);
            });
          } catch (e) {
            o.progress(`round ${round + 1}/${o.rounds} ${v}: could not start (${(e as Error).message}); skipped`);
            done += o.cases.length;
            continue;
          }
          for (const c of o.cases) {
            done++;
            const left = Math.max(0, (o.rounds * perRound * (total - done)) / total);
            const tag = `[${done}/${total}, ${fmt((Date.now() - started) / 1000)} s, ~${fmt(left)} s left] round ${round + 1}/${o.rounds} ${v} ${c}`;
            try {
              const result = await retry(() => measure(bed, c, o));
              const flagged = result.otherCpuPct > LOAD_FLAG_PCT;
              samples.push({ variant: v, round, case: c, result, flagged });
              o.progress(`${tag}: ${describe(c, result)}`);
            } catch (e) {
              // One failed measurement on a shared machine must not cost the whole run.
              o.progress(`${tag}: failed (${(e as Error).message}); skipped`);
            }
          }
          const mem = bed.tunnelPids().map((p) => rssBytes(p) ?? 0);
          if (mem.length) rss.set(v, [...(rss.get(v) ?? []), Math.max(...mem)]);
        }
      }
      await bed.stopXtrs();
    } finally {
      bed.destroy();
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  }
  let fibR: FibResult | undefined, codecR: CodecResult | undefined;
  if (o.micro) {
    o.progress('micro-benchmarks: FIB lookups/s (100k IPv4 prefixes), codec messages/s');
    fibR = await fib(o.quick);
    codecR = await codec(o.quick);
  }
  return summarizeRun(o, samples, rss, loadStart, fibR, codecR);
}

function summarizeRun(o: BenchOptions, samples: Sample[], rss: Map<Variant, number[]>, loadStart: number[],
  fibR: FibResult | undefined, codecR: CodecResult | undefined): BenchResult {
  const of = (v: Variant, c: CaseName): Sample[] => samples.filter((s) => s.variant === v && s.case === c);
  const med = (v: Variant, c: CaseName): number | null => summarize(of(v, c).map((s) => s.result.value))?.median ?? null;
  /** Per process i: median over rounds of f(sample, cpu seconds of process i). */
  const perProc = (v: Variant, c: CaseName, f: (s: CaseResult, cpu: number) => number): (number | null)[] =>
    [0, 1].map((i) => summarize(of(v, c).filter((s) => s.result.tunnelCpuSeconds.length > i).map((s) => f(s.result, s.result.tunnelCpuSeconds[i])))?.median ?? null);
  const variant = (v: Variant): VariantSummary => {
    const detail: Partial<Record<CaseName, Summary | null>> = {};
    for (const c of o.cases) detail[c] = summarize(of(v, c).map((s) => s.result.value));
    const out: VariantSummary = {
      tcp_mbps: med(v, 'tcp1'), tcp4_mbps: med(v, 'tcp4'), udp1400_mbps: med(v, 'udp'), pps64: med(v, 'pps'), rtt_ms: med(v, 'ping'),
      inner_mtu: innerMtu(v), detail,
    };
    if (hasTunnelProcess(v)) {
      out.cpu = {
        pct_per_gbps_tcp: perProc(v, 'tcp1', (r, cpu) => (r.value > 0 ? (100 * cpu) / r.wallSeconds / (r.value / 1000) : NaN)),
        pct_per_gbps_tcp_both: summarize(of(v, 'tcp1').map((s) => cpuPerGbps(s.result))),
        us_per_packet_64: perProc(v, 'pps', (r, cpu) => (r.packets ? (cpu * 1e6) / r.packets : NaN)),
        us_per_packet_1400: perProc(v, 'udp', (r, cpu) => (r.packets ? (cpu * 1e6) / r.packets : NaN)),
      };
      const m = summarize(rss.get(v) ?? []);
      out.rss_mb = m ? m.median / 2 ** 20 : null;
    }
    return out;
  };
  /** Per-round comparisons of two variants (same round = same load), summarised over rounds. */
  const pairedSummary = (a: Variant, b: Variant, c: CaseName, f: (x: CaseResult, y: CaseResult) => number): Summary | null => {
    const r: number[] = [];
    for (let i = 0; i < o.rounds; i++) {
      const x = of(a, c).find((s) => s.round === i), y = of(b, c).find((s) => s.round === i);
      if (x && y) r.push(f(x.result, y.result));
    }
    return summarize(r);
  };
  const paired = (a: Variant, b: Variant, c: CaseName, f: (x: number, y: number) => number): number | null =>
    pairedSummary(a, b, c, (x, y) => f(x.value, y.value))?.median ?? null;
  const ratio = (x: number, y: number): number => (y > 0 ? x / y : NaN);
  const vsDecent: Partial<Record<Variant, RatioSummary>> = {};
  const vsWireguard: Partial<Record<Variant, Summary | null>> = {};
  for (const v of o.variants) {
    if (v === 'decent' || !o.variants.includes('decent')) continue;
    vsDecent[v] = {
      tcp: pairedSummary(v, 'decent', 'tcp1', (x, y) => ratio(x.value, y.value)),
      pps: pairedSummary(v, 'decent', 'pps', (x, y) => ratio(x.value, y.value)),
      cpu_per_gbps: hasTunnelProcess(v) ? pairedSummary(v, 'decent', 'tcp1', (x, y) => ratio(cpuPerGbps(x), cpuPerGbps(y))) : null,
    };
  }
  for (const v of o.variants) {
    if (suiteOf(v) && o.variants.includes('wireguard-go')) vsWireguard[v] = pairedSummary(v, 'wireguard-go', 'tcp1', (x, y) => ratio(x.value, y.value));
  }
  const cpuModel = os.cpus()[0]?.model ?? 'unknown';
  const result: BenchResult = {
    tool: 'decent bench',
    date: new Date().toISOString(),
    machine: {
      kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(), cpus: os.cpus().length, cpu_model: cpuModel, node: process.version,
      loadavg_start: loadStart.map((x) => Number(x.toFixed(2))), loadavg_end: os.loadavg().map((x) => Number(x.toFixed(2))),
    },
    settings: {
      rounds: o.rounds, quick: o.quick, tcp_secs: o.tcpSecs, udp_secs: o.udpSecs, pps_secs: o.ppsSecs, pings: o.pings, eid_mtu: EID_MTU,
      variants: o.variants, cases: o.cases,
    },
    veth: variant('veth'),
    vxlan: variant('vxlan'),
    decent: variant('decent'),
    ratio_tcp_vs_vxlan: paired('decent', 'vxlan', 'tcp1', ratio),
    ratio_tcp_vs_veth: paired('decent', 'veth', 'tcp1', ratio),
    ratio_pps_vs_veth: paired('decent', 'veth', 'pps', ratio),
    ratio_pps_vs_vxlan: paired('decent', 'vxlan', 'pps', ratio),
    added_latency_ms: paired('decent', 'veth', 'ping', (x, y) => x - y),
    vs_decent: vsDecent,
    encrypted_vs_wireguard_tcp: vsWireguard,
    fib_lookups_per_s: fibR ?? null,
    codec_msgs_per_s: codecR ?? null,
    flagged_runs: samples.filter((s) => s.flagged).map((s) => ({ variant: s.variant, round: s.round, case: s.case, other_cpu_pct: Number(s.result.otherCpuPct.toFixed(1)) })),
    max_other_cpu_pct: Number(Math.max(0, ...samples.map((s) => s.result.otherCpuPct)).toFixed(1)),
    samples,
  };
  for (const v of ['decent-nooffload', 'decent-encrypted', 'decent-encrypted-aes', 'wireguard-go'] as const) {
    if (o.variants.includes(v)) result[v] = variant(v);
  }
  return result;
}

export { CASES, VARIANTS };
