// examples/decent@.service: reload is SIGHUP (the config reload), a configuration error (exit 2)
// is not restarted in a loop, and systemd itself accepts the unit when it is installed here.
import test from 'ava';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const UNIT = path.resolve(__dirname, '../../examples/decent@.service');

function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1];
      continue;
    }
    const [k, ...v] = line.split('=');
    const key = `${section}.${k.trim()}`;
    out.set(key, [...(out.get(key) ?? []), v.join('=').trim()]);
  }
  return out;
}

test('the systemd unit reloads with SIGHUP and does not restart after a configuration error', (t) => {
  const text = fs.readFileSync(UNIT, 'utf8');
  const d = directives(text);
  t.deepEqual(d.get('Service.ExecReload'), ['/bin/kill -HUP $MAINPID']);
  t.deepEqual(d.get('Service.RestartPreventExitStatus'), ['2']);
  t.deepEqual(d.get('Service.Restart'), ['on-failure']);
  t.deepEqual(d.get('Service.User'), ['decent']);
  t.regex(text, /useradd --system .*decent/, 'the unit says how to create its user');
});

test('systemd-analyze verify accepts the unit', async (t) => {
  const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => fs.existsSync(p));
  if (!analyze) {
    t.log('skipped: systemd-analyze is not installed');
    t.pass();
    return;
  }
  // An instance of the template, next to a stand-in for `env` so ExecStart's binary exists.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-unit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const unit = path.join(dir, 'decent@n1.service');
  fs.copyFileSync(UNIT, unit);
  const r = await exec(analyze, ['verify', '--man=no', unit], { encoding: 'utf8' }).then(
    (x) => ({ ...x, code: 0 }), (e: { stdout: string; stderr: string; code: number }) => e);
  // Only complaints about this unit count; the host's other units are none of our business.
  const ours = r.stderr.split('\n').filter((l) => l.includes('decent@') && !/Failed to prepare filename|not found|No such file/.test(l));
  t.deepEqual(ours, [], r.stderr);
});
