import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runDemo } from '../src/testbed/demo';
import { netnsAvailable } from '../scripts/lib/netns';

const root = netnsAvailable();
const hasTshark = spawnSync('tshark', ['--version']).status === 0;

test.serial('control-only demo: three nodes converge over HER and follow a roaming RLOC; every datagram decodes', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-demo-test-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pcap = path.join(dir, 'underlay.pcap');
  const r = await runDemo({ dataplane: false, progress: (l) => t.log(l), captureFile: hasTshark ? pcap : undefined });
  t.true(r.ok, r.problems.join('\n'));
  t.not(r.converged_ms, null);
  t.not(r.roam_ms, null);
  t.log(`converged_ms=${r.converged_ms} roam_ms=${r.roam_ms}`);
  for (const node of ['n1', 'n2', 'n3']) {
    const rows = r.site_cache[node];
    t.is(rows.length, 7, `${node} site cache`);
    t.deepEqual(rows.find((x) => x.eid === '[0]10.0.0.2/32')?.rlocs, ['192.168.77.16'], `${node} follows n2`);
    t.deepEqual(rows.find((x) => x.eid.startsWith('[0](0.0.0.0/0'))?.rlocs.slice().sort(), ['192.168.77.16', '192.168.77.5', '192.168.77.7']);
  }
  if (!hasTshark) return;
  // Our own decoder accepts every datagram we put on the wire...
  const bin = path.resolve(__dirname, '../../bin/decent');
  const lines = execFileSync(process.execPath, [bin, 'decode', pcap, '--json', '--key', 'decent-password'], { encoding: 'utf8', maxBuffer: 1 << 26 })
    .trim().split('\n').map((l) => JSON.parse(l) as { type: string; auth?: string; inner?: { type: string } });
  t.true(lines.length > 20, `${lines.length} datagrams captured`);
  t.true(lines.some((l) => l.inner?.type === 'map-register'), 'head-end replicated Map-Registers were captured');
  t.false(lines.some((l) => l.auth === 'bad'), 'every authenticated message verifies with the group key');
  // ...and so does tshark's LISP dissector, with no malformed or error marks.
  const tshark = execFileSync('tshark', ['-n', '-r', pcap, '-V'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  t.notRegex(tshark, /Malformed|\[Expert Info \(Error|Unknown LISP Control Packet \((?!5)/);
});

test.serial('full demo: pings through the overlay succeed on the first try, and traffic follows a roaming node', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const r = await runDemo({ dataplane: true, progress: (l) => t.log(l) });
  t.true(r.ok, r.problems.join('\n'));
  t.deepEqual(Object.keys(r.pings).sort(), ['n1->n2', 'n1->n3', 'n2->n1', 'n2->n3', 'n3->n1', 'n3->n2']);
  for (const [pair, p] of Object.entries(r.pings)) t.true(p.ok, `${pair} first ping`);
  // encrypted by default: every pair had its LISP-crypto send keys before the first ping
  t.is(r.encryption, 'required');
  t.not(r.keys_ms, null);
  t.not(r.roam_ms, null);
  t.log(`converged_ms=${r.converged_ms} roam_ms=${r.roam_ms} rtts=${Object.values(r.pings).map((p) => p.rtt_ms).join(',')}`);
  // n1 resolved n2 on the first ping and now forwards to n2's new RLOC.
  t.deepEqual(r.map_cache.n1.find((e) => e.eid === '[0]10.0.0.2/32')?.rlocs, ['192.168.77.16']);
});
