// lispers.net's LISP-crypto, checked against its capture: the keys derived from the README's
// private keys, and every one of the 55 encrypted frames verified and decrypted
// (test/vectors/next/lispers-crypto-README.md).
import test from 'ava';
import { readFileSync } from 'node:fs';
import {
  checkSuite, deriveTrafficKeys, IvSequence, ivCounter, keyPairFromPrivate, lispersContext, lispersKeyMaterial,
  lispersSharedKey, openData, ReplayWindow, sealData, sharedSecret, splitKeyMaterial, type TrafficKeys,
} from '../src/crypto';
import { parseFrame } from '../src/pcap/packet';
import { hex, loadVector, NEXT_VECTORS_DIR, vectorDatagrams } from './helpers/vectors';

const CAPTURE = 'next/lispers-crypto.pcap';
const README = readFileSync(`${NEXT_VECTORS_DIR}/lispers-crypto-README.md`, 'utf8');
const bytes = (h: string): Buffer => Buffer.from(h, 'hex');
const ascii = (s: string): Buffer => Buffer.from(s, 'ascii');

interface Direction {
  readonly itrPrivate: Buffer; readonly itrPublic: string;
  readonly etrPrivate: Buffer; readonly etrPublic: string;
  readonly raw: string; readonly shared: string; readonly context: string;
  readonly encryptKey: string; readonly icvKey: string;
}

// The README's "Key material" tables.
const A: Direction = {
  itrPrivate: ascii('d12625d5626e70f66fc01380a45ae005'), itrPublic: '5d4adba6ecdd83db23a7bc01925965c1fad269281fcdb05890a61c5451a49851',
  etrPrivate: ascii('62d561365796fdbf91ada52f7c928d97'), etrPublic: 'be9a82e99f1de38253cdd051ba23f16cf2ce2f9bdf56361b33def2709f93d840',
  raw: '4040ddddba3e2a20ce8d730642344312f45a55f7912201b0f1ac7811b16a6e40',
  shared: '8484f811c50319518443b8fbe7859974e1dfbd4f570433ac409363f4f87f6adc',
  context: '0001lisp-cryptoe3d0594f73c06059706a6c50287a94ad081c46b3c09b8643a378ee24ce3740110100',
  encryptKey: 'a0d80e5a7b36f2b052cbf97feb7272d8', icvKey: '0000000032d4f781e2ca615678f23ef7e436ac4e',
};
const B: Direction = {
  itrPrivate: ascii('b6872ebaef8862e2e05037b761e9519b'), itrPublic: 'bd49b0198f0d0e1db4c2f0a35de9c387e7694b80ab819ae2d593a423df8e7272',
  etrPrivate: ascii('2ea69465eaffac7c87ac4dc663510a20'), etrPublic: '0b017837327aa59a407c0699e92957c40caf5c052bddcec990bcdffb63ec4d7e',
  raw: '1b6673b764b7deb5cea9edd3803e9d3a71f54ea20c14667867330b30b4475425',
  shared: 'a3c891767c51dbda43978b3b0b6072c5df67223b461280f47e2c97e0efd30379',
  context: '0001lisp-cryptob648c82ebd77ab87f4bef63ab4c09443ebc61785805c542b452f7bd8bc623f0c0100',
  encryptKey: '7455e6b6056e34655b04aa2ee570f622', icvKey: '000000005c46c62d0af5c5f9fe7cefbf7fcea0d7',
};

const suite2 = (): ReturnType<typeof checkSuite> => checkSuite(2, 'lispers');

/** The keys of a direction as one end derives them (ITR: own ITR pair, peer ETR key; ETR: the reverse). */
function keysAt(d: Direction, end: 'itr' | 'etr'): TrafficKeys {
  const own = keyPairFromPrivate(end === 'itr' ? d.itrPrivate : d.etrPrivate);
  const r = deriveTrafficKeys({
    variant: 'lispers', suite: 2, privateKey: own.privateKey, ownPublic: own.publicKey,
    peerPublic: bytes(end === 'itr' ? d.etrPublic : d.itrPublic), itrNonce: 0n,
  });
  if (!r.ok) throw new Error(r.error);
  return r.keys;
}

