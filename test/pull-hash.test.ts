import test from 'ava';
import { parseEid } from '../src/mapping/eid';
import { hashIndex, hashString, lookupKey, mapServerName } from '../src/control/decent/pull-hash';

test('hash strings follow RFC 9962 §5 (and lispers for names)', (t) => {
  t.is(hashString(parseEid('[1000]fd::2222/128')), '[1000]fd::2222/128');
  t.is(hashString(parseEid('10.1.0.0/16')), '[0]10.1.0.0/16');
  t.is(hashString(parseEid("'nexus-n1'")), "[0]'nexus-n1'");
  t.is(hashString(parseEid('(0.0.0.0/0, 233.252.1.1/32)')), '[0]233.252.1.1/32-0.0.0.0/0');
});

// Test vectors for both hash variants (RFC 9962 §5: SHA-256 mod modulus; lispers.net: HMAC-SHA-256
// keyed "lisp-decent", 48 bits), computed once and checked against lispers.net's pull-mode capture.
const VECTORS: [string, number, number, number, number][] = [
  ['[1000]fd::2222/128', 0, 0, 0, 4],
  ['[0]10.1.0.0/16', 0, 4, 1, 5],
  ['[0]240.0.1.0/24', 2, 2, 3, 7],
  ['[11]1.1.1.1/32', 0, 0, 2, 6],
  ['[0]233.252.1.1/32-0.0.0.0/0', 3, 3, 2, 2],
];
for (const [s, rfc4, rfc8, ln4, ln8] of VECTORS) {
  test(`index of ${s}`, (t) => {
    t.deepEqual([hashIndex(s, 4, 'rfc'), hashIndex(s, 8, 'rfc'), hashIndex(s, 4, 'lispers'), hashIndex(s, 8, 'lispers')], [rfc4, rfc8, ln4, ln8]);
  });
}

test('lispers pull capture: the same Map-Servers lispers chose (modulus 3)', (t) => {
  // test/vectors/lispers-decent-README.md, "pull-full": index 0 = n1, 1 = n2, 2 = n3.
  const cfg = { modulus: 3, dnsSuffix: 'map-server.decent', hash: 'lispers' as const, lookupLengths: [], dnsRefreshMs: 30_000 };
  const want: Record<string, string> = {
    '1.1.1.1/32': '2', '2.2.2.2/32': '1', '3.3.3.3/32': '2', "'nexus-n1'": '2', "'nexus-n2'": '1', "'nexus-n3'": '1',
  };
  for (const [eid, idx] of Object.entries(want)) t.is(mapServerName(parseEid(eid), cfg), `${idx}.map-server.decent`, eid);
});

test('lookup lengths: the longest configured range wins, no match hashes the full EID', (t) => {
  const lengths = [
    { range: parseEid('240.0.0.0/8'), length: 16 },
    { range: parseEid('240.11.0.0/16'), length: 24 },
    { range: parseEid('240.12.0.0/16'), length: 30 },
  ];
  t.is(hashString(lookupKey(parseEid('240.11.1.1/32'), lengths)), '[0]240.11.1.0/24');
  t.is(hashString(lookupKey(parseEid('240.12.2.5/32'), lengths)), '[0]240.12.2.4/30');
  t.is(hashString(lookupKey(parseEid('240.99.2.5/32'), lengths)), '[0]240.99.0.0/16');
  t.is(hashString(lookupKey(parseEid('10.1.1.1/32'), lengths)), '[0]10.1.1.1/32');
});
