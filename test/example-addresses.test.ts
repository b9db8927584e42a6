// What users copy must not capture real traffic: examples, the demo, the README and every
// --help text use private (RFC 1918, fd00::/8), documentation (RFC 5737, 2001:db8::/32),
// loopback or multicast addresses only, never public ones such as 1.1.1.1.
import test from 'ava';
import * as fs from 'node:fs';
import { isIPv4 } from 'node:net';
import * as path from 'node:path';
import { main } from '../src/cli/main';

const ROOT = path.resolve(__dirname, '../..');

function allowedV4(ip: string): boolean {
  const [a, b, c] = ip.split('.').map(Number);
  return a === 10 || a === 127 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168)
    || (a === 192 && b === 0 && c === 2) || (a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113)
    || (a >= 224 && a < 240) || ip === '0.0.0.0' || ip === '255.255.255.255';
}

function allowedV6(ip: string): boolean {
  const v = ip.toLowerCase();
  return /^f[cd]/.test(v) || /^ff/.test(v) || /^fe80:/.test(v) || /^2001:0?db8:/.test(v) || v === '::1' || v === '::';
}

/** Public IPv4 addresses in a text (dotted quads with valid octets). */
function publicV4(text: string): string[] {
  return [...text.matchAll(/(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.]*\d)/g)].map((m) => m[1])
    .filter((ip) => isIPv4(ip) && !allowedV4(ip));
}

/** Public IPv6 addresses in a text: only the forms an EID or RLOC takes (hex groups with ::). */
function publicV6(text: string): string[] {
  return [...text.matchAll(/(?<![\w:])([0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{0,4}){2,7})(?![\w:])/g)].map((m) => m[1])
    .filter((ip) => ip.includes('::') && !allowedV6(ip));
}

test('the checks themselves catch public addresses', (t) => {
  t.deepEqual(publicV4('eids: [1.1.1.1/32, 10.0.0.1, 8.8.8.8] v1.2.3 192.0.2.5'), ['1.1.1.1', '8.8.8.8']);
  t.deepEqual(publicV6('eids: [2606:4700::1111/128, fd00::1, 2001:db8::5]'), ['2606:4700::1111']);
});

test('examples, README and demo use private or documentation addresses only', (t) => {
  const files = [
    ...fs.readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.yaml') || f.endsWith('.service')).map((f) => path.join('examples', f)),
    'README.md', 'src/testbed/demo.ts', 'src/testbed/demo-nat.ts', 'src/cli/demo.ts', 'src/api/ui.ts',
  ];
  for (const f of files) {
    const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
    t.deepEqual([...publicV4(text), ...publicV6(text)], [], f);
  }
});

test('every --help text uses private or documentation addresses only', async (t) => {
  let global = '';
  await main(['--help'], { out: (s) => { global += s; }, err: () => undefined });
  const commands = [...global.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]).filter((c) => !c.startsWith('-'));
  t.true(commands.length >= 8, commands.join(' '));
  for (const c of commands) {
    let help = '';
    t.is(await main([c, '--help'], { out: (s) => { help += s; }, err: () => undefined }), 0, c);
    t.deepEqual([...publicV4(help), ...publicV6(help)], [], `decent ${c} --help`);
  }
});