for (const [name, d] of [['A (n1 -> n2)', A], ['B (n2 -> n1)', B]] as const) {
  test(`direction ${name}: every step of lispers' derivation matches the README, at both ends`, (t) => {
    const itr = keyPairFromPrivate(d.itrPrivate);
    const etr = keyPairFromPrivate(d.etrPrivate);
    t.is(hex(itr.publicKey), d.itrPublic);
    t.is(hex(etr.publicKey), d.etrPublic);
    const raw = sharedSecret(itr.privateKey, etr.publicKey);
    const rawBack = sharedSecret(etr.privateKey, itr.publicKey);
    if (!raw.ok || !rawBack.ok) return t.fail('X25519 failed');
    t.is(hex(raw.secret), d.raw);
    t.is(hex(rawBack.secret), d.raw);
    t.is(hex(lispersSharedKey(raw.secret)), d.shared);
    t.is(lispersContext(itr.publicKey, etr.publicKey), d.context);
    t.is(lispersContext(etr.publicKey, itr.publicKey), d.context);
    const s = suite2();
    if (!s.ok) return t.fail(s.error);
    const keys = splitKeyMaterial(lispersKeyMaterial(raw.secret, itr.publicKey, etr.publicKey), s.spec);
    t.is(hex(keys.encryptKey), d.encryptKey);
    t.is(hex(keys.icvKey), d.icvKey);
    for (const end of ['itr', 'etr'] as const) {
      const k = keysAt(d, end);
      t.is(hex(k.encryptKey), d.encryptKey, end);
      t.is(hex(k.icvKey), d.icvKey, end);
    }
  });
}

interface Row { readonly frame: number; readonly source: string; readonly iv: string; readonly ctLength: number; readonly icv: string; readonly what: string; readonly pad: number }

/** The README's table "All 55 encrypted frames". */
function readmeRows(): Row[] {
  const rows: Row[] = [];
  const re = /^\| (\d+) \| [\d.]+ \| ([\d.]+):\d+ → [\d.]+ \| 0x[0-9a-f]+ \| `([0-9a-f]{32})` \| (\d+) \| `([0-9a-f]{40})` \| ([^|]+) \| (\d+) \|$/gm;
  for (const m of README.matchAll(re)) {
    rows.push({ frame: Number(m[1]), source: m[2], iv: m[3], ctLength: Number(m[4]), icv: m[5], what: m[6].trim(), pad: Number(m[7]) });
  }
  return rows;
}

