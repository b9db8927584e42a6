import test from 'ava';
import {
  AuthAlgorithm, WireError, decodeControl, decodeData, encodeControl, encodeData, encodeSigned, formatAddress,
  signControl, verifyControl, type ControlMessage, type ControlMessageOf, type MapRegister,
} from '../src/wire';
import * as ex from './fixtures/spec-examples';

const hex = (h: string): Buffer => Buffer.from(h, 'hex');

function roundTrip(t: import('ava').ExecutionContext, h: string): ControlMessage {
  const bytes = hex(h);
  const m = decodeControl(bytes);
  t.is(encodeControl(m).toString('hex'), h, 'encode(decode(bytes)) === bytes');
  t.deepEqual(decodeControl(encodeControl(m)), m, 'decode(encode(m)) deep-equals m');
  return m;
}

function asType<T extends ControlMessage['type']>(m: ControlMessage, type: T): ControlMessageOf<T> {
  if (m.type !== type) throw new Error(`expected ${type}, got ${m.type}`);
  return m as ControlMessageOf<T>;
}

test('14.1 Map-Register: fields, trailer and both MAC coverages', (t) => {
  const m = asType(roundTrip(t, ex.ex14_1), 'map-register');
  t.true(m.proxyReply);
  t.true(m.wantMapNotify);
  t.false(m.merge);
  t.is(m.nonce, 0x0102030405060708n);
  t.is(m.keyId, 1);
  t.is(m.algorithm, 2);
  t.is(m.authData.length, 32);
  t.is(m.xtrId, 0x000102030405060708090a0b0c0d0e0fn);
  t.is(m.siteId, 1n);
  t.is(m.records.length, 1);
  const rec = m.records[0];
  t.is(rec.ttl, 1440);
  t.is(formatAddress(rec.eid, rec.eidMaskLen), '10.1.0.0/16');
  t.true(rec.authoritative);
  t.deepEqual(rec.locators[0], {
    priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: true, probed: false, reachable: true,
    address: { kind: 'ipv4', ip: '192.0.2.1' },
  });
  t.is(verifyControl(hex(ex.ex14_1), 'test'), 'ok');
  t.is(verifyControl(hex(ex.ex14_1), 'wrong'), 'bad');

  // Re-signing the zeroed message reproduces the published MAC (RFC 9301 §5.6: the MAC over the message with Authentication Data zeroed).
  const resigned = signControl(encodeControl({ ...m, authData: new Uint8Array(32) }), 'test');
  t.is(resigned.toString('hex'), ex.ex14_1);

  // RFC-literal coverage (trailer excluded) gives the published alternative MAC, which verifies too.
  const rfc = signControl(encodeControl(m), 'test', 'rfc');
  t.is(rfc.subarray(16, 48).toString('hex'), '51d1d2b5ca7f555bb3895cb3527a05a69c858ac4971b238e0895ed32f3968548');
  t.is(verifyControl(rfc, 'test'), 'ok');
});

test('14.1 variants: truncated 16-byte MAC and key-id 0', (t) => {
  const m = asType(decodeControl(hex(ex.ex14_1)), 'map-register');
  const short = encodeSigned(m, 'test', { truncated: true });
  t.is(short.length, 84);
  t.is(short.subarray(16, 32).toString('hex'), 'a4b5ed9f883c415db7047fd4a00e370f');
  t.is(verifyControl(short, 'test'), 'ok');
  const kid0 = encodeSigned(m, 'test', { keyId: 0 });
  t.is(kid0.subarray(16, 48).toString('hex'), '971ed4adc3f2ddfa57fa45d75f51b2f705d2261528d6420ae0a87c6b5a0a92b1');
  const sha1 = encodeSigned(m, 'test', { algorithm: AuthAlgorithm.HmacSha1 });
  t.is(sha1.readUInt16BE(14), 20);
  t.is(verifyControl(sha1, 'test'), 'ok');
  t.is(verifyControl(sha1, 'nope'), 'bad');
  const sha1short = encodeSigned(m, 'test', { algorithm: AuthAlgorithm.HmacSha1, truncated: true });
  t.is(sha1short.readUInt16BE(14), 12);
  t.is(verifyControl(sha1short, 'test'), 'ok');
});

