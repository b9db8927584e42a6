// `decent bench --quick` end to end: it completes, prints valid JSON with the documented keys and
// writes its files; the encrypted decent variants (suite 6 and 5, keys from the real exchange)
// and wireguard-go produce figures and their ratios to decent unencrypted. No thresholds:
// figures depend on the machine and its load (a figure above zero only says traffic crossed).
import test from 'ava';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { wireguardAvailable } from '../src/bench/wireguard';
import { netnsAvailable } from '../src/testbed/netns';

const root = netnsAvailable();
const hasIperf = (process.env.PATH ?? '').split(':').some((d) => d !== '' && fs.existsSync(path.join(d, 'iperf3')));
const hasWireguard = wireguardAvailable();

interface Summary { median: number; min: number; max: number; n: number }
interface VariantJson {
  tcp_mbps: number | null; pps64: number | null; inner_mtu: number;
  cpu?: { pct_per_gbps_tcp: (number | null)[]; pct_per_gbps_tcp_both: Summary | null };
}

test('decent bench --quick --json --out DIR completes with the documented keys and files, encrypted and wireguard-go variants included', async (t) => {
  if (!root.ok || !hasIperf) {
    t.log(`skipped: ${!root.ok ? root.reason : 'iperf3 is not installed'}`);
    t.pass();
    return;
  }
  t.timeout(240_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-bench-test-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bin = path.resolve(__dirname, '../../bin/decent');
  const encrypted = ['decent-encrypted', 'decent-encrypted-aes'];
  const tunnels = ['decent', ...encrypted, ...(hasWireguard ? ['wireguard-go'] : [])];
  if (!hasWireguard) t.log('wireguard-go or wg not installed: that variant is not checked');
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [bin, 'bench', '--quick', '--json', '--out', dir, '--only', ['veth', 'vxlan', ...tunnels].join(',')],
      { timeout: 230_000, maxBuffer: 1 << 24 }, (err, out, errOut) => {
        t.log(errOut.trim().split('\n').slice(-14).join('\n'));
        if (err) reject(err);
        else resolve(out);
      });
  });
  const j = JSON.parse(stdout) as Record<string, unknown>;
  for (const v of ['veth', 'vxlan', ...tunnels]) {
    const s = j[v] as Record<string, unknown> | undefined;
    t.is(typeof s, 'object', v);
    t.true('tcp_mbps' in (s ?? {}) && 'pps64' in (s ?? {}), `${v} has tcp_mbps and pps64`);
  }
  t.true('ratio_tcp_vs_vxlan' in j);
  t.true('ratio_pps_vs_veth' in j);

  // The new variants carried traffic (an encrypted variant only starts once xTR A's send key is
  // of its suite and has sealed packets), with their CPU and their ratios to decent unencrypted.
  for (const v of tunnels.slice(1)) {
    const s = j[v] as VariantJson;
    t.true((s.tcp_mbps ?? 0) > 0 && (s.pps64 ?? 0) > 0, `${v} measured TCP and 64-byte packets: ${JSON.stringify(s)}`);
    t.is(s.cpu?.pct_per_gbps_tcp.length, 2, `${v}: CPU of both tunnel processes`);
    t.truthy(s.cpu?.pct_per_gbps_tcp_both, `${v}: CPU per Gbit/s`);
    const r = (j.vs_decent as Record<string, { tcp: Summary | null; pps: Summary | null; cpu_per_gbps: Summary | null }>)[v];
    t.truthy(r?.tcp && r.pps && r.cpu_per_gbps, `${v}: ratios to decent unencrypted`);
  }
  for (const v of encrypted) t.is((j[v] as VariantJson).inner_mtu, 1413, `${v}: decent's too-big limit with encryption on`);
  if (hasWireguard) {
    t.is((j['wireguard-go'] as VariantJson).inner_mtu, 1440);
    for (const v of encrypted) t.truthy((j.encrypted_vs_wireguard_tcp as Record<string, Summary | null>)[v], `${v} vs wireguard-go`);
  }

  for (const f of ['bench.json', 'bench.md', 'bench.svg']) t.true(fs.statSync(path.join(dir, f)).size > 0, f);
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'bench.json'), 'utf8')), j, 'bench.json holds the same result');
  const svg = fs.readFileSync(path.join(dir, 'bench.svg'), 'utf8');
  t.regex(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  t.true(svg.includes('ChaCha20-Poly1305'), 'the chart shows the encrypted variant');
  t.regex(fs.readFileSync(path.join(dir, 'bench.md'), 'utf8'), /\| variant \| inner MTU \| TCP 1 stream Mbit\/s \| × decent \|/, 'bench.md has the encryption table');
});
