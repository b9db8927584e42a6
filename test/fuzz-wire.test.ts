import test from 'ava';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = path.resolve(__dirname, '../scripts/fuzz-wire.js');

test('a short fuzz run finds no exception other than WireError and no round-trip mismatch', async (t) => {
  const { stdout } = await run(process.execPath, [script, '--iterations', '30000', '--quiet'], { maxBuffer: 1 << 24 });
  t.regex(stdout, /30000 inputs .* 0 findings/);
  // The captured vectors (960 LISP datagrams) are part of the corpus, not just the 19 built-in seeds.
  const corpus = Number(/corpus (\d+)/.exec(stdout)?.[1]);
  t.true(corpus > 900, `corpus ${corpus}`);
  // Both outcomes must occur, or the mutator is not exercising the decoders.
  const m = /(\d+) decoded, (\d+) rejected/.exec(stdout);
  t.truthy(m);
  t.true(Number(m![1]) > 1000 && Number(m![2]) > 1000, stdout);
});

test('fuzz-wire rejects a bad option with exit status 2 and its usage', async (t) => {
  const err = await t.throwsAsync(run(process.execPath, [script, '--iterations', 'many']));
  t.is((err as { code?: number }).code, 2);
  t.regex((err as { stderr?: string }).stderr ?? '', /--iterations must be a positive integer/);
});