test('14.2 Map-Notify and 14.3 Map-Notify-Ack', (t) => {
  const n = asType(roundTrip(t, ex.ex14_2), 'map-notify');
  t.is(n.nonce, 0x0102030405060708n);
  t.is(n.records.length, 1);
  t.is(n.trailing, undefined);
  t.is(verifyControl(hex(ex.ex14_2), 'test'), 'ok');
  const a = asType(roundTrip(t, ex.ex14_3), 'map-notify-ack');
  t.is(verifyControl(hex(ex.ex14_3), 'test'), 'ok');
  t.is(verifyControl(hex(ex.ex14_3), 'test2'), 'bad');
  t.deepEqual(a.records, n.records);
});

test('14.4 ECM with inner Map-Request', (t) => {
  const e = asType(roundTrip(t, ex.ex14_4), 'ecm');
  t.false(e.security);
  t.like(e.inner, { version: 4, source: '10.2.0.1', destination: '10.1.1.1', ttl: 64, sourcePort: 50000, destinationPort: 4342 });
  const rq = asType(e.message as ControlMessage, 'map-request');
  t.is(rq.nonce, 0x1122334455667788n);
  t.deepEqual(rq.sourceEid, { kind: 'ipv4', ip: '10.2.0.1' });
  t.deepEqual(rq.itrRlocs, [{ kind: 'ipv4', ip: '198.51.100.2' }]);
  t.deepEqual(rq.records, [{ eidMaskLen: 32, eid: { kind: 'ipv4', ip: '10.1.1.1' } }]);
  // Built without checksums, the encoder computes the same ones tshark rated "Good".
  const { ipChecksum: _i, udpChecksum: _u, ...rest } = e.inner!;
  t.is(encodeControl({ ...e, inner: rest }).toString('hex'), ex.ex14_4);
});

test('14.5 proxy Map-Reply and 14.6 negative Map-Reply', (t) => {
  const r = asType(roundTrip(t, ex.ex14_5), 'map-reply');
  t.false(r.records[0].authoritative);
  t.false(r.records[0].locators[0].local);
  const n = asType(roundTrip(t, ex.ex14_6), 'map-reply');
  t.is(n.records[0].ttl, 15);
  t.is(n.records[0].action, 1);
  t.is(n.records[0].locators.length, 0);
  t.is(formatAddress(n.records[0].eid, n.records[0].eidMaskLen), '10.9.0.0/16');
});

test('14.7 data header with N and I', (t) => {
  const bytes = hex(ex.ex14_7);
  const d = decodeData(bytes);
  t.like(d.header, { noncepresent: true, iidPresent: true, nonce: 0xabcdef, iid: 1000, lsb: 0, lsbEnabled: false });
  t.is(d.payload.length, 32);
  t.is(encodeData(d).toString('hex'), ex.ex14_7);
  t.deepEqual(decodeData(encodeData(d)), d);
});

test('14.8 RLOC-probe, 14.9 probe reply, 14.10 SMR', (t) => {
  const p = asType(roundTrip(t, ex.ex14_8), 'map-request');
  t.true(p.probe);
  t.deepEqual(p.sourceEid, { kind: 'none' });
  const pr = asType(roundTrip(t, ex.ex14_9), 'map-reply');
  t.true(pr.probe);
  t.true(pr.records[0].locators[0].probed);
  const s = asType(roundTrip(t, ex.ex14_10), 'map-request');
  t.true(s.smr);
  t.true(s.dontReply);
  t.false(s.probe);
});

test('14.11 (S,G) membership register, RFC layout', (t) => {
  const m = asType(roundTrip(t, ex.ex14_11), 'map-register');
  t.true(m.merge && m.proxyReply && m.useTtl);
  const rec = m.records[0];
  t.is(formatAddress(rec.eid), '(0.0.0.0/0, 233.252.1.1/32)');
  t.is(formatAddress(rec.locators[0].address), 'rle{192.0.2.1}');
  t.is(verifyControl(hex(ex.ex14_11), 'test'), 'ok');
});

