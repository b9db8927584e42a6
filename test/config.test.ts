import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfig, parseConfigText } from '../src/config/load';
import { defaultSuites, hasAesInstructions, readCpuinfo } from '../src/crypto';

const GOOD = `name: n1
eids:
  - 1.1.1.1/32
rlocs:
  addresses: [192.168.77.5]
decent:
  group: 224.1.1.1
auth:
  key: secret
`;

const problems = (text: string, env: NodeJS.ProcessEnv = {}): string[] => {
  try {
    parseConfigText(text, 'n1.yaml', env);
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  return [];
};

test('a minimal config loads with documented defaults', (t) => {
  const c = parseConfigText(GOOD, 'n1.yaml', {});
  t.is(c.control.name, 'n1');
  t.is(c.control.auth.algorithm, 2);
  t.is(c.control.auth.keyId, 0);
  t.is(c.control.group.replication, 'her');
  t.is(c.control.timers.registerIntervalMs, 60_000);
  t.is(c.control.timers.registrationTtlMs, 180_000);
  t.is(c.apiSocket, '/run/decent/n1.sock');
  t.is(c.raw.dataplane, undefined);
});

// Every bad-config case names the file, the line:column, the key path and what was expected.
const BAD: [string, string, RegExp][] = [
  ['wrong type', GOOD.replace('name: n1', 'name: [n1]'), /^n1\.yaml:1:7: name: Invalid input: expected string, received array$/],
  ['unknown key', `${GOOD}colour: blue\n`, /^n1\.yaml:10:1: colour: Unrecognized key: "colour"$/],
  ['unknown nested key', GOOD.replace('  group: 224.1.1.1', '  group: 224.1.1.1\n  grup: 1'), /^n1\.yaml:8:3: decent\.grup: Unrecognized key: "grup"$/],
  ['bad prefix', GOOD.replace('1.1.1.1/32', '1.1.1.1/33'), /^n1\.yaml:3:5: eids\.0: prefix length must be 0\.\.32: "1\.1\.1\.1\/33"$/],
  ['bad EID', GOOD.replace('1.1.1.1/32', 'not-an-eid'), /^n1\.yaml:3:5: eids\.0: not an EID/],
  ['bad address', GOOD.replace('[192.168.77.5]', '[192.168.77.500]'), /^n1\.yaml:5:15: rlocs\.addresses\.0: expected an IPv4 or IPv6 address$/],
  ['unicast group', GOOD.replace('group: 224.1.1.1', 'group: 10.0.0.1'), /^n1\.yaml:7:10: decent\.group: the group must be a multicast address$/],
  ['no key', GOOD.replace('  key: secret\n', '  key-id: 1\n'), /^n1\.yaml:9:3: auth: give exactly one of auth\.key, auth\.key-file, auth\.key-env$/],
  ['two keys', GOOD.replace('  key: secret', '  key: secret\n  key-env: K'), /auth: give exactly one of/],
  ['bad duration', `${GOOD}timers:\n  register-interval: soon\n`, /^n1\.yaml:11:22: timers\.register-interval: expected a duration such as 250ms, 10s, 3m or 1h, got "soon"$/],
  ['no EIDs', GOOD.replace('eids:\n  - 1.1.1.1/32', 'eids: []'), /^n1\.yaml:2:7: eids: a node needs at least one EID$/],
  ['no RLOCs', GOOD.replace('  addresses: [192.168.77.5]', '  addresses: []'), /rlocs: give rlocs\.interfaces or rlocs\.addresses$/],
  ['missing key env', GOOD.replace('key: secret', 'key-env: DECENT_TEST_KEY'), /^n1\.yaml: auth\.key-env: environment variable DECENT_TEST_KEY is not set$/],
  ['missing key file', GOOD.replace('key: secret', 'key-file: /nonexistent/key'), /^n1\.yaml: auth\.key-file: cannot read \/nonexistent\/key: ENOENT$/],
  ['YAML syntax', 'name: [n1\n', /^n1\.yaml:\d+:\d+: YAML syntax:/],
  ['bad iid', GOOD.replace('1.1.1.1/32', '"[99999999]1.1.1.1/32"'), /instance-id must be 0\.\.16777215/],
];

for (const [name, text, expected] of BAD) {
  test(`config error: ${name}`, (t) => {
    const p = problems(text);
    t.true(p.some((line) => expected.test(line)), `got:\n${p.join('\n')}`);
  });
}

test('secrets come from a file or the environment and are never in the error text', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-cfg-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'group.key'), 'from-a-file\n');
  const file = path.join(dir, 'n1.yaml');
  fs.writeFileSync(file, GOOD.replace('key: secret', 'key-file: group.key'));
  t.is(loadConfig(file).control.auth.key, 'from-a-file');
  t.is(parseConfigText(GOOD.replace('key: secret', 'key-env: K'), 'x.yaml', { K: 'from-env' }).control.auth.key, 'from-env');
  const p = problems(GOOD.replace('key: secret', 'key: supersecret\n  bogus: 1'));
  t.false(p.join('\n').includes('supersecret'));
});

