// The benchmark's result as a terminal table and as a markdown table (for docs/ and the README).
import type { CaseName } from './cases';
import type { BenchResult, VariantSummary } from './run';
import type { Summary } from './stats';
import type { Variant } from './testbed';

const fmt = (x: number, d = 0): string => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const LABEL: Record<Variant, string> = {
  veth: 'plain veth routing', vxlan: 'kernel VXLAN', decent: 'decent', 'decent-nooffload': 'decent, offloads off',
  'decent-encrypted': 'decent, suite 6 ChaCha20-Poly1305', 'decent-encrypted-aes': 'decent, suite 5 AES-128-GCM',
  'wireguard-go': 'wireguard-go',
};

function cell(s: Summary | null | undefined, d = 0): string {
  if (!s) return '–';
  return s.n > 1 ? `${fmt(s.median, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})` : fmt(s.median, d);
}

function variants(r: BenchResult): [Variant, VariantSummary][] {
  return r.settings.variants.flatMap((v): [Variant, VariantSummary][] => { const s = r[v]; return s ? [[v, s]] : []; });
}

const COLUMNS: [CaseName, string, number][] = [
  ['tcp1', 'TCP 1 stream Mbit/s', 0], ['tcp4', 'TCP 4 streams Mbit/s', 0], ['udp', 'UDP 1400 B Mbit/s', 0],
  ['pps', '64 B packets/s', 0], ['ping', 'ping RTT ms', 3],
];

/** Header and rows of the main table: one row per variant, one column per case that ran. */
function mainTable(r: BenchResult): { headers: string[]; rows: string[][] } {
  const cols = COLUMNS.filter(([c]) => r.settings.cases.includes(c));
  return {
    headers: ['variant', ...cols.map(([, h]) => h)],
    rows: variants(r).map(([v, s]) => [LABEL[v], ...cols.map(([c, , d]) => cell(s.detail[c], d))]),
  };
}

/** Encryption (issue 15): each tunnel against decent unencrypted, per round, and the targets. */
function encryptionTable(r: BenchResult): { headers: string[]; rows: string[][] } | undefined {
  const vs = variants(r).filter(([v]) => v === 'decent' || v.startsWith('decent-encrypted') || v === 'wireguard-go');
  if (!vs.some(([v]) => v !== 'decent')) return undefined;
  const ratio = (v: Variant, k: 'tcp' | 'pps' | 'cpu_per_gbps'): string => (v === 'decent' ? '1' : cell(r.vs_decent[v]?.[k], 2));
  return {
    headers: ['variant', 'inner MTU', 'TCP 1 stream Mbit/s', '× decent', '64 B packets/s', '× decent', 'CPU % per Gbit/s (both xTRs)', '× decent'],
    rows: vs.map(([v, s]) => [LABEL[v], String(s.inner_mtu), cell(s.detail.tcp1), ratio(v, 'tcp'), cell(s.detail.pps), ratio(v, 'pps'),
      cell(s.cpu?.pct_per_gbps_tcp_both, 1), ratio(v, 'cpu_per_gbps')]),
  };
}

function encryptionNotes(r: BenchResult): string[] {
  const out: string[] = [];
  for (const v of ['decent-encrypted', 'decent-encrypted-aes'] as const) {
    const x = r.vs_decent[v];
    if (!x) continue;
    const wg = r.encrypted_vs_wireguard_tcp[v];
    out.push(`${LABEL[v]}: TCP ${cell(x.tcp, 2)} of decent unencrypted (target ≥ 0.6)`
      + `${wg ? `, ${cell(wg, 2)} of wireguard-go (target ≥ 2)` : ''}; 64-byte packets/s ${cell(x.pps, 2)} (target ≥ 0.8); per round, median (min–max)`);
  }
  return out;
}

const pair = (xs: (number | null)[] | undefined, d: number): string => (xs ?? []).map((x) => (x === null ? '–' : fmt(x, d))).join(' / ');
const num = (x: number | null, d: number, suffix = ''): string => (x === null ? 'n/a' : `${fmt(x, d)}${suffix}`);