test('14.12 instance-id LCAF EIDs, IPv4 and name', (t) => {
  const m = asType(roundTrip(t, ex.ex14_12), 'map-register');
  t.deepEqual(m.records.map((r) => formatAddress(r.eid, r.eidMaskLen)), ['[1000]10.1.0.0/16', "[1000]'xtr1'"]);
  t.is(verifyControl(hex(ex.ex14_12), 'test'), 'ok');
});

test('lispers quirks: padded Multicast-Info, AFI-List with AFI 0 and names, LE nonces, record-less acks', (t) => {
  const g = asType(roundTrip(t, ex.lispersGroupRegister), 'map-register');
  const eid = g.records[0].eid;
  t.true(eid.kind === 'lcaf' && eid.lcaf.type === 'multicast-info' && eid.lcaf.lispersPad === true);
  t.is(g.nonce, 0x01dfdfdfddccbbaan, 'nonce bytes kept in wire order');
  t.is(g.algorithm, 0);
  t.is(verifyControl(hex(ex.lispersGroupRegister), 'anything'), 'none');
  t.is(formatAddress(g.records[0].locators[0].address), '{rle{192.0.2.1}}');

  const n = asType(roundTrip(t, ex.lispersRleNotify), 'map-notify');
  t.is(formatAddress(n.records[0].locators[0].address), '{rle{192.0.2.1(xtr1), 198.51.100.2(xtr2)}}');

  const d = asType(roundTrip(t, ex.decentLispersGroupRegister), 'map-register');
  t.is(verifyControl(hex(ex.decentLispersGroupRegister), 'test'), 'ok');
  t.is(formatAddress(d.records[0].locators[0].address), "{'xtr1', rle{192.0.2.1}}");

  // Producing the lispers form on request: the RFC 14.11 record with the pad switched on.
  const rfc = asType(decodeControl(hex(ex.ex14_11)), 'map-register');
  const rec = rfc.records[0];
  if (rec.eid.kind !== 'lcaf' || rec.eid.lcaf.type !== 'multicast-info') throw new Error('unexpected EID');
  const padded: MapRegister = { ...rfc, records: [{ ...rec, eid: { kind: 'lcaf', lcaf: { ...rec.eid.lcaf, lispersPad: true } } }] };
  const bytes = encodeControl(padded);
  t.is(bytes.length, hex(ex.ex14_11).length + 2);
  t.deepEqual(decodeControl(bytes), padded);
});

test('Map-Notify-Ack with record count 0 that still carries a record keeps it as trailing bytes', (t) => {
  const ack = hex(ex.ex14_3);
  ack[3] = 0;
  const m = asType(decodeControl(ack), 'map-notify-ack');
  t.is(m.records.length, 0);
  t.is(m.trailing?.length, 28);
  t.is(encodeControl(m).toString('hex'), ack.toString('hex'));
});

test('bad input yields one WireError with an offset, never a read past the buffer', (t) => {
  const full = hex(ex.ex14_1);
  for (let len = 0; len < full.length - 24; len++) {
    const err = t.throws(() => decodeControl(full.subarray(0, len)), { instanceOf: WireError });
    t.true(err!.offset <= len, `offset ${err!.offset} within ${len}`);
  }
  const lying = Buffer.from(full);
  lying.writeUInt16BE(0x4000, 14); // auth length far past the end
  t.regex(t.throws(() => decodeControl(lying), { instanceOf: WireError })!.message, /authentication length 16384 exceeds/);
  const badAfi = Buffer.from(full);
  badAfi.writeUInt16BE(99, 0x3a);
  const e = t.throws(() => decodeControl(badAfi), { instanceOf: WireError })!;
  t.is(e.offset, 0x3a);
  t.regex(e.message, /unknown AFI 99/);
  t.regex(t.throws(() => decodeControl(hex('60000000')), { instanceOf: WireError })!.message, /unsupported control message type 6/);
  t.throws(() => decodeData(hex('8800')), { instanceOf: WireError });
});
