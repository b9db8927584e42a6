/**
 * Micro-benchmark of the map-cache FIB (src/mapping): lookups per second with 10k, 100k and 1M
 * IPv4 prefixes and 100k IPv6 prefixes, and bytes per entry.
 *
 * Prefixes are random, with lengths drawn like a real routing table (mostly /24 for IPv4, /48 and
 * /32 for IPv6, plus a few host routes as a LISP map-cache has). Lookup addresses are random hosts
 * inside random prefixes (90%) or fully random (10%), so most hit and they stay out of cache
 * order. The reader is a plain FibReader on the shared buffers, as the data plane will hold.
 *
 * Usage: node dist/scripts/bench-fib.js [repetitions=7] [--quick] [--sizes=10000,100000] [--no-v6]
 */
import { FibReader, FibWriter, makePrefix } from '../src/mapping/fib';
import { rng } from './lib/rng';

type Weighted = readonly (readonly [number, number])[];

// Approximate shares of the 2024 BGP tables, with LISP-style host routes added.
const V4_LENGTHS: Weighted = [
  [8, 0.0002], [10, 0.0004], [12, 0.001], [13, 0.002], [14, 0.003], [15, 0.004], [16, 0.013], [17, 0.01],
  [18, 0.016], [19, 0.025], [20, 0.045], [21, 0.05], [22, 0.12], [23, 0.1], [24, 0.59], [26, 0.002],
  [28, 0.002], [30, 0.001], [32, 0.007],
];
const V6_LENGTHS: Weighted = [
  [24, 0.001], [28, 0.004], [29, 0.04], [30, 0.01], [32, 0.12], [33, 0.01], [34, 0.01], [35, 0.01], [36, 0.04],
  [38, 0.01], [40, 0.06], [42, 0.02], [44, 0.08], [45, 0.02], [46, 0.03], [47, 0.03], [48, 0.45], [52, 0.005],
  [56, 0.02], [64, 0.01], [128, 0.02],
];

function picker(table: Weighted, next: () => number): () => number {
  const total = table.reduce((sum, [, w]) => sum + w, 0);
  return () => {
    let x = (next() / 2 ** 32) * total;
    for (const [length, w] of table) {
      if (x < w) return length;
      x -= w;
    }
    return (table[table.length - 1] as readonly [number, number])[0];
  };
}