test('an IPv4 prefix with host bits set loads as its network, with a warning (netmask)', (t) => {
  const c = parseConfigText(GOOD.replace('1.1.1.1/32', '10.1.2.3/16'), 'n1.yaml', {});
  t.is(c.control.eids[0].kind === 'ipv4' ? c.control.eids[0].address : '', '10.1.0.0');
  t.deepEqual(c.warnings, ['n1.yaml: eids.0: 10.1.2.3/16 has host bits set; using 10.1.0.0/16']);
  t.deepEqual(parseConfigText(GOOD, 'n1.yaml', {}).warnings, []);
});

test('EIDs without [iid] belong to the configured instance-id', (t) => {
  const c = parseConfigText(GOOD.replace('  group: 224.1.1.1', '  group: 224.1.1.1\n  instance-id: 1000'), 'n1.yaml', {});
  t.is(c.control.eids[0].iid, 1000);
  const explicit = parseConfigText(GOOD.replace('1.1.1.1/32', '"[7]1.1.1.1/32"'), 'n1.yaml', {});
  t.is(explicit.control.eids[0].iid, 7);
});

test('pull mode: needs decent.pull, takes no group', (t) => {
  const pull = GOOD.replace('  group: 224.1.1.1', '  mode: pull\n  pull:\n    modulus: 3\n    dns-suffix: map-server.decent\n    hash: lispers');
  const c = parseConfigText(pull, 'n1.yaml', {});
  t.is(c.control.mode, 'pull');
  t.deepEqual(c.control.pull && { m: c.control.pull.modulus, s: c.control.pull.dnsSuffix, h: c.control.pull.hash }, { m: 3, s: 'map-server.decent', h: 'lispers' });
  t.true(problems(GOOD.replace('  group: 224.1.1.1', '  mode: pull')).some((p) => /decent\.pull: pull mode needs decent\.pull/.test(p)));
  t.true(problems(GOOD.replace('  group: 224.1.1.1', '  seeds: []')).some((p) => /decent\.group: push mode needs the group address/.test(p)));
});

test('every example config in examples/ is valid', (t) => {
  const dir = path.resolve(__dirname, '../../examples');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  t.true(files.length >= 5);
  for (const f of files) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8').replace(/key-file: .*/, 'key: test');
    t.notThrows(() => parseConfigText(text, f, { DECENT_GROUP_KEY: 'k', VPN_KEY: 'k' }), f);
  }
});

test('nat: keepalive defaults to 15 s (at most 20 s, issue 16), rtr to off; both configurable', (t) => {
  t.deepEqual(parseConfigText(GOOD, 'n1.yaml', {}).control.nat, { keepaliveMs: 15_000, rtr: false });
  t.deepEqual(parseConfigText(`${GOOD}nat:\n  keepalive: 5s\n  rtr: true\n`, 'n1.yaml', {}).control.nat, { keepaliveMs: 5_000, rtr: true });
  t.regex(problems(`${GOOD}nat:\n  rtrs: true\n`)[0] ?? '', /nat\.rtrs/);
});

test('dataplane.udp-gso: on by default, false keeps the TUN offloads (issue 14)', (t) => {
  const on = parseConfigText(`${GOOD}dataplane:\n  tun: decent0\n`, 'n1.yaml', {});
  t.is(on.raw.dataplane?.['udp-gso'], true);
  const off = parseConfigText(`${GOOD}dataplane:\n  udp-gso: false\n`, 'n1.yaml', {});
  t.is(off.raw.dataplane?.['udp-gso'], false);
  t.is(off.raw.dataplane?.offloads, true);
  t.deepEqual(problems(`${GOOD}dataplane:\n  udp-gso: sometimes\n`).length, 1);
});

