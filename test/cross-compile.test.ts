import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const script = path.resolve(__dirname, '../../scripts/cross-compile.sh');

test('native/ compiles for aarch64 and 32-bit ARM with warnings as errors', (t) => {
  const have = ['aarch64-linux-gnu-gcc', 'arm-linux-gnueabihf-gcc'].filter((c) => spawnSync(c, ['--version']).status === 0);
  if (have.length === 0) {
    t.log('skipped: no cross compilers (apt-get install -y g++-aarch64-linux-gnu g++-arm-linux-gnueabihf)');
    t.pass();
    return;
  }
  const r = spawnSync(script, have.map((c) => c.replace(/-gcc$/, '')), { encoding: 'utf8', timeout: 300_000 });
  t.is(r.status, 0, r.stderr);
  for (const c of have) t.true(r.stdout.includes(`compiles cleanly for ${c.replace(/-gcc$/, '')}`));
});
