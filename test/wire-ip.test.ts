import test from 'ava';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../src/wire/ip';

const v6 = (text: string): string | null => {
  const b = new Uint8Array(16);
  return parseIpv6(text, b, 0) ? formatIpv6(b, 0) : null;
};

test('IPv4 text parses strictly and formats back', (t) => {
  const b = new Uint8Array(4);
  for (const ok of ['0.0.0.0', '192.0.2.1', '255.255.255.255', '10.1.0.0']) {
    t.true(parseIpv4(ok, b, 0), ok);
    t.is(formatIpv4(b, 0), ok);
  }
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', 'a.b.c.d', '1.2.3.4 ', '-1.2.3.4']) {
    t.false(parseIpv4(bad, b, 0), bad);
  }
});

test('IPv6 text follows RFC 5952 canonical form', (t) => {
  t.is(v6('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  t.is(v6('::'), '::');
  t.is(v6('::1'), '::1');
  t.is(v6('fd00::'), 'fd00::');
  t.is(v6('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1', 'a single zero group is not compressed');
  t.is(v6('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1', 'the longest run is compressed');
  t.is(v6('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'the first of equal runs is compressed');
  t.is(v6('::ffff:192.0.2.1'), '::ffff:c000:201');
  for (const bad of ['', ':', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7::8:9']) {
    t.is(v6(bad), null, bad);
  }
});