test('dataplane.encryption: required by default, the key exchange follows it; crypto.key-file gives the X25519 key', (t) => {
  const on = parseConfigText(`${GOOD}dataplane:\n  tun: decent0\n`, 'n1.yaml', {});
  t.is(on.dataplane?.encryption, 'required');
  t.is(on.control.crypto?.mode, 'required');
  // by CPU: AES-128-GCM first where the CPU has AES instructions (this one: see below), else ChaCha20-Poly1305
  t.deepEqual(on.control.crypto?.suites, hasAesInstructions(readCpuinfo()) ? [5, 6] : [6, 5]);
  t.is(on.control.crypto?.rekeyMs, 3_600_000);
  t.is(on.control.crypto?.privateKey?.length, 32);
  // a fresh key per load when no file names one
  t.notDeepEqual(parseConfigText(`${GOOD}dataplane:\n  tun: decent0\n`, 'n1.yaml', {}).control.crypto?.privateKey, on.control.crypto?.privateKey);
  const pref = parseConfigText(`${GOOD}dataplane:\n  encryption: preferred\ncrypto:\n  suites: [5]\n  rekey: 10m\n`, 'n1.yaml', {});
  t.is(pref.dataplane?.encryption, 'preferred');
  t.like(pref.control.crypto, { mode: 'preferred', suites: [5], rekeyMs: 600_000 });
  t.is(parseConfigText(GOOD, 'n1.yaml', {}).control.crypto?.mode, 'off', 'a control-only node registers no key');
  const pull = GOOD.replace('  group: 224.1.1.1', '  mode: pull\n  pull:\n    modulus: 3\n    dns-suffix: map-server.decent') + 'dataplane:\n  tun: decent0\n';
  t.is(parseConfigText(pull, 'n1.yaml', {}).control.crypto?.mode, 'off', 'pull mode: off by default for now (no group to bind keys to; failover with preferred lost traffic)');
  t.regex(parseConfigText(`${GOOD}dataplane:\n  static-map-cache: [{ eid: 10.2.0.0/24, rlocs: [192.0.2.2] }]\n`, 'n1.yaml', {}).warnings.join(), /static peers exchange no LISP-crypto keys/);
  t.regex(problems(`${GOOD}dataplane:\n  encryption: maybe\n`)[0] ?? '', /dataplane\.encryption/);
  t.regex(problems(`${GOOD}crypto:\n  suites: [2]\n`)[0] ?? '', /crypto\.suites/);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-cfg-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const key = Buffer.alloc(32, 7);
  fs.writeFileSync(path.join(dir, 'x25519.key'), `${key.toString('hex')}\n`);
  fs.writeFileSync(path.join(dir, 'n1.yaml'), `${GOOD}dataplane:\n  tun: decent0\ncrypto:\n  key-file: x25519.key\n`);
  t.deepEqual(Buffer.from(loadConfig(path.join(dir, 'n1.yaml'), {}).control.crypto?.privateKey ?? []), key);
  fs.writeFileSync(path.join(dir, 'x25519.key'), 'short\n');
  t.throws(() => loadConfig(path.join(dir, 'n1.yaml'), {}), { message: /crypto\.key-file: .* 32-byte X25519 private key/ });
});

test('default cipher suites follow the CPU: AES instructions (x86 AES-NI, ARMv8 crypto) put AES-128-GCM first', (t) => {
  const x86 = 'processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu vme de pse sse2 ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx\n';
  const x86NoAes = 'processor\t: 0\nflags\t\t: fpu vme de pse sse2 ssse3\n';
  const pi4 = 'processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n';
  const pi5 = 'processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid\n';
  const aesInName = 'model name\t: aes-capable test chip\nflags\t\t: fpu sse2 vaes-like\n';
  t.true(hasAesInstructions(x86));
  t.false(hasAesInstructions(x86NoAes));
  t.false(hasAesInstructions(pi4));
  t.true(hasAesInstructions(pi5));
  t.false(hasAesInstructions(aesInName), 'only the flags/Features line counts, and only the whole word');
  t.false(hasAesInstructions(''));
  t.deepEqual(defaultSuites(true), [5, 6]);
  t.deepEqual(defaultSuites(false), [6, 5]);
});
