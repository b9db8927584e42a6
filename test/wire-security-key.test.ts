// The Security Key LCAF (RFC 8061 §4, LCAF type 11): hand-built round trips, and every LISP
// datagram of lispers.net's LISP-crypto capture (test/vectors/next/lispers-crypto-README.md).
import test from 'ava';
import { isDeepStrictEqual } from 'node:util';
import {
  decodeControl, decodeData, decodeInnerUdp, encodeControl, encodeData, encodeInnerUdp, formatAddress, WireError,
  type Address, type ControlMessage, type MapReply, type MapRequest, type SecurityKeyLcaf,
} from '../src/wire';
import { hex, vectorDatagrams } from './helpers/vectors';

const CAPTURE = 'next/lispers-crypto.pcap';

function request(itrRlocs: Address[]): MapRequest {
  return {
    type: 'map-request', authoritative: false, mapDataPresent: false, probe: true, smr: false, pitr: false,
    smrInvoked: false, nonce: 0x0102030405060708n, sourceEid: { kind: 'none' }, itrRlocs,
    records: [{ eidMaskLen: 32, eid: { kind: 'ipv4', ip: '10.0.0.1' } }],
  };
}

const key = (fill: number, len = 32): Uint8Array => new Uint8Array(len).fill(fill);

function securityKey(l: SecurityKeyLcaf): Address {
  return { kind: 'lcaf', lcaf: l };
}

