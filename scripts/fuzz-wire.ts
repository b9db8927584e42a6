// Fuzzes the wire decoders with mutated and random inputs. The only acceptable failure is a
// WireError; anything else thrown is a bug. Every input that decodes must also re-encode to the
// same bytes, which catches silent reads past the end (they would read `undefined` as 0).
//
//   node dist/scripts/fuzz-wire.js [--iterations N] [--seed S] [--vectors DIR]
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  WireError, decodeControl, decodeData, decodeInnerUdp, encodeControl, encodeData, encodeInnerUdp, verifyControl,
} from '../src/wire';
import { lispDatagrams } from '../src/pcap/lisp';
import { readPcapFile } from '../src/pcap/reader';
import { positiveInt, scriptArgs } from './lib/args';
import { builtMessages, specExamples } from './lib/corpus';
import { Xorshift32 } from './lib/xorshift';

const USAGE = `usage: fuzz-wire [--iterations N] [--seed S] [--vectors DIR] [--quiet]
Runs N (default 1000000) mutated and random inputs through the LISP wire decoders.
Reports any exception other than WireError and any input that does not re-encode byte for byte.
Exit status: 0 when nothing was found, 1 otherwise.
`;

const args = scriptArgs(USAGE, {
  iterations: { type: 'string', default: '1000000' },
  seed: { type: 'string', default: String(Date.now() % 1_000_000_007) },
  vectors: { type: 'string', default: path.resolve(__dirname, '../../test/vectors') },
  quiet: { type: 'boolean', default: false },
});
const iterations = positiveInt('iterations', args.iterations);
const seed = positiveInt('seed', args.seed) >>> 0;
/** Reproducible from the printed seed. */
const rng = new Xorshift32(seed);
const below = (n: number): number => rng.below(n);

/** Every LISP datagram of the captured vectors, when they are there (the fuzzer runs without them). */
function loadVectorPayloads(dir: string): Buffer[] {
  const out: Buffer[] = [];
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.pcap')) continue;
    for (const d of lispDatagrams(readPcapFile(path.join(dir, f)))) out.push(Buffer.from(d.payload));
  }
  return out;
}

const corpus: Buffer[] = [...specExamples(), ...builtMessages(), ...loadVectorPayloads(args.vectors)];

function mutate(src: Buffer): Buffer {
  const b = Buffer.from(src);
  const op = below(8);
  switch (op) {
    case 0: { // flip bits
      for (let i = 0, n = 1 + below(4); i < n && b.length; i++) b[below(b.length)] ^= 1 << below(8);
      return b;
    }
    case 1: { // set bytes to interesting values
      const vals = [0, 1, 0x7f, 0x80, 0xff, 0x40, 0x03, 0x11];
      for (let i = 0, n = 1 + below(3); i < n && b.length; i++) b[below(b.length)] = vals[below(vals.length)];
      return b;
    }
    case 2: // truncate
      return b.subarray(0, below(b.length + 1));
    case 3: { // extend with random bytes
      const extra = Buffer.alloc(1 + below(64));
      for (let i = 0; i < extra.length; i++) extra[i] = below(256);
      return Buffer.concat([b, extra]);
    }
    case 4: { // lying 16-bit length (LCAF, auth, UDP, IP)
      if (b.length < 2) return b;
      const at = below(b.length - 1);
      b.writeUInt16BE([0, 1, 0xffff, b.length, b.length - at, below(0x10000)][below(6)] & 0xffff, at);
      return b;
    }
    case 5: { // splice two corpus entries
      const other = corpus[below(corpus.length)];
      return Buffer.concat([b.subarray(0, below(b.length + 1)), other.subarray(below(other.length + 1))]);
    }
    case 6: { // change the record / count byte
      if (b.length > 3) b[3] = below(256);
      return b;
    }
    default: { // pure random
      const r = Buffer.alloc(below(200));
      for (let i = 0; i < r.length; i++) r[i] = below(256);
      if (r.length && below(2)) r[0] = (below(9) << 4) | (r[0] & 0x0f);
      return r;
    }
  }
}

interface Finding { input: string; decoder: string; error: string }
const findings: Finding[] = [];
const counts = { decoded: 0, rejected: 0 };

function check(decoder: string, input: Buffer, run: () => void): void {
  try {
    run();
    counts.decoded++;
  } catch (e) {
    if (e instanceof WireError) {
      counts.rejected++;
      return;
    }
    if (findings.length < 50) findings.push({ input: input.toString('hex'), decoder, error: (e as Error).stack ?? String(e) });
  }
}

function roundTripMismatch(what: string, got: Buffer, input: Uint8Array): void {
  if (!got.equals(input)) throw new Error(`${what}: re-encoded ${got.length} bytes differ from the ${input.length} input bytes`);
}

const started = Date.now();
for (let i = 0; i < iterations; i++) {
  const input = mutate(corpus[below(corpus.length)]);
  check('control', input, () => roundTripMismatch('control', encodeControl(decodeControl(input)), input));
  check('data', input, () => roundTripMismatch('data', encodeData(decodeData(input)), input));
  check('inner-udp', input, () => {
    const p = decodeInnerUdp(input);
    roundTripMismatch('inner-udp', encodeInnerUdp(p.header, p.payload), input);
  });
  check('auth', input, () => void verifyControl(input, 'fuzz'));
  if (!args.quiet && i > 0 && i % 200_000 === 0) {
    process.stderr.write(`  ${i}/${iterations} inputs, ${findings.length} findings, ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
}

const secs = (Date.now() - started) / 1000;
process.stdout.write(`fuzz-wire: ${iterations} inputs (seed ${args.seed}, corpus ${corpus.length}) in ${secs.toFixed(1)} s: ` +
  `${counts.decoded} decoded, ${counts.rejected} rejected with WireError, ${findings.length} findings\n`);
for (const f of findings.slice(0, 10)) process.stdout.write(`\n[${f.decoder}] input ${f.input}\n${f.error}\n`);
process.exitCode = findings.length ? 1 : 0;
