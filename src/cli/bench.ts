// `decent bench`: decent next to plain veth routing and the kernel's VXLAN on a netns testbed,
// with a table on stdout (or --json) and, with --out, JSON + markdown + SVG chart files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CASES, type CaseName } from '../bench/cases';
import { renderMarkdown, renderText } from '../bench/render';
import { runBench, type BenchOptions } from '../bench/run';
import { renderSvg } from '../bench/svg';
import { VARIANTS, type Variant } from '../bench/testbed';
import { wireguardAvailable } from '../bench/wireguard';
import { flagOption, stringOption, UsageError, type Command } from './command';

const MICRO = ['micro', 'fib', 'codec'];

export const benchCommand: Command = {
  name: 'bench',
  summary: 'benchmark decent (clear and encrypted) against plain veth routing, kernel VXLAN and wireguard-go in network namespaces',
  operands: '',
  minOperands: 0,
  maxOperands: 0,
  description: [
    'Needs root, iperf3 and python3. Builds EID host A — xTR A — veth underlay (MTU 1500) — xTR B',
    '— EID host B in network namespaces and measures, in interleaved rounds so the ratios hold on',
    'a noisy machine: plain veth routing (the ceiling), kernel VXLAN over the same veth, decent',
    "(`decent run` with a static map-cache) with offloads on and off, decent encrypted (a group of two",
    'with LISP-crypto required: suite 6 ChaCha20-Poly1305, suite 5 AES-128-GCM) and wireguard-go',
    '(userspace WireGuard; needs wireguard-go and wireguard-tools). Cases: iperf3 TCP with 1 and',
    '4 streams, iperf3 UDP with 1400-byte payloads, 64-byte packets/s (a sendmmsg/recvmmsg',
    'generator: iperf3 cannot send fast enough), ping RTT; the CPU of each decent process per',
    'Gbit/s and per packet, its RSS; then FIB lookups/s and codec messages/s (micro-benchmarks,',
    'from a source checkout). Each figure is the median with min–max over rounds; a run during',
    'which other processes used more than 10 % of a CPU is flagged.',
    '',
    `--only takes a comma list of variants (${VARIANTS.join(', ')}), cases (${CASES.join(', ')})`,
    'and micro; each kind not named keeps its default. Progress goes to stderr.',
  ].join('\n'),
  options: [
    { name: 'rounds', type: 'string', placeholder: 'N', description: 'rounds of every case (default 3)' },
    { name: 'quick', type: 'boolean', description: 'one short round of TCP and 64-byte tests (under a minute)' },
    { name: 'json', type: 'boolean', description: 'print the result as one JSON object' },
    { name: 'out', type: 'string', placeholder: 'DIR', description: 'write bench.json, bench.md and bench.svg to DIR' },
    { name: 'only', type: 'string', placeholder: 'LIST', description: 'run only these variants / cases (comma list)' },
  ],
  examples: ['bench --quick', 'bench --rounds 5 --out docs/bench', 'bench --only decent,vxlan,tcp1 --json',
    'bench --only decent,decent-encrypted,decent-encrypted-aes,wireguard-go,tcp1,pps --rounds 5'],
  async run(args, io) {
    const o = options(args.options.get('quick') === true, stringOption(args, 'rounds'), stringOption(args, 'only'));
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      io.err('decent bench: needs root (network namespaces): run it with sudo\n');
      return 1;
    }
    if (o.variants.includes('wireguard-go') && !wireguardAvailable()) {
      io.err('decent bench: wireguard-go or wg is not installed (apt-get install wireguard-go wireguard-tools): the wireguard-go variant is left out\n');
      o.variants = o.variants.filter((v) => v !== 'wireguard-go');
    }
    const missing = ['iperf3', 'python3'].filter((t) => !onPath(t));
    if (missing.length && o.cases.length) {
      io.err(`decent bench: needs ${missing.join(' and ')} on PATH (e.g. apt-get install ${missing.join(' ')})\n`);
      return 1;
    }
    const started = Date.now();
    const result = await runBench({
      ...o,
      progress: (line) => io.err(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`),
    });
    const out = stringOption(args, 'out');
    if (out !== undefined) {
      fs.mkdirSync(out, { recursive: true });
      fs.writeFileSync(path.join(out, 'bench.json'), `${JSON.stringify(result, null, 2)}\n`);
      fs.writeFileSync(path.join(out, 'bench.md'), renderMarkdown(result));
      fs.writeFileSync(path.join(out, 'bench.svg'), renderSvg(result));
      io.err(`wrote ${['bench.json', 'bench.md', 'bench.svg'].map((f) => path.join(out, f)).join(', ')}\n`);
    }
    io.out(flagOption(args, 'json') ? `${JSON.stringify(result)}\n` : renderText(result));
    return result.samples.length > 0 || o.cases.length === 0 ? 0 : 1;
  },
};

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && fs.existsSync(path.join(d, tool)));
}

function options(quick: boolean, rounds: string | undefined, only: string | undefined): Omit<BenchOptions, 'progress'> {
  const o: Omit<BenchOptions, 'progress'> = quick
    ? { rounds: 1, quick, variants: ['veth', 'vxlan', 'decent', 'decent-encrypted'], cases: ['tcp1', 'pps', 'ping'], micro: false, tcpSecs: 3, udpSecs: 3, ppsSecs: 2, pings: 10 }
    : { rounds: 3, quick, variants: [...VARIANTS], cases: [...CASES], micro: true, tcpSecs: 10, udpSecs: 5, ppsSecs: 5, pings: 50 };
  if (rounds !== undefined) {
    if (!/^[1-9]\d*$/.test(rounds)) throw new UsageError(`--rounds must be a positive integer, got '${rounds}'`);
    o.rounds = Number(rounds);
  }
  if (only !== undefined) {
    const items = only.split(',').map((s) => s.trim()).filter(Boolean);
    for (const i of items) {
      if (!(VARIANTS as readonly string[]).includes(i) && !(CASES as readonly string[]).includes(i) && !MICRO.includes(i)) {
        throw new UsageError(`--only: unknown item '${i}' (variants ${VARIANTS.join(', ')}; cases ${CASES.join(', ')}; micro)`);
      }
    }
    const vs = items.filter((i): i is Variant => (VARIANTS as readonly string[]).includes(i));
    const cs = items.filter((i): i is CaseName => (CASES as readonly string[]).includes(i));
    if (vs.length) o.variants = vs;
    if (cs.length) o.cases = cs;
    o.micro = items.some((i) => MICRO.includes(i));
    // "--only micro" runs just the micro-benchmarks.
    if (o.micro && !vs.length && !cs.length) o.cases = [];
  }
  return o;
}
