// LISP-crypto in RFC 8061's form between decent nodes: both ends derive the same keys, suites 6, 5
// and 2 round-trip, and tampering, a wrong key, a replay and the MODP suites are refused.
import test from 'ava';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import {
  checkSuite, deriveTrafficKeys, generateKeyPair, IvSequence, ivCounter, keyPairFromPrivate, openData, privateKeyBytes,
  REPLAY_WINDOW, ReplayWindow, rfcKeyMaterial, sealData, sharedSecret, type TrafficKeys, type X25519KeyPair,
} from '../src/crypto';
import { hex } from './helpers/vectors';

const header = (): Buffer => Buffer.from('88abcdef00002a00', 'hex'); // N, I; nonce; IID 42

function pairKeys(suite: number, itr: X25519KeyPair, etr: X25519KeyPair, nonce: bigint): { itr: TrafficKeys; etr: TrafficKeys } {
  const a = deriveTrafficKeys({ variant: 'rfc', suite, privateKey: itr.privateKey, ownPublic: itr.publicKey, peerPublic: etr.publicKey, itrNonce: nonce });
  const b = deriveTrafficKeys({ variant: 'rfc', suite, privateKey: etr.privateKey, ownPublic: etr.publicKey, peerPublic: itr.publicKey, itrNonce: nonce });
  if (!a.ok || !b.ok) throw new Error('derivation failed');
  return { itr: a.keys, etr: b.keys };
}

test('RFC 8061 §6 key material: HMAC-SHA-256 keyed by the secret over 0x0001 ‖ "lisp-crypto" ‖ nonce ‖ 0x0100', (t) => {
  // Independent computation with the context written out byte by byte.
  const secret = Buffer.alloc(32, 7);
  const context = Buffer.from('0001' + Buffer.from('lisp-crypto').toString('hex') + '0102030405060708' + '0100', 'hex');
  t.is(hex(rfcKeyMaterial(secret, 0x0102030405060708n)), createHmac('sha256', secret).update(context).digest('hex'));
  t.not(hex(rfcKeyMaterial(secret, 1n)), hex(rfcKeyMaterial(secret, 2n)), 'a new Map-Request nonce gives new keys');
});

// RFC 8061 §5 gives suite 6 (ChaCha20-Poly1305, RFC 7539) an 8-byte IV and suite 5 (AES-128-GCM)
// a 12-byte one; §7 puts the IV after the LISP header, whose KK bits carry the key-id, and
// authenticates both. Written out here with node:crypto alone, so the reference (and the native
// code, byte-exact with it in native-crypto.test.ts) cannot drift: the suite-6 nonce is the 96-bit
// RFC 8439 §2.8 nonce, four zero bytes then the 8-byte IV; the IV is a big-endian counter from 1;
// the associated data is header ‖ IV; the ChaCha20 key is all 256 bits of key material.
for (const [suite, ivLength, keyLength] of [[6, 8, 32], [5, 12, 16]] as const) {
  test(`suite ${suite} wire layout (RFC 8061 §5, §7): header ‖ ${ivLength}-byte counter IV ‖ ciphertext ‖ tag, nonce and associated data as RFC 8439 / RFC 5116 take them`, (t) => {
    const material = createHmac('sha256', Buffer.alloc(32, 9)).update('x').digest();
    const s = checkSuite(suite, 'rfc');
    if (!s.ok) return t.fail(s.error);
    const keys = suite === 6
      ? { spec: s.spec, encryptKey: material, icvKey: Buffer.alloc(0) }
      : { spec: s.spec, encryptKey: material.subarray(0, 16), icvKey: Buffer.alloc(0) };
    t.is(keys.encryptKey.length, keyLength);
    t.is(s.spec.ivLength, ivLength);
    const iv = new IvSequence(s.spec).next();
    t.is(hex(iv), '00'.repeat(ivLength - 1) + '01', 'the first IV is the counter 1, big-endian');
    const inner = Buffer.from('4500001c000040004011000a0a0000010a000002', 'hex');
    const sealed = sealData(keys, 1, header(), iv, inner);
    const h = header();
    h[0] = (h[0] & ~3) | 1;
    const nonce = Buffer.concat([Buffer.alloc(12 - ivLength), iv]);
    const c = suite === 6
      ? createCipheriv('chacha20-poly1305', keys.encryptKey, nonce, { authTagLength: 16 })
      : createCipheriv('aes-128-gcm', keys.encryptKey, nonce, { authTagLength: 16 });
    c.setAAD(Buffer.concat([h, iv]), { plaintextLength: inner.length });
    const ct = Buffer.concat([c.update(inner), c.final()]);
    t.is(hex(sealed), hex(Buffer.concat([h, iv, ct, c.getAuthTag()])));
    t.is(sealed.length, 8 + ivLength + inner.length + 16, `sealing adds ${ivLength + 16} bytes`);
  });
}

test('a key pair survives its 32 private bytes; the public key is 32 bytes', (t) => {
  const p = generateKeyPair();
  t.is(p.publicKey.length, 32);
  t.is(hex(keyPairFromPrivate(privateKeyBytes(p)).publicKey), hex(p.publicKey));
});

