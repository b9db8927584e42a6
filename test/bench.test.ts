// `decent bench --quick` end to end: it completes, prints valid JSON with the documented keys and
// writes its files. No thresholds: figures depend on the machine and its load.
import test from 'ava';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { netnsAvailable } from '../src/testbed/netns';

const root = netnsAvailable();
const hasIperf = (process.env.PATH ?? '').split(':').some((d) => d !== '' && fs.existsSync(path.join(d, 'iperf3')));

test('decent bench --quick --json --out DIR completes with the documented keys and files', async (t) => {
  if (!root.ok || !hasIperf) {
    t.log(`skipped: ${!root.ok ? root.reason : 'iperf3 is not installed'}`);
    t.pass();
    return;
  }
  t.timeout(120_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-bench-test-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bin = path.resolve(__dirname, '../../bin/decent');
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [bin, 'bench', '--quick', '--json', '--out', dir], { timeout: 110_000, maxBuffer: 1 << 24 }, (err, out, errOut) => {
      t.log(errOut.trim().split('\n').slice(-12).join('\n'));
      if (err) reject(err);
      else resolve(out);
    });
  });
  const j = JSON.parse(stdout) as Record<string, unknown>;
  for (const v of ['veth', 'vxlan', 'decent']) {
    const s = j[v] as Record<string, unknown> | undefined;
    t.is(typeof s, 'object', v);
    t.true('tcp_mbps' in (s ?? {}) && 'pps64' in (s ?? {}), `${v} has tcp_mbps and pps64`);
  }
  t.true('ratio_tcp_vs_vxlan' in j);
  t.true('ratio_pps_vs_veth' in j);
  for (const f of ['bench.json', 'bench.md', 'bench.svg']) t.true(fs.statSync(path.join(dir, f)).size > 0, f);
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'bench.json'), 'utf8')), j, 'bench.json holds the same result');
  t.regex(fs.readFileSync(path.join(dir, 'bench.svg'), 'utf8'), /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
});