function mask(word: number, bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return word >>> 0;
  return (word & (0xffffffff << (32 - bits))) >>> 0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function fmtRate(perSecond: number): string {
  return `${(perSecond / 1e6).toFixed(1)} M/s`;
}

interface Built {
  readonly writer: FibWriter;
  readonly reader: FibReader;
  readonly queries: Uint32Array;
  readonly buildSeconds: number;
}

const IID = 1000;
const QUERIES = 1 << 20;

/** RLOC sets: half the entries single-homed, half with two RLOCs (IPv4). */
function rlocsFor(i: number): { address: string; priority: number; weight: number }[] {
  const a = { address: `192.0.${(i >>> 8) & 255}.${i & 255}`, priority: 1, weight: 50 };
  return i % 2 === 0 ? [a] : [a, { address: `198.51.${(i >>> 8) & 255}.${i & 255}`, priority: 1, weight: 50 }];
}

function buildV4(count: number, seed: number): Built {
  const next = rng(seed);
  const length = picker(V4_LENGTHS, next);
  const writer = new FibWriter({ maxEntries: count, maxInstances: 2, reclaimDelayMs: 0 });
  const prefixes: number[] = [];
  const seen = new Set<number>();
  const started = process.hrtime.bigint();
  while (prefixes.length < count) {
    const l = length();
    const address = mask(next(), l);
    const key = address * 64 + l;
    if (seen.has(key)) continue;
    seen.add(key);
    writer.upsert({ iid: IID, prefix: makePrefix(4, [address], l), rlocs: rlocsFor(prefixes.length), ttlSeconds: 86400 });
    prefixes.push(key);
  }
  const buildSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const queries = new Uint32Array(QUERIES);
  for (let i = 0; i < QUERIES; i++) {
    if (next() % 10 === 0) {
      queries[i] = next();
      continue;
    }
    const key = prefixes[next() % prefixes.length] as number;
    const l = key % 64;
    const address = Math.floor(key / 64);
    queries[i] = (address | (l === 32 ? 0 : next() & (0xffffffff >>> l))) >>> 0;
  }
  return { writer, reader: new FibReader(writer.buffers), queries, buildSeconds };
}

function buildV6(count: number, seed: number): Built {
  const next = rng(seed);
  const length = picker(V6_LENGTHS, next);
  const writer = new FibWriter({ maxEntries: count, maxInstances: 2, reclaimDelayMs: 0 });
  const prefixes: number[][] = [];
  const seen = new Set<string>();
  const started = process.hrtime.bigint();
  while (prefixes.length < count) {
    const l = length();
    // Global unicast 2000::/4, like the real table.
    const raw = [(0x20000000 | (next() & 0x0fffffff)) >>> 0, next(), next(), next()];
    const words = raw.map((w, i) => mask(w, l - 32 * i));
    const key = `${words.join(',')}/${l}`;
    if (seen.has(key)) continue;
    seen.add(key);
    writer.upsert({ iid: IID, prefix: makePrefix(6, words, l), rlocs: rlocsFor(prefixes.length), ttlSeconds: 86400 });
    prefixes.push([...words, l]);
  }
  const buildSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const queries = new Uint32Array(QUERIES * 4);
  for (let i = 0; i < QUERIES; i++) {
    const hit = next() % 10 !== 0;
    const p = prefixes[next() % prefixes.length] as number[];
    const l = p[4] as number;
    for (let k = 0; k < 4; k++) {
      const host = l - 32 * k >= 32 ? 0 : next() & (0xffffffff >>> Math.max(0, l - 32 * k));
      queries[i * 4 + k] = hit ? ((p[k] as number) | host) >>> 0 : (k === 0 ? (0x20000000 | (next() & 0x0fffffff)) >>> 0 : next());
    }
  }
  return { writer, reader: new FibReader(writer.buffers), queries, buildSeconds };
}

// The timed loops: one call per query, results folded into a checksum so nothing is dead code.
function passV4(reader: FibReader, queries: Uint32Array): number {
  let sum = 0;
  for (let i = 0; i < queries.length; i++) sum += reader.lookup4(IID, queries[i] as number);
  return sum;
}

function passV4Select(reader: FibReader, queries: Uint32Array): number {
  let sum = 0;
  for (let i = 0; i < queries.length; i++) {
    const q = queries[i] as number;
    const entry = reader.lookup4(IID, q);
    if (entry >= 0) sum += reader.selectRloc(entry, Math.imul(q, 0x9e3779b1));
  }
  return sum;
}

const BATCH = 64;
const batchOut = new Int32Array(BATCH);

function passV4Batch(reader: FibReader, queries: Uint32Array): number {
  let sum = 0;
  for (let i = 0; i + BATCH <= queries.length; i += BATCH) {
    reader.lookup4Batch(IID, queries, i, BATCH, batchOut);
    sum += batchOut[BATCH - 1] as number;
  }
  return sum;
}

function passV6(reader: FibReader, queries: Uint32Array): number {
  let sum = 0;
  for (let i = 0; i < queries.length; i += 4) {
    sum += reader.lookup6(IID, queries[i] as number, queries[i + 1] as number, queries[i + 2] as number, queries[i + 3] as number);
  }
  return sum;
}

function measure(repetitions: number, lookups: number, pass: () => number): { median: number; min: number; max: number; hits: number } {
  pass(); // warm-up: let V8 optimise the loop
  const rates: number[] = [];
  let checksum = 0;
  for (let r = 0; r < repetitions; r++) {
    const t0 = process.hrtime.bigint();
    checksum += pass();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(lookups / seconds);
  }
  return { median: median(rates), min: Math.min(...rates), max: Math.max(...rates), hits: checksum };
}

function hitRate(built: Built, v6: boolean): number {
  let hits = 0;
  const step = v6 ? 4 : 1;
  for (let i = 0; i < built.queries.length; i += step) {
    const q = built.queries;
    const e = v6 ? built.reader.lookup6(IID, q[i] as number, q[i + 1] as number, q[i + 2] as number, q[i + 3] as number)
      : built.reader.lookup4(IID, q[i] as number);
    if (e >= 0) hits++;
  }
  return hits / (built.queries.length / step);
}

function report(label: string, built: Built, v6: boolean, repetitions: number): void {
  const stats = built.writer.memoryStats();
  const lookups = v6 ? built.queries.length / 4 : built.queries.length;
  const plain = measure(repetitions, lookups, () => (v6 ? passV6 : passV4)(built.reader, built.queries));
  const perEntry = (bytes: number): string => (bytes / stats.entries).toFixed(1);
  console.log(`${label}: ${stats.entries} prefixes, built in ${built.buildSeconds.toFixed(2)} s, ${(hitRate(built, v6) * 100).toFixed(0)}% of queries hit`);
  console.log(`  lookup${v6 ? '6' : '4'}: median ${fmtRate(plain.median)}  (min ${fmtRate(plain.min)}, max ${fmtRate(plain.max)}, ${repetitions} × ${lookups} lookups)`);
  if (!v6) {
    const batch = measure(repetitions, lookups, () => passV4Batch(built.reader, built.queries));
    console.log(`  lookup4Batch (${BATCH} per call): median ${fmtRate(batch.median)}  (min ${fmtRate(batch.min)}, max ${fmtRate(batch.max)})`);
    const select = measure(repetitions, lookups, () => passV4Select(built.reader, built.queries));
    console.log(`  lookup4 + selectRloc: median ${fmtRate(select.median)}  (min ${fmtRate(select.min)}, max ${fmtRate(select.max)})`);
  }
  console.log(`  bytes/entry: ${perEntry(stats.totalBytes)} total = entries ${perEntry(stats.entryBytes)} + RLOCs ${perEntry(stats.rlocBytes)}`
    + ` + trie ${perEntry(stats.nodeBytes)} + writer index ${perEntry(stats.indexBytes)}; live blocks only ${perEntry(stats.liveBytes)}`
    + `  (reserved ${(stats.reservedBytes / 2 ** 20).toFixed(0)} MiB)`);
}

function main(): void {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const repetitions = Number(args.find((a) => /^[0-9]+$/.test(a)) ?? (quick ? 3 : 7));
  console.log(`bench-fib: node ${process.version}, ${repetitions} repetitions, ${QUERIES} distinct queries per pass`);
  const sizesArg = args.find((a) => a.startsWith('--sizes='));
  const sizes = sizesArg !== undefined ? sizesArg.slice(8).split(',').map(Number) : quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000];
  for (const count of sizes) {
    const rss0 = process.memoryUsage().rss;
    const built = buildV4(count, count);
    const rss1 = process.memoryUsage().rss;
    report(`IPv4 ${count}`, built, false, repetitions);
    if (count === 1_000_000) console.log(`  (process RSS grew ${((rss1 - rss0) / count).toFixed(0)} bytes/entry while loading, incl. the benchmark's own prefix list)`);
  }
  if (!args.includes('--no-v6')) report('IPv6 100000', buildV6(100_000, 6), true, repetitions);
}

main();
