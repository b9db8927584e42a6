// A hand-written SVG chart of the benchmark (no plotting dependency): throughput bars for the
// TCP and UDP cases and a packets/s panel, decent (clear and encrypted) next to plain veth, kernel
// VXLAN and wireguard-go, with min–max whiskers over rounds.
import type { CaseName } from './cases';
import type { BenchResult } from './run';
import type { Summary } from './stats';
import type { Variant } from './testbed';

const COLOR: Record<Variant, string> = {
  veth: '#9aa5b1', vxlan: '#4c78a8', decent: '#e45756', 'decent-nooffload': '#f2a39f',
  'decent-encrypted': '#b279a2', 'decent-encrypted-aes': '#d6a5c9', 'wireguard-go': '#54a24b',
};
const LABEL: Record<Variant, string> = {
  veth: 'plain veth', vxlan: 'kernel VXLAN', decent: 'decent', 'decent-nooffload': 'decent (offloads off)',
  'decent-encrypted': 'decent, ChaCha20-Poly1305', 'decent-encrypted-aes': 'decent, AES-128-GCM', 'wireguard-go': 'wireguard-go',
};

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A "nice" axis maximum: 1, 2, 2.5 or 5 × 10^k at or above x (quarters give round gridlines). */
function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  return ([1, 2, 2.5, 5, 10].find((m) => m * p >= x) ?? 10) * p;
}

function short(x: number): string {
  return x >= 1e6 ? `${+(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${+(x / 1e3).toFixed(1)}k` : `${+x.toFixed(0)}`;
}

interface Panel { x: number; w: number; title: string; unit: string; groups: { label: string; bars: { v: Variant; s: Summary }[] }[] }

function panel(p: Panel, top: number, h: number): string[] {
  const out: string[] = [];
  const max = niceMax(Math.max(0, ...p.groups.flatMap((g) => g.bars.map((b) => b.s.max))));
  const y = (v: number): number => top + h - (h * v) / max;
  out.push(`<text x="${p.x + p.w / 2}" y="${top - 14}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    out.push(`<line x1="${p.x}" x2="${p.x + p.w}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${p.x - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${short(v)}</text>`);
  }
  out.push(`<text transform="translate(${p.x - 44},${top + h / 2}) rotate(-90)" text-anchor="middle" font-size="11">${esc(p.unit)}</text>`);
  const gw = p.w / Math.max(1, p.groups.length);
  p.groups.forEach((g, gi) => {
    const bw = Math.min(48, (gw - 16) / Math.max(1, g.bars.length));
    const x0 = p.x + gi * gw + (gw - bw * g.bars.length) / 2;
    g.bars.forEach((b, bi) => {
      const x = x0 + bi * bw;
      out.push(`<rect x="${x + 2}" y="${y(b.s.median)}" width="${bw - 4}" height="${top + h - y(b.s.median)}" fill="${COLOR[b.v]}"><title>${esc(`${LABEL[b.v]} ${g.label}: ${short(b.s.median)} (${short(b.s.min)}–${short(b.s.max)})`)}</title></rect>`);
      if (b.s.n > 1) {
        const cx = x + bw / 2;
        out.push(`<path d="M${cx} ${y(b.s.min)}V${y(b.s.max)}M${cx - 4} ${y(b.s.min)}h8M${cx - 4} ${y(b.s.max)}h8" stroke="#333" fill="none"/>`);
      }
      out.push(`<text x="${x + bw / 2}" y="${y(b.s.max) - 4}" text-anchor="middle" font-size="10">${short(b.s.median)}</text>`);
    });
    out.push(`<text x="${p.x + gi * gw + gw / 2}" y="${top + h + 16}" text-anchor="middle" font-size="12">${esc(g.label)}</text>`);
  });
  out.push(`<line x1="${p.x}" x2="${p.x + p.w}" y1="${top + h}" y2="${top + h}" stroke="#333"/>`);
  return out;
}

/** "decent vs plain veth, kernel VXLAN and wireguard-go": the references that ran. */
function title(variants: readonly Variant[]): string {
  const refs = variants.filter((v) => !v.startsWith('decent')).map((v) => LABEL[v]);
  const list = refs.length > 1 ? `${refs.slice(0, -1).join(', ')} and ${refs[refs.length - 1]}` : refs[0];
  return list ? `decent vs ${list}` : 'decent';
}

export function renderSvg(r: BenchResult): string {
  const variants = r.settings.variants;
  const group = (c: CaseName, label: string): Panel['groups'][number] => ({
    label,
    bars: variants.flatMap((v) => { const s = r[v]?.detail[c]; return s ? [{ v, s }] : []; }),
  });
  const tput = [group('tcp1', 'TCP, 1 stream'), group('tcp4', 'TCP, 4 streams'), group('udp', 'UDP, 1400 B')].filter((g) => g.bars.length);
  const pps = [group('pps', '64-byte UDP')].filter((g) => g.bars.length);
  const rows = Math.ceil(variants.length / 4);
  const W = 900, H = 400 + 20 * rows, top = 70, h = 260;
  const tw = pps.length ? 520 : 800;
  const body = [
    ...panel({ x: 70, w: tw, title: 'Throughput', unit: 'Mbit/s', groups: tput }, top, h),
    ...(pps.length ? panel({ x: 70 + tw + 90, w: W - tw - 180, title: 'Packet rate', unit: 'packets/s', groups: pps }, top, h) : []),
  ];
  // four legend entries per row
  const legend = variants.map((v, i) => {
    const lx = 70 + (i % 4) * 200, ly = H - 20 * rows - 10 + Math.floor(i / 4) * 20;
    return `<rect x="${lx}" y="${ly}" width="14" height="14" fill="${COLOR[v]}"/><text x="${lx + 20}" y="${ly + 12}" font-size="12">${esc(LABEL[v])}</text>`;
  });
  const m = r.machine;
  const sub = `${r.settings.rounds} interleaved round(s), median with min–max; Linux ${m.kernel}, ${m.cpus} CPUs, load ${m.loadavg_start[0]}; ${r.date.slice(0, 10)}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title(variants))} (netns testbed)</text>`,
    `<text x="${W / 2}" y="40" text-anchor="middle" font-size="11" fill="#555">${esc(sub)}</text>`,
    ...body,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
