// Codec micro-benchmark: messages/s for decode and encode of a typical Map-Register (the
// register of test/fixtures/spec-examples.ts, example 14.1: one IPv4 EID, one RLOC, SHA-256 auth, xTR-ID trailer) and of
// other common messages. Reports the median and min–max over rounds.
//
//   node dist/scripts/bench-wire.js [--rounds N] [--seconds S] [--json]
import { decodeControl, encodeControl, readDataHeader, verifyControl } from '../src/wire';
import * as ex from '../test/fixtures/spec-examples';
import { positiveInt, scriptArgs } from './lib/args';
import { formatRate, summarize, type Summary } from './lib/stats';

const USAGE = `usage: bench-wire [--rounds N] [--seconds S] [--json]
Measures LISP codec throughput (messages/s) over N rounds (default 7) of S seconds (default 0.5).
`;
const args = scriptArgs(USAGE, {
  rounds: { type: 'string', default: '7' },
  seconds: { type: 'string', default: '0.5' },
  json: { type: 'boolean', default: false },
});
const rounds = positiveInt('rounds', args.rounds);
const seconds = Number(args.seconds);
if (!(seconds > 0)) {
  process.stderr.write(`--seconds must be a positive number, got ${JSON.stringify(args.seconds)}\n`);
  process.exit(2);
}

const register = Buffer.from(ex.ex14_1, 'hex');
const registerMsg = decodeControl(register);
const ecm = Buffer.from(ex.ex14_4, 'hex');
const reply = Buffer.from(ex.ex14_5, 'hex');
const data = Buffer.from(ex.ex14_7, 'hex');

let sink = 0;
const cases: Record<string, () => void> = {
  'decode Map-Register': () => { sink += decodeControl(register).type.length; },
  'encode Map-Register': () => { sink += encodeControl(registerMsg).length; },
  'decode ECM Map-Request': () => { sink += decodeControl(ecm).type.length; },
  'decode Map-Reply': () => { sink += decodeControl(reply).type.length; },
  'verify Map-Register HMAC-SHA-256': () => { sink += verifyControl(register, 'test').length; },
  'read data header': () => { sink += readDataHeader(data, 0).nonce; },
};

function measure(fn: () => void): number {
  const batch = 1000;
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let n = 0;
  let now = start;
  while (now < end) {
    for (let i = 0; i < batch; i++) fn();
    n += batch;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

const samples: Record<string, number[]> = {};
for (const fn of Object.values(cases)) measure(fn); // warm-up: let V8 optimise first
for (let r = 0; r < rounds; r++) {
  // Rounds interleave the cases so background load spreads over all of them.
  for (const [name, fn] of Object.entries(cases)) (samples[name] ??= []).push(measure(fn));
}
const out: Record<string, Summary> = {};
for (const [name, values] of Object.entries(samples)) out[name] = summarize(values);

if (args.json) {
  process.stdout.write(`${JSON.stringify({ unit: 'messages/s', rounds, seconds, results: out })}\n`);
} else {
  process.stdout.write(`LISP codec, messages/s (median, min–max over ${rounds} rounds of ${seconds} s)\n`);
  for (const [name, s] of Object.entries(out)) {
    process.stdout.write(`  ${name.padEnd(36)} ${formatRate(s.median).padStart(9)}/s   (${formatRate(s.min)} – ${formatRate(s.max)})\n`);
  }
}
if (sink === -1) process.stdout.write('');