test('security-key LCAF round-trips: three keys, revoke bit, IPv6 locator, reserved bits, no locator', (t) => {
  const cases: SecurityKeyLcaf[] = [
    { type: 'security-key', cipherSuite: 6, revoke: false, keys: [key(1)], address: { kind: 'ipv4', ip: '192.0.2.1' } },
    { type: 'security-key', cipherSuite: 5, revoke: true, keys: [key(1), key(2), key(3)], address: { kind: 'ipv6', ip: '2001:db8::1' } },
    { type: 'security-key', cipherSuite: 2, revoke: false, keys: [], address: { kind: 'none' } },
    { type: 'security-key', cipherSuite: 3, revoke: false, keys: [key(9, 256)] },
    { type: 'security-key', cipherSuite: 6, revoke: true, keys: [key(7)], address: { kind: 'ipv4', ip: '198.51.100.7' }, rsvd2: 1, rsvd3: 2, rsvd4: 0x41, flags: 0x80 },
  ];
  for (const c of cases) {
    const m = request([securityKey(c), { kind: 'ipv4', ip: '192.0.2.9' }]);
    const bytes = encodeControl(m);
    const back = decodeControl(bytes);
    t.true(isDeepStrictEqual(back, m), JSON.stringify(c, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    t.is(hex(encodeControl(back)), hex(bytes));
  }
});

test('security-key LCAF layout: RFC 8061 §4 field order, length counts the body', (t) => {
  const m = request([securityKey({ type: 'security-key', cipherSuite: 6, revoke: true, keys: [key(0xaa, 4), key(0xbb, 2)], address: { kind: 'ipv4', ip: '192.0.2.1' } })]);
  const bytes = encodeControl(m);
  // Map-Request header (4) + nonce (8) + source-EID AFI 0 (2) = 14: the ITR-RLOC starts there.
  const lcaf = hex(bytes.subarray(14, 14 + 8 + 4 + 6 + 4 + 6));
  t.is(lcaf, '4003' + '00000b00' + '0014' + '02' + '00' + '06' + '01' + '0004aaaaaaaa' + '0002bbbb' + '0001c0000201');
});

test('security-key LCAF: truncated key material and a count beyond the body are wire errors', (t) => {
  const m = request([securityKey({ type: 'security-key', cipherSuite: 2, revoke: false, keys: [key(1)], address: { kind: 'ipv4', ip: '192.0.2.1' } })]);
  const bytes = Buffer.from(encodeControl(m));
  const lengthAt = 14 + 6;
  const shorter = Buffer.from(bytes);
  shorter.writeUInt16BE(bytes.readUInt16BE(lengthAt) - 10, lengthAt);
  t.throws(() => decodeControl(shorter), { instanceOf: WireError });
  const moreKeys = Buffer.from(bytes);
  moreKeys[14 + 8] = 2;
  t.throws(() => decodeControl(moreKeys), { instanceOf: WireError, message: /security-key/ });
});

function roundTrips<T>(bytes: Uint8Array, decode: (b: Uint8Array) => T, encode: (m: T) => Uint8Array): T {
  const m = decode(bytes);
  const again = encode(m);
  if (hex(again) !== hex(bytes)) throw new Error(`encode(decode(bytes)) differs\n in:  ${hex(bytes)}\n out: ${hex(again)}`);
  if (!isDeepStrictEqual(decode(again), m)) throw new Error('decode(encode(m)) != m');
  return m;
}

/** Every control message of the capture (ECM inner ones too), decoded and round-tripped byte for byte. */
function captureControl(): { frame: number; message: ControlMessage }[] {
  const out: { frame: number; message: ControlMessage }[] = [];
  for (const d of vectorDatagrams(CAPTURE)) {
    if (d.plane !== 'control') continue;
    const m = roundTrips(d.payload, decodeControl, encodeControl);
    out.push({ frame: d.frame.number, message: m });
    if (m.type === 'ecm' && m.message) {
      const inner = roundTrips(d.payload.subarray(4), decodeInnerUdp, (x) => encodeInnerUdp(x.header, x.payload));
      out.push({ frame: d.frame.number, message: roundTrips(inner.payload, decodeControl, encodeControl) });
    }
  }
  return out;
}

test('lispers-crypto.pcap: every LISP datagram decodes and re-encodes byte for byte', (t) => {
  let control = 0;
  let data = 0;
  let encrypted = 0;
  for (const d of vectorDatagrams(CAPTURE)) {
    if (d.plane === 'control') {
      control += 1;
      continue;
    }
    data += 1;
    const p = roundTrips(d.payload, decodeData, encodeData);
    if (p.header.keyId !== 0) encrypted += 1;
  }
  t.notThrows(() => captureControl());
  t.log(`${control} control, ${data} data (${encrypted} with KK != 0)`);
  t.is(encrypted, 55);
  t.true(control >= 33);
});

function securityKeys(a: Address): SecurityKeyLcaf[] {
  if (a.kind !== 'lcaf') return [];
  if (a.lcaf.type === 'security-key') return [a.lcaf];
  if (a.lcaf.type === 'afi-list') return a.lcaf.items.flatMap(securityKeys);
  return [];
}

test('lispers-crypto.pcap: the keys sit where the README says, with suite 2, one key, R clear', (t) => {
  const messages = captureControl();
  const byFrame = (n: number, type: string): ControlMessage[] => messages.filter((m) => m.frame === n && m.message.type === type).map((m) => m.message);
  // Frame 46: ECM'd Map-Request; the first ITR-RLOC is the Security Key LCAF with n1's ITR key.
  const req = byFrame(46, 'map-request')[0] as MapRequest;
  const itrKey = securityKeys(req.itrRlocs[0]);
  t.is(itrKey.length, 1);
  t.is(itrKey[0].cipherSuite, 2);
  t.false(itrKey[0].revoke);
  t.is(itrKey[0].keys.length, 1);
  t.is(hex(itrKey[0].keys[0]), '5d4adba6ecdd83db23a7bc01925965c1fad269281fcdb05890a61c5451a49851');
  t.deepEqual(itrKey[0].address, { kind: 'ipv4', ip: '192.168.77.5' });
  // Frame 47: the Map-Reply's RLOC is an AFI-List {IPv4, name, Security Key}.
  const reply = byFrame(47, 'map-reply')[0] as MapReply;
  const rloc = reply.records[0].locators[0].address;
  const etrKey = securityKeys(rloc);
  t.is(hex(etrKey[0].keys[0]), 'be9a82e99f1de38253cdd051ba23f16cf2ce2f9bdf56361b33def2709f93d840');
  t.regex(formatAddress(rloc), /^\{192\.168\.77\.6, 'n2', security-key\{suite 2 \(X25519 \+ AES-128-CBC \+ HMAC-SHA-256\), key-id 1 be9a82e9[0-9a-f]+, 192\.168\.77\.6\}\}$/);
  // Every Map-Request and Map-Reply of the capture carries a key (probes too).
  let withKeys = 0;
  for (const { message } of messages) {
    if (message.type === 'map-request') withKeys += message.itrRlocs.flatMap(securityKeys).length;
    if (message.type === 'map-reply') withKeys += message.records.flatMap((r) => r.locators.flatMap((l) => securityKeys(l.address))).length;
  }
  t.is(withKeys, 4 + 7 + 5);
});
