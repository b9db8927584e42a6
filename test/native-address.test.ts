// Address tables and prefixes for the native addon: text <-> bytes (RFC 4291 §2.2, RFC 5952),
// CIDR parsing and masking. Pure functions; no root needed.
import test from 'ava';
import { AddressTable, bytesToIp, ipToBytes, maskBytes, parseCidr } from '../src/native/address';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('IPv4 and IPv6 text round-trips through bytes', (t) => {
  const cases: [string, string, string][] = [
    ['10.0.0.255', '0a0000ff', '10.0.0.255'],
    ['::', '0'.repeat(32), '::'],
    ['::1', '0'.repeat(31) + '1', '::1'],
    ['fd00::1', 'fd00' + '0'.repeat(27) + '1', 'fd00::1'],
    ['::ffff:1.2.3.4', '0'.repeat(20) + 'ffff01020304', '::ffff:1.2.3.4'],
    ['2001:db8:0:0:1:0:0:1', '20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008', '1:2:3:4:5:6:7:8'],
  ];
  for (const [text, bytes, back] of cases) {
    const b = ipToBytes(text);
    t.is(hex(b), bytes, text);
    t.is(bytesToIp(b, b.length === 4 ? 4 : 6), back, text);
  }
  t.throws(() => ipToBytes('10.0.0.256'), { instanceOf: TypeError });
});

test('prefixes parse, validate and mask', (t) => {
  const c = parseCidr('fd00:1:2:3::9/52');
  t.is(c.family, 6);
  t.is(c.prefixLength, 52);
  t.is(hex(maskBytes(c.bytes, 52)), 'fd000001000200000000000000000000');
  t.is(hex(maskBytes(ipToBytes('10.1.2.3'), 8)), '0a000000');
  t.throws(() => parseCidr('10.0.0.0'), { message: /not a prefix/ });
  t.throws(() => parseCidr('10.0.0.0/33'), { instanceOf: RangeError });
  t.throws(() => parseCidr('fd00::/x'), { instanceOf: RangeError });
});

test('address table entries carry family, port and address', (t) => {
  const a = new AddressTable(2);
  a.set(0, '192.0.2.1', 4341);
  a.set(1, '2001:db8::2', 4342);
  t.deepEqual(a.get(0), { family: 4, port: 4341, address: '192.0.2.1' });
  t.deepEqual(a.get(1), { family: 6, port: 4342, address: '2001:db8::2' });
  t.throws(() => a.set(2, '192.0.2.1', 1), { instanceOf: RangeError });
  t.throws(() => a.set(0, '192.0.2.1', 70000), { instanceOf: RangeError });
});