for (const suite of [6, 5, 2]) {
  test(`suite ${suite}: ITR and ETR derive the same keys; packets round-trip; tampering, wrong keys and replays are refused`, (t) => {
    const itr = generateKeyPair();
    const etr = generateKeyPair();
    const nonce = 0x1122334455667788n;
    const { itr: enc, etr: dec } = pairKeys(suite, itr, etr, nonce);
    t.is(hex(enc.encryptKey), hex(dec.encryptKey));
    t.is(hex(enc.icvKey), hex(dec.icvKey));
    t.is(enc.encryptKey.length, suite === 6 ? 32 : 16);

    const ivs = new IvSequence(enc.spec);
    const window = new ReplayWindow();
    const packets: Buffer[] = [];
    for (const len of [0, 1, 15, 16, 17, 84, 1400]) {
      const inner = randomBytes(len);
      const p = sealData(enc, 2, header(), ivs.next(), inner);
      t.is(p[0] & 0x03, 2, 'KK carries the key-id');
      t.is(hex(p.subarray(1, 8)), hex(header().subarray(1, 8)), 'the rest of the header is sent in clear');
      const o = openData(dec, p);
      if (!o.ok) return t.fail(`${len}: ${o.reason}`);
      t.is(hex(o.inner), hex(inner), `${len} bytes`);
      const counter = ivCounter(dec.spec, o.iv);
      if (enc.spec.counterIv) {
        t.is(counter, packets.length + 1, 'AEAD IVs count from 1');
        t.is(window.accept(counter ?? -1), 'ok');
      } else {
        t.is(counter, undefined, 'CBC IVs are random');
      }
      packets.push(p);
    }
    const p = packets[5];
    for (const at of [0, 5, 8, 8 + enc.spec.ivLength, p.length - 1]) {
      const bad = Buffer.from(p);
      bad[at] ^= 0x80;
      t.deepEqual(openData(dec, bad), { ok: false, reason: 'icv' }, `byte ${at} flipped`);
    }
    const other = pairKeys(suite, itr, generateKeyPair(), nonce).etr;
    t.deepEqual(openData(other, p), { ok: false, reason: 'icv' }, 'another ETR key');
    const otherNonce = pairKeys(suite, itr, etr, nonce + 1n).etr;
    t.deepEqual(openData(otherNonce, p), { ok: false, reason: 'icv' }, 'keys of another exchange');
    if (enc.spec.counterIv) {
      const o = openData(dec, p);
      t.true(o.ok, 'a replayed packet still authenticates');
      if (o.ok) t.is(window.accept(ivCounter(dec.spec, o.iv) ?? -1), 'replay', 'and the window refuses it');
    }
  });
}

test('MODP suites 1, 3, 4, lispers suite 0 and unknown suites are refused with a reason; lispers 5 and 6 too', (t) => {
  for (const suite of [0, 1, 3, 4]) {
    const r = checkSuite(suite, 'rfc');
    t.false(r.ok);
    if (!r.ok) t.regex(r.error, /MODP/);
  }
  const unknown = checkSuite(9, 'rfc');
  t.false(unknown.ok);
  if (!unknown.ok) t.regex(unknown.error, /cipher suite 9 .* not supported/);
  for (const suite of [5, 6]) {
    const r = checkSuite(suite, 'lispers');
    t.false(r.ok);
    if (!r.ok) t.regex(r.error, /lispers/);
  }
  const p = generateKeyPair();
  const d = deriveTrafficKeys({ variant: 'rfc', suite: 3, privateKey: p.privateKey, ownPublic: p.publicKey, peerPublic: generateKeyPair().publicKey, itrNonce: 1n });
  t.false(d.ok);
});

test('a low-order or short peer key is an error, not an exception', (t) => {
  const p = generateKeyPair();
  t.false(sharedSecret(p.privateKey, new Uint8Array(32)).ok);
  t.false(sharedSecret(p.privateKey, new Uint8Array(31)).ok);
  const d = deriveTrafficKeys({ variant: 'rfc', suite: 6, privateKey: p.privateKey, ownPublic: p.publicKey, peerPublic: new Uint8Array(32), itrNonce: 1n });
  t.false(d.ok);
});

test('replay window: in order, reordered inside the window, duplicates, too old, jumps', (t) => {
  const w = new ReplayWindow();
  t.is(w.accept(1), 'ok');
  t.is(w.accept(1), 'replay');
  t.is(w.accept(3), 'ok');
  t.is(w.accept(2), 'ok', 'late but inside the window');
  t.is(w.accept(2), 'replay');
  t.is(w.accept(5000), 'ok', 'a jump ahead');
  t.is(w.accept(5000 - REPLAY_WINDOW + 1), 'ok', 'the oldest counter still inside');
  t.is(w.accept(5000 - REPLAY_WINDOW), 'too-old');
  t.is(w.accept(3), 'too-old');
  t.is(w.check(4999), 'ok');
  t.is(w.check(4999), 'ok', 'check does not record');
  t.is(w.accept(-1), 'too-old');
  t.is(w.accept(1.5), 'too-old');
  t.is(w.replays, 2);
  t.is(w.tooOld, 4);
  w.reset();
  t.is(w.accept(3), 'ok', 'a reset window starts over');
});

test('replay window agrees with a plain set model on random traffic', (t) => {
  const w = new ReplayWindow();
  const seen = new Set<number>();
  let greatest = -1;
  let x = 12345;
  const rnd = (n: number): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  let base = 0;
  for (let i = 0; i < 200000; i++) {
    base += rnd(10) === 0 ? rnd(3000) : rnd(3);
    const c = Math.max(0, base - rnd(2600));
    let expected: string;
    if (c > greatest) expected = 'ok';
    else if (greatest - c >= REPLAY_WINDOW) expected = 'too-old';
    else expected = seen.has(c) ? 'replay' : 'ok';
    const got = w.accept(c);
    if (got !== expected) return t.fail(`step ${i}: counter ${c}, greatest ${greatest}: got ${got}, expected ${expected}`);
    if (got === 'ok') {
      seen.add(c);
      greatest = Math.max(greatest, c);
    }
  }
  t.pass();
});