/** The README's full hex inner packets ("frame N inner packet (L bytes):" followed by the hex). */
function readmeInner(): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of README.matchAll(/^frame (\d+) inner packet \(\d+ bytes\):\n\s+([0-9a-f]+)$/gm)) out.set(Number(m[1]), m[2]);
  // The worked example (frame 53) prints its 84 bytes over two lines, then the padding.
  const example = /gives the 84-byte inner packet[\s\S]*?```\n([0-9a-f ]+)\n([0-9a-f]+)/.exec(README);
  if (example) out.set(53, (example[1] + example[2]).replace(/ /g, ''));
  return out;
}

/** The ITR's own native copy of an EID packet (same IPv4 id, addresses and protocol), from the capture. */
function nativeCopy(inner: Buffer): Buffer | undefined {
  const file = loadVector(CAPTURE);
  for (const f of file.frames) {
    const c = parseFrame(file.header.linkType, f.data);
    if (c.kind !== 'ip' && c.kind !== 'udp') continue;
    if (c.kind === 'udp' && (c.udp.destinationPort === 4341 || c.udp.destinationPort === 4342 || c.udp.sourcePort === 4342)) continue;
    const ip = Buffer.from(f.data.subarray(c.ip.offset, c.ip.offset + c.ip.totalLength));
    if (ip.length === inner.length && ip.subarray(4, 6).equals(inner.subarray(4, 6)) && ip[9] === inner[9]
      && ip.subarray(12, 20).equals(inner.subarray(12, 20))) return ip;
  }
  return undefined;
}

function ipv4ChecksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

test('every encrypted frame of the capture verifies and decrypts to the inner packet the README lists', (t) => {
  const rows = readmeRows();
  t.is(rows.length, 55);
  const full = readmeInner();
  t.is(full.size, 6);
  t.is(full.get(53)?.length, 84 * 2);
  const keys = { '192.168.77.5': keysAt(A, 'etr'), '192.168.77.6': keysAt(B, 'etr') } as Record<string, TrafficKeys>;
  const windows = { '192.168.77.5': new ReplayWindow(), '192.168.77.6': new ReplayWindow() } as Record<string, ReplayWindow>;
  const encrypted = vectorDatagrams(CAPTURE).filter((d) => d.plane === 'data' && (d.payload[0] & 0x03) !== 0);
  t.deepEqual(encrypted.map((d) => d.frame.number), rows.map((r) => r.frame));
  let matchedNative = 0;
  for (const [i, d] of encrypted.entries()) {
    const row = rows[i];
    const where = `frame ${row.frame}`;
    t.is(d.ip.source, row.source, where);
    t.is(d.payload[0] & 0x03, 1, `${where}: key-id 1`);
    t.is(hex(d.payload.subarray(8, 24)), row.iv, where);
    t.is(hex(d.payload.subarray(d.payload.length - 20)), row.icv, where);
    t.is(d.payload.length - 8 - 16 - 20, row.ctLength, where);
    const k = keys[d.ip.source];
    const opened = openData(k, d.payload);
    if (!opened.ok) {
      t.fail(`${where}: ${opened.reason}`);
      continue;
    }
    const inner = opened.inner;
    t.is(row.ctLength - inner.length, row.pad, `${where}: padding`);
    t.true(ipv4ChecksumOk(inner), `${where}: inner IPv4 header checksum`);
    t.is(inner[8], 63, `${where}: TTL after the ITR's decrement`);
    const [src, dst] = /^([\d.]+)→([\d.]+)/.exec(row.what)?.slice(1) ?? [];
    t.is(`${inner[12]}.${inner[13]}.${inner[14]}.${inner[15]}`, src, where);
    t.is(`${inner[16]}.${inner[17]}.${inner[18]}.${inner[19]}`, dst, where);
    t.is(inner[9], row.what.includes('ICMP') ? 1 : row.what.includes('TCP') ? 6 : 17, `${where}: protocol`);
    t.true(row.what.endsWith(`${inner.length} B`), `${where}: length ${inner.length} in "${row.what}"`);
    const expected = full.get(row.frame);
    if (expected !== undefined) t.is(hex(inner), expected, `${where}: README inner packet`);
    // The plaintext ground truth: the ITR's native copy differs only in TTL and header checksum.
    const native = nativeCopy(inner);
    if (native) {
      matchedNative += 1;
      const a = Buffer.from(inner);
      const b = Buffer.from(native);
      t.is(b[8], 64, where);
      a[8] = b[8] = 0;
      a.writeUInt16BE(0, 10);
      b.writeUInt16BE(0, 10);
      t.true(a.equals(b), `${where}: inner packet = native copy but TTL`);
    }
    const counter = ivCounter(k.spec, opened.iv);
    t.not(counter, undefined, where);
    t.is(windows[d.ip.source].accept(counter ?? -1), 'ok', `${where}: replay window`);
  }
  t.log(`${encrypted.length} frames decrypted, ${matchedNative} matched their native copy`);
  t.is(matchedNative, 55);
});

test('sealing with lispers keys and its IV counter reproduces frame 53 byte for byte; replay and tampering are refused', (t) => {
  const frame53 = vectorDatagrams(CAPTURE).find((d) => d.frame.number === 53);
  if (!frame53) return t.fail('frame 53 missing');
  const captured = Buffer.from(frame53.payload);
  const itrKeys = keysAt(A, 'itr');
  const opened = openData(itrKeys, captured);
  if (!opened.ok) return t.fail(opened.reason);
  const iv = captured.subarray(8, 24);
  const start = (iv.readBigUInt64LE(0) << 64n) | iv.readBigUInt64LE(8);
  const ivs = new IvSequence(itrKeys.spec, start);
  const sealed = sealData(itrKeys, 1, captured.subarray(0, 8), ivs.next(), opened.inner);
  t.is(hex(sealed), hex(captured));
  // The next IV is the one frame 61 carries: the increment shows in byte 8.
  t.is(hex(ivs.next()), '82bcc83f67403b3fa816269ac5d4f4f8');

  const etrKeys = keysAt(A, 'etr');
  const window = new ReplayWindow();
  const counter = ivCounter(etrKeys.spec, iv) ?? -1;
  t.is(window.accept(counter), 'ok');
  t.is(window.accept(counter), 'replay');
  for (const at of [0, 3, 8, 30, captured.length - 1]) {
    const bad = Buffer.from(captured);
    bad[at] ^= 0x01;
    t.deepEqual(openData(etrKeys, bad), { ok: false, reason: 'icv' }, `byte ${at} flipped`);
  }
  t.deepEqual(openData(keysAt(B, 'etr'), captured), { ok: false, reason: 'icv' }, 'the other direction\'s keys');
  t.deepEqual(openData(etrKeys, captured.subarray(0, 40)), { ok: false, reason: 'truncated' });
});