/** The lines under the table: ratios, decent's CPU and memory, micro-benchmarks, load. */
function notes(r: BenchResult): string[] {
  const ran = r.settings.variants;
  // the kernel comparisons only when the kernel's paths ran
  const lines = ran.includes('decent') && (ran.includes('veth') || ran.includes('vxlan')) ? [
    `decent vs kernel VXLAN, TCP 1 stream: ${num(r.ratio_tcp_vs_vxlan, 2)} (target ≥ 0.75); vs plain veth: ${num(r.ratio_tcp_vs_veth, 2)}`,
    `decent 64-byte packets/s vs plain veth: ${num(r.ratio_pps_vs_veth, 2)}, vs VXLAN: ${num(r.ratio_pps_vs_vxlan, 2)} (target ≥ 140,000 packets/s: ${num(r.decent.pps64, 0)})`,
    `latency decent adds over plain veth (ping RTT): ${num(r.added_latency_ms, 3, ' ms')} (target < 0.2 ms)`,
  ] : [];
  for (const [v, s] of variants(r)) {
    if (!s.cpu) continue;
    lines.push(`${LABEL[v]} (inner MTU ${s.inner_mtu}) CPU per process (xTR A / xTR B): ${pair(s.cpu.pct_per_gbps_tcp, 0)} % of a CPU per Gbit/s of TCP; `
      + `${pair(s.cpu.us_per_packet_64, 2)} µs per 64-byte packet; ${pair(s.cpu.us_per_packet_1400, 2)} µs per 1400-byte packet; `
      + `RSS ${num(s.rss_mb ?? null, 0, ' MB')}`);
  }
  lines.push(...encryptionNotes(r));
  if (r.fib_lookups_per_s) {
    lines.push(`FIB lookups/s (${fmt(r.fib_lookups_per_s.prefixes)} IPv4 prefixes): ${fmt(r.fib_lookups_per_s.lookup4 / 1e6, 1)} M single, ${fmt(r.fib_lookups_per_s.lookup4Batch / 1e6, 1)} M batched`);
  }
  if (r.codec_msgs_per_s) {
    const c = r.codec_msgs_per_s;
    lines.push(`codec messages/s: decode Map-Register ${fmt(c.decodeMapRegister / 1e3)} k, encode ${fmt(c.encodeMapRegister / 1e3)} k, data header ${fmt(c.readDataHeader / 1e6, 1)} M`);
  }
  const m = r.machine;
  lines.push(`machine: Linux ${m.kernel}, ${m.cpus} × ${m.cpu_model}, Node ${m.node}; load average ${m.loadavg_start[0]} at start, ${m.loadavg_end[0]} at end; `
    + `busiest background load during a case: ${fmt(r.max_other_cpu_pct)} % of a CPU; ${r.flagged_runs.length} of ${r.samples.length} runs flagged (others > 10 % of a CPU)`);
  lines.push(`${r.settings.rounds} interleaved round(s); TCP ${r.settings.tcp_secs} s, UDP ${r.settings.udp_secs} s, 64-byte ${r.settings.pps_secs} s, ${r.settings.pings} pings; `
    + `inner MTU ${r.settings.eid_mtu} unless a variant's tunnel leaves less (encrypted decent, wireguard-go); median (min–max) over rounds`);
  return lines;
}

function textTable({ headers, rows }: { headers: string[]; rows: string[][] }): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), ''];
}

function markdownTable({ headers, rows }: { headers: string[]; rows: string[][] }): string[] {
  return [
    `| ${headers.join(' | ')} |`,
    `|${headers.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((x) => `| ${x.join(' | ')} |`),
    '',
  ];
}

export function renderText(r: BenchResult): string {
  const enc = encryptionTable(r);
  return [...textTable(mainTable(r)), ...(enc ? textTable(enc) : []), ...notes(r), ''].join('\n');
}

export function renderMarkdown(r: BenchResult): string {
  const enc = encryptionTable(r);
  return [
    `# decent bench — ${r.date.slice(0, 10)}`,
    '',
    '![throughput and packet rate](bench.svg)',
    '',
    ...markdownTable(mainTable(r)),
    ...(enc ? markdownTable(enc) : []),
    ...notes(r).map((l) => `- ${l}`),
    '',
    'Testbed: EID host A — xTR A — veth underlay (MTU 1500) — xTR B — EID host B, network namespaces on one machine. '
    + 'Reproduce with `sudo npm run bench -- --out docs/bench` (or `sudo decent bench --out DIR`).',
    '',
  ].join('\n');
}
