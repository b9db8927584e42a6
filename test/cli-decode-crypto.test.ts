// `decent decode --crypto-key` on lispers.net's LISP-crypto capture, through bin/decent: the key
// exchanges are read from the capture and every encrypted data packet decrypts.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { NEXT_VECTORS_DIR, REPO_ROOT } from './helpers/vectors';

const BIN = path.join(REPO_ROOT, 'bin/decent');
const CAPTURE = path.join(NEXT_VECTORS_DIR, 'lispers-crypto.pcap');
// n1's two private keys from the capture's README (ITR role, direction A; ETR role, direction B), as hex.
const N1_ITR = Buffer.from('d12625d5626e70f66fc01380a45ae005').toString('hex');
const N1_ETR = Buffer.from('2ea69465eaffac7c87ac4dc663510a20').toString('hex');

function decode(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, 'decode', CAPTURE, ...args], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
}

interface Line { frame: number; type: string; decrypted?: { verdict: string; suite?: number; variant?: string }; innerPacket?: { source: string; destination: string; protocol: string; length: number } }

test('with both of n1\'s private keys all 55 encrypted packets decrypt, in both directions', (t) => {
  const r = decode('--json', '--crypto-key', `${N1_ITR},${N1_ETR}`);
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);
  const encrypted = lines.filter((l) => l.decrypted);
  t.is(encrypted.length, 55);
  t.true(encrypted.every((l) => l.decrypted?.verdict === 'ok' && l.decrypted.suite === 2 && l.decrypted.variant === 'lispers'));
  const f53 = encrypted.find((l) => l.frame === 53);
  t.like(f53?.innerPacket, { source: '1.1.1.1', destination: '2.2.2.2', protocol: 'ICMP', length: 84 });
  const f63 = encrypted.find((l) => l.frame === 63);
  t.like(f63?.innerPacket, { source: '2.2.2.2', destination: '1.1.1.1', protocol: 'ICMP', length: 84 });
});

test('with one direction\'s key the other direction says why it stays closed; a malformed key is a usage error', (t) => {
  const r = decode('--crypto-key', N1_ITR);
  t.is(r.status, 0, r.stderr);
  t.is((r.stdout.match(/decrypted \(suite 2, lispers\.net keys\)/g) ?? []).length, 30);
  t.is((r.stdout.match(/not decrypted: no key exchange with a known key for this pair/g) ?? []).length, 25);
  const bad = decode('--crypto-key', 'abcd');
  t.is(bad.status, 2);
  t.regex(bad.stderr, /64 hex digits/);
});
