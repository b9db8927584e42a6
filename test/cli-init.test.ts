// `decent genkey` and `decent init`: a new user's first two commands. The configs they write
// must load with the same loader `decent run` uses.
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../src/config/load';
import { main } from '../src/cli/main';
import { eidKey } from '../src/mapping/eid';
import { DECENT_BIN } from './helpers/nodes';
import { Netns, netnsAvailable, uniqueName } from '../scripts/lib/netns';

async function decent(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => { out += s; }, err: (s) => { err += s; } });
  return { code, out, err };
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-init-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('genkey prints a fresh 256-bit key and says how to share it and name it in auth.key-file', async (t) => {
  const a = await decent(['genkey']);
  const b = await decent(['genkey']);
  t.is(a.code, 0);
  t.regex(a.out, /^[A-Za-z0-9_-]{43}\n$/, 'only the key on standard output');
  t.is(Buffer.from(a.out.trim(), 'base64url').length, 32);
  t.not(a.out, b.out);
  t.regex(a.err, /every member of the group/);
  t.regex(a.err, /key-file: \/etc\/decent\/group\.key/);

  const dir = tempDir(t);
  const file = path.join(dir, 'group.key');
  const w = await decent(['genkey', '--out', file]);
  t.is(w.code, 0, w.err);
  t.regex(w.out, new RegExp(`key-file: ${file}`));
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  const key = fs.readFileSync(file, 'utf8');
  t.regex(key, /^[A-Za-z0-9_-]{43}\n$/);
  const again = await decent(['genkey', '--out', file]);
  t.is(again.code, 1);
  t.regex(again.err, /exists/);
  t.is(fs.readFileSync(file, 'utf8'), key, 'an existing key is never overwritten');
});

test('init writes a commented config that the config loader accepts, and refuses to overwrite it', async (t) => {
  const dir = tempDir(t);
  t.is((await decent(['genkey', '-q', '--out', path.join(dir, 'group.key')])).code, 0);
  const file = path.join(dir, 'pi1.yaml');
  const r = await decent(['init', '--out', file, '--name', 'pi1', '--interface', 'lo', '--seeds', '192.0.2.10,198.51.100.7',
    '--key-file', 'group.key']);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /Wrote .*pi1\.yaml: node pi1, EID 10\.\d+\.\d+\.\d+\/32/);
  const text = fs.readFileSync(file, 'utf8');
  t.true(text.split('\n').filter((l) => l.trim().startsWith('#')).length >= 15, 'commented');
  const c = loadConfig(file, {});
  t.is(c.control.name, 'pi1');
  t.deepEqual(c.rlocInterfaces, ['lo']);
  t.is(c.control.mode, 'push');
  t.is(c.control.group.address, '239.1.1.1');
  t.is(c.control.group.replication, 'her');
  t.deepEqual(c.control.group.seeds, ['192.0.2.10', '198.51.100.7']);
  t.is(c.control.auth.key, fs.readFileSync(path.join(dir, 'group.key'), 'utf8').trim());
  t.is(c.control.eids.length, 1);
  t.regex(eidKey(c.control.eids[0]), /^\[0\]10\.\d+\.\d+\.\d+\/32$/, 'a private EID by default');
  t.is(c.apiSocket, '/run/decent/pi1.sock');

  const again = await decent(['init', '--out', file, '--interface', 'lo']);
  t.is(again.code, 1);
  t.regex(again.err, /exists/);
  t.is(fs.readFileSync(file, 'utf8'), text);

  const v6 = await decent(['init', '--out', path.join(dir, 'v6.yaml'), '--name', 'v6', '--interface', 'lo', '--eid', 'fd00:20::1/128,10.20.0.1',
    '--key-file', 'group.key']);
  t.is(v6.code, 0, v6.err);
  t.deepEqual(loadConfig(path.join(dir, 'v6.yaml'), {}).control.eids.map(eidKey), ['[0]fd00:20::1/128', '[0]10.20.0.1/32']);

  const bad = await decent(['init', '--out', '-', '--interface', 'lo', '--eid', '10.1.1.1/33']);
  t.is(bad.code, 2);
  t.regex(bad.err, /eids\.0: prefix length/);
  const badGroup = await decent(['init', '--out', '-', '--interface', 'lo', '--group', '10.1.1.1']);
  t.is(badGroup.code, 2);
  t.regex(badGroup.err, /multicast/);
});

test('init --help and genkey --help carry examples', async (t) => {
  for (const cmd of ['init', 'genkey']) {
    const h = await decent([cmd, '--help']);
    t.is(h.code, 0);
    t.regex(h.out, new RegExp(`Examples:\\n {2}decent ${cmd}`));
  }
  t.regex((await decent(['--help'])).out, /\n {2}init +write a commented config[\s\S]*\n {2}genkey +make a strong random group key/);
});

test.serial('init picks the interface of the default route for rlocs.interfaces', (t) => {
  const root = netnsAvailable();
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const ns = new Netns(uniqueName('init'));
  t.teardown(() => ns.destroy());
  // Two interfaces; only uplink0 carries the default route.
  for (const [dev, addr] of [['side0', '10.66.0.2/24'], ['uplink0', '192.0.2.20/24']]) {
    ns.ip(['link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`]);
    ns.ip(['addr', 'add', addr, 'dev', dev]);
    for (const d of [dev, `${dev}p`]) ns.ip(['link', 'set', d, 'up']);
  }
  ns.ip(['route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'uplink0']);
  const text = ns.exec([process.execPath, DECENT_BIN, 'init', '--out', '-', '--name', 'x']);
  t.regex(text, /^ {2}interfaces: \[uplink0\]$/m);
  // The random EID avoids the host's own subnets (side0's 10.66.0.0/24 here).
  const eid = /^ {2}- "(10\.\d+\.\d+\.\d+)\/32"$/m.exec(text)?.[1];
  t.truthy(eid);
  t.false(eid?.startsWith('10.66.0.'));
  // No default route at all: say what to do instead of guessing.
  ns.ip(['route', 'del', 'default']);
  const err = t.throws(() => ns.exec([process.execPath, DECENT_BIN, 'init', '--out', '-']));
  t.regex(String((err as { stderr?: string }).stderr), /no default route.*--interface/);
});
