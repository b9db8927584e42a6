// The relay shim (src/wire/relay-shim.ts): what an ITR puts in front of a sealed datagram for its
// RTR (TO), what the RTR hands the ETR (FROM), and what no LISP header can be mistaken for.
import test from 'ava';
import { AddressTable } from '../src/native';
import { SHIM_FROM, SHIM_LEN4, SHIM_LEN6, SHIM_MARK, SHIM_TO, shimFamily, shimLength, shimType, writeShim } from '../src/wire/relay-shim';
import { writeDataHeader } from '../src/wire/data';
import { DATA_FLAG_I, DATA_FLAG_N } from '../src/wire/constants';

function withShim(type: number, address: string, after = 40): Uint8Array {
  const table = new AddressTable(1);
  table.set(0, address, 4341);
  const b = new Uint8Array(SHIM_LEN6 + after);
  const n = writeShim(b, 0, type, table.bytes, 0);
  return b.subarray(0, n + after);
}

test('IPv4 and IPv6 shims round-trip: mark, type, family, address; 8 and 20 bytes', (t) => {
  const v4 = withShim(SHIM_TO, '198.51.100.10');
  t.is(shimLength(v4, 0, v4.length), SHIM_LEN4);
  t.deepEqual([...v4.subarray(0, 8)], [SHIM_MARK, SHIM_TO, 4, 0, 198, 51, 100, 10]);
  t.is(shimType(v4, 0), SHIM_TO);
  t.is(shimFamily(v4, 0), 4);
  const v6 = withShim(SHIM_FROM, '2001:db8::7');
  t.is(shimLength(v6, 0, v6.length), SHIM_LEN6);
  t.is(shimType(v6, 0), SHIM_FROM);
  t.is(shimFamily(v6, 0), 6);
  t.deepEqual([...v6.subarray(4, 20)], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
});

test('no LISP data header reads as a shim: every flags byte an ITR writes gives 0', (t) => {
  const b = new Uint8Array(64);
  for (const flags of [DATA_FLAG_N, DATA_FLAG_N | DATA_FLAG_I, DATA_FLAG_I, 0, DATA_FLAG_N | 1, DATA_FLAG_N | DATA_FLAG_I | 3]) {
    writeDataHeader(b, 0, flags, 0x123456, 0xffffff00);
    t.is(shimLength(b, 0, b.length), 0, `flags 0x${flags.toString(16)}`);
  }
});

test('malformed shims are -1: unknown type or family, reserved byte set, too short for a LISP header behind it', (t) => {
  const ok = withShim(SHIM_TO, '192.0.2.1');
  const bad = (f: (b: Uint8Array) => void, len = ok.length): number => {
    const b = Uint8Array.from(ok);
    f(b);
    return shimLength(b, 0, len);
  };
  t.is(bad((b) => { b[1] = 3; }), -1);
  t.is(bad((b) => { b[1] = 0; }), -1);
  t.is(bad((b) => { b[2] = 5; }), -1);
  t.is(bad((b) => { b[3] = 1; }), -1);
  t.is(bad(() => undefined, SHIM_LEN4 + 7), -1);
  t.is(bad(() => undefined, 3), -1);
  t.is(bad(() => undefined, SHIM_LEN4 + 8), SHIM_LEN4);
  // an IPv6 family with IPv4-sized room is too short
  t.is(bad((b) => { b[2] = 6; }, SHIM_LEN4 + 8), -1);
});

test('writeShim writes nothing for an unused address entry', (t) => {
  const b = new Uint8Array(32);
  t.is(writeShim(b, 0, SHIM_TO, new Uint8Array(20), 0), 0);
  t.is(b[0], 0);
});
