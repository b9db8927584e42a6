/**
 * Micro-benchmark of the data plane's per-segment LISP-crypto work (RFC 8061 §7) as the addon
 * does it (native/src/crypto.c on the OpenSSL that Node ships): CPU ns per seal and per open of one
 * datagram, for suites 6 (ChaCha20-Poly1305) and 5 (AES-128-GCM) and inner packet lengths from a
 * TCP ACK to full-size segments. Thread CPU time, median (min–max) of the repetitions.
 *
 * What it shows on OpenSSL 3.0: a fixed cost per datagram (EVP calls, ChaCha20's Poly1305 key
 * block) and, for ChaCha20, one more keystream call for a last partial 64-byte block, so an inner
 * packet length that is a multiple of 64 (1408) costs less than a slightly shorter one (1400).
 *
 * Usage: node dist/scripts/bench-aead.js [repetitions=7] [--lengths=64,1400,1408] [--count=20000]
 */
import { randomBytes } from 'node:crypto';
import { KeyTable, loadAddon, SUITE } from '../src/native';

const args = process.argv.slice(2);
const reps = Number(args.find((a) => /^\d+$/.test(a)) ?? 7);
const opt = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const lengths = (opt('lengths') ?? '52,92,1400,1408,1413,1436,1440').split(',').map(Number);
const count = Number(opt('count') ?? 20_000);

interface Row { suite: string; length: number; seal: number[]; open: number[] }

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const cell = (xs: number[]): string => `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;

const table = new KeyTable(4);
const suites = [
  { name: 'suite 6 ChaCha20-Poly1305', suite: SUITE.CHACHA20_POLY1305, key: 32 },
  { name: 'suite 5 AES-128-GCM', suite: SUITE.AES128_GCM, key: 16 },
] as const;
const rows: Row[] = [];
for (const [i, s] of suites.entries()) {
  const set = i + 1;
  table.install(set, 1, { suite: s.suite, encryptionKey: randomBytes(s.key) });
  table.setSendKey(set, 1);
  for (const length of lengths) rows.push({ suite: s.name, length, seal: [], open: [] });
}
// repetitions interleave every case, so a burst of background load hits all alike
for (let r = 0; r < reps; r++) {
  for (const row of rows) {
    const set = suites.findIndex((s) => s.name === row.suite) + 1;
    const [seal, open] = loadAddon().keysBench(table.handle, set, row.length, count);
    row.seal.push(seal);
    row.open.push(open);
  }
}
console.log(`| suite | inner packet bytes | ns per seal | ns per open | seal + open, GB/s |`);
console.log(`|---|---:|---:|---:|---:|`);
for (const row of rows) {
  const both = median(row.seal) + median(row.open);
  console.log(`| ${row.suite} | ${row.length} | ${cell(row.seal)} | ${cell(row.open)} | ${(row.length / both).toFixed(2)} |`);
}
console.log(`\n${reps} repetitions of ${count} datagrams each, thread CPU time; Node ${process.version}, OpenSSL ${process.versions.openssl}`);
