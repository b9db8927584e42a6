// The README's install: `npm pack`, then `npm install -g` of the tarball builds the addon and
// puts `decent` on PATH. Checked from the packed tarball into a temporary prefix, so it sees
// exactly what a user gets (`files` in package.json, the install script, bin/decent).
import test from 'ava';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');

test('npm pack, then npm install -g of the tarball: the addon is built and decent runs from PATH', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-install-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // --ignore-scripts: `npm test` has just built dist/; `prepare` would rebuild it under the
  // feet of the test files running beside this one.
  const packed = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 });
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  const files = info.files.map((f) => f.path);
  t.true(files.includes('bin/decent'));
  t.true(files.includes('dist/src/cli/main.js'));
  t.true(files.includes('native/binding.gyp'));
  t.true(files.includes('examples/decent@.service'), 'the systemd unit ships with the package');
  t.false(files.some((f) => f.startsWith('dist/test/') || f.startsWith('test/') || f.startsWith('native/build/')), 'no tests or local build output');

  const prefix = path.join(dir, 'prefix');
  // The dependencies come from npm's cache when `npm ci` has run here (CI does).
  await exec('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', path.join(dir, info.filename)], {
    cwd: dir, encoding: 'utf8', maxBuffer: 1 << 24, timeout: 600_000,
  });
  const installed = path.join(prefix, 'lib', 'node_modules', 'decent-xtr');
  t.true(fs.existsSync(path.join(installed, 'native', 'build', 'Release', 'decent_native.node')), 'the install script built the addon');
  const env = { ...process.env, PATH: `${path.join(prefix, 'bin')}:${process.env.PATH ?? ''}` };
  const version = await exec('decent', ['--version'], { env, encoding: 'utf8' });
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  t.is(version.stdout, `decent ${pkg.version}\n`);
  const help = await exec('decent', ['--help'], { env, encoding: 'utf8' });
  t.regex(help.stdout, /^Usage: decent COMMAND/);
  t.regex(help.stdout, /\n {2}init +/);
  // The installed copy finds and loads its own addon.
  const addon = await exec(process.execPath, ['-e',
    `const a = require(${JSON.stringify(path.join(installed, 'dist/src/native/addon.js'))}).loadAddon(); process.stdout.write(typeof a)`], { encoding: 'utf8' });
  t.is(addon.stdout, 'object');
});
