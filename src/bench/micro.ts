// The micro-benchmarks of the other issues, run as they ship (scripts/bench-wire.js --json and
// scripts/bench-fib.js), so `decent bench` reports the same figures they do. They live in the
// source tree's dist/scripts; an installed package has no scripts/ and reports null.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SCRIPTS = path.resolve(__dirname, '../../scripts');

function node(script: string, args: string[]): Promise<string | undefined> {
  const file = path.join(SCRIPTS, script);
  if (!fs.existsSync(file)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { timeout: 120_000, maxBuffer: 1 << 20 }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

export interface CodecResult { decodeMapRegister: number; encodeMapRegister: number; readDataHeader: number }

/** Codec messages/s (medians) for the typical Map-Register and the data header. */
export async function codec(quick: boolean): Promise<CodecResult | undefined> {
  const out = await node('bench-wire.js', ['--json', '--rounds', quick ? '3' : '5', '--seconds', quick ? '0.2' : '0.5']);
  if (out === undefined) return undefined;
  const j = JSON.parse(out) as { results: Record<string, { median: number }> };
  const m = (k: string): number => j.results[k]?.median ?? 0;
  return { decodeMapRegister: m('decode Map-Register'), encodeMapRegister: m('encode Map-Register'), readDataHeader: m('read data header') };
}

export interface FibResult { prefixes: number; lookup4: number; lookup4Batch: number }

/** FIB lookups/s (medians) with 100k IPv4 prefixes. bench-fib prints text only, so we parse it. */
export async function fib(quick: boolean): Promise<FibResult | undefined> {
  const prefixes = 100_000;
  const out = await node('bench-fib.js', [quick ? '3' : '5', `--sizes=${prefixes}`, '--no-v6']);
  if (out === undefined) return undefined;
  const rate = (label: RegExp): number => {
    const m = label.exec(out);
    return m ? Number(m[1]) * 1e6 : 0;
  };
  return { prefixes, lookup4: rate(/lookup4: median ([\d.]+) M\/s/), lookup4Batch: rate(/lookup4Batch[^:]*: median ([\d.]+) M\/s/) };
}
