import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { formatIpv6, onesComplementSum, parseIpv4, parseIpv6 } from '../src/pcap/ip';
import { lispDatagrams } from '../src/pcap/lisp';
import { parseFrame, parseIpPacket } from '../src/pcap/packet';
import { LinkType, parsePcap, PcapError, readPcapHeader } from '../src/pcap/reader';
import { buildUdpFrame, encodePcap, encodeUdpPcap } from '../src/pcap/writer';
import { loadVector, vectorFiles, vectorPath } from './helpers/vectors';

/** Frame counts from test/vectors/lispers-decent-README.md and oor-README.md (checked with capinfos). */
const FRAMES: Readonly<Record<string, number>> = {
  'lispers-decent-her-full.pcap': 504,
  'lispers-decent-her-n1-lo.pcap': 16,
  'lispers-decent-her-startup.pcap': 126,
  'lispers-decent-her-steady.pcap': 152,
  'lispers-decent-her-traffic.pcap': 194,
  'lispers-decent-pull-full.pcap': 136,
  'oor-bootstrap-full.pcap': 15,
  'oor-control-bootstrap.pcap': 10,
  'oor-data-icmp.pcap': 17,
  'oor-data-tcp.pcap': 70,
  'oor-data-vxlan-gpe.pcap': 17,
  'oor-rloc-probe.pcap': 26,
};

/** LISP datagrams per file [control, data], as tshark counts them (`udp.dstport == 4342` etc.). */
const LISP: Readonly<Record<string, readonly [number, number]>> = {
  'lispers-decent-her-n1-lo.pcap': [16, 0],
  'lispers-decent-her-steady.pcap': [60, 60],
  'oor-control-bootstrap.pcap': [10, 0],
  'oor-bootstrap-full.pcap': [10, 5],
  'oor-data-icmp.pcap': [0, 17],
  'oor-data-tcp.pcap': [0, 70],
  'oor-data-vxlan-gpe.pcap': [0, 0],
  'oor-rloc-probe.pcap': [26, 0],
};

test('every vector file is known and has the documented frame count', (t) => {
  const files = vectorFiles();
  t.true(files.length >= Object.keys(FRAMES).length, `found ${files.join(', ')}`);
  for (const name of files) {
    const pcap = loadVector(name);
    t.is(pcap.header.linkType, LinkType.Ethernet, name);
    if (FRAMES[name] !== undefined) t.is(pcap.frames.length, FRAMES[name], name);
    pcap.frames.forEach((f, i) => t.is(f.number, i + 1));
  }
});

test('LISP datagram counts per plane', (t) => {
  for (const [name, [control, data]] of Object.entries(LISP)) {
    const all = lispDatagrams(loadVector(name));
    t.is(all.filter((d) => d.plane === 'control').length, control, `${name} control`);
    t.is(all.filter((d) => d.plane === 'data').length, data, `${name} data`);
  }
});

test('lispers HER frame #20 is the README example Map-Register', (t) => {
  const d = lispDatagrams(loadVector('lispers-decent-her-startup.pcap')).find((x) => x.frame.number === 20);
  if (!d) return t.fail('frame 20 missing');
  t.is(d.ip.source, '192.168.77.5');
  t.is(d.ip.destination, '192.168.77.6');
  t.is(d.udp.sourcePort, 59906);
  t.is(d.udp.destinationPort, 4342);
  t.is(d.payload.length, 159);
  t.is(Buffer.from(d.payload.subarray(0, 16)).toString('hex'), '3200080201dfdfdfddccbbaa00020020');
});

/** Rewrites a little-endian micro pcap as big-endian, optionally with nanosecond timestamps. */
function reencode(bytes: Buffer, nano: boolean): Buffer {
  const out = Buffer.from(bytes);
  out.writeUInt32BE(nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  out.writeUInt16BE(bytes.readUInt16LE(4), 4);
  out.writeUInt16BE(bytes.readUInt16LE(6), 6);
  for (const o of [8, 12, 16, 20]) out.writeUInt32BE(bytes.readUInt32LE(o), o);
  for (let at = 24; at < bytes.length;) {
    const caplen = bytes.readUInt32LE(at + 8);
    out.writeUInt32BE(bytes.readUInt32LE(at), at);
    out.writeUInt32BE(bytes.readUInt32LE(at + 4) * (nano ? 1000 : 1), at + 4);
    out.writeUInt32BE(caplen, at + 8);
    out.writeUInt32BE(bytes.readUInt32LE(at + 12), at + 12);
    at += 16 + caplen;
  }
  return out;
}

test('big-endian and nanosecond files read the same frames', (t) => {
  const original = readFileSync(vectorPath('oor-control-bootstrap.pcap'));
  const le = parsePcap(original);
  for (const nano of [false, true]) {
    const other = parsePcap(reencode(original, nano));
    t.false(other.header.littleEndian);
    t.is(other.header.nanosecond, nano);
    t.is(other.frames.length, le.frames.length);
    other.frames.forEach((f, i) => {
      t.deepEqual(Buffer.from(f.data), Buffer.from(le.frames[i].data));
      t.is(f.seconds, le.frames[i].seconds);
      t.true(Math.abs(f.time - le.frames[i].time) < 1e-6);
    });
  }
});

function pcapError(t: ExecutionContext, fn: () => unknown): PcapError {
  const e = t.throws(fn, { instanceOf: PcapError });
  if (!e) throw new Error('expected a PcapError');
  return e;
}

test('bad files: precise errors with file offsets', (t) => {
  const good = readFileSync(vectorPath('oor-control-bootstrap.pcap'));
  let e = pcapError(t, () => parsePcap(good.subarray(0, 10)));
  t.is(e.offset, 10);
  t.regex(e.message, /truncated pcap file header: 10 of 24 bytes/);

  const badMagic = Buffer.from(good);
  badMagic.writeUInt32BE(0xdeadbeef, 0);
  e = pcapError(t, () => parsePcap(badMagic));
  t.is(e.offset, 0);
  t.regex(e.message, /bad pcap magic number 0xdeadbeef/);

  const pcapng = Buffer.from(good);
  pcapng.writeUInt32BE(0x0a0d0d0a, 0);
  t.regex(pcapError(t, () => parsePcap(pcapng)).message, /pcapng/);

  // The first record is 16 + caplen bytes at offset 24; cut inside its data.
  const firstCaplen = good.readUInt32LE(24 + 8);
  e = pcapError(t, () => parsePcap(good.subarray(0, 24 + 16 + 5)));
  t.is(e.offset, 40);
  t.regex(e.message, new RegExp(`truncated record of frame 1: 5 of ${firstCaplen} bytes`));

  // Cut inside the second record header.
  const second = 24 + 16 + firstCaplen;
  e = pcapError(t, () => parsePcap(good.subarray(0, second + 7)));
  t.is(e.offset, second);
  t.regex(e.message, /truncated record header of frame 2: 7 of 16 bytes/);

  const lying = Buffer.from(good);
  lying.writeUInt32LE(firstCaplen - 1, 24 + 12); // original length < captured length
  e = pcapError(t, () => parsePcap(lying));
  t.is(e.offset, 32);
  t.regex(e.message, /captured length \d+ exceeds original length/);

  const version = Buffer.from(good);
  version.writeUInt16LE(3, 4);
  t.regex(pcapError(t, () => readPcapHeader(version)).message, /unsupported pcap version 3\.4/);

  // An empty capture (header only) is valid.
  t.is(parsePcap(good.subarray(0, 24)).frames.length, 0);
});

test('IPv6 text round trip and RFC 5952 form', (t) => {
  for (const [text, canon] of [
    ['2001:db8::1', '2001:db8::1'], ['2001:0db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], ['::', '::'],
    ['::1', '::1'], ['fe80::', 'fe80::'], ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'], ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ]) {
    t.is(formatIpv6(parseIpv6(text)), canon, text);
  }
  t.deepEqual([...parseIpv4('192.0.2.1')], [192, 0, 2, 1]);
  t.throws(() => parseIpv4('300.1.1.1'));
});

test('writer: IPv4 and IPv6 UDP frames parse back with valid checksums', (t) => {
  const payload = Buffer.from('hello lisp!');
  for (const [source, destination] of [['192.0.2.1', '203.0.113.3'], ['2001:db8::1', '2001:db8:1::3']]) {
    const frame = buildUdpFrame({ source, destination, sourcePort: 61000, destinationPort: 4342, payload });
    const c = parseFrame(LinkType.Ethernet, frame);
    if (c.kind !== 'udp') return t.fail(`expected udp, got ${c.kind}`);
    t.is(c.ip.source, source);
    t.is(c.ip.destination, destination);
    t.is(c.udp.sourcePort, 61000);
    t.is(c.udp.destinationPort, 4342);
    t.deepEqual(Buffer.from(c.payload), payload);
    t.not(c.udp.checksum, 0);
    // A correct checksum sums (with the pseudo-header) to 0xffff.
    const ip = frame.subarray(14);
    const udp = frame.subarray(c.udp.offset, c.udp.offset + c.udp.length);
    const pseudo = Buffer.alloc(c.ip.version === 4 ? 12 : 40);
    if (c.ip.version === 4) {
      t.is(onesComplementSum(ip.subarray(0, 20)), 0xffff, 'IPv4 header checksum');
      ip.copy(pseudo, 0, 12, 20);
      pseudo[9] = 17;
      pseudo.writeUInt16BE(udp.length, 10);
    } else {
      ip.copy(pseudo, 0, 8, 40);
      pseudo.writeUInt32BE(udp.length, 32);
      pseudo[39] = 17;
    }
    t.is(onesComplementSum(udp, onesComplementSum(pseudo)), 0xffff, `UDP checksum ${source}`);
  }
  const zero = buildUdpFrame({ source: '192.0.2.1', destination: '192.0.2.2', sourcePort: 1, destinationPort: 4341, payload, zeroUdpChecksum: true });
  const z = parseFrame(LinkType.Ethernet, zero);
  t.is(z.kind === 'udp' ? z.udp.checksum : -1, 0);

  const file = parsePcap(encodeUdpPcap([
    { source: '192.0.2.1', destination: '192.0.2.2', sourcePort: 4342, destinationPort: 50000, payload, time: 1.5 },
  ]));
  t.is(file.frames.length, 1);
  t.is(file.frames[0].time, 1.5);
  t.is(lispDatagrams(file)[0].plane, 'control');
});

test('link types: VLAN, SLL, SLL2, raw, null', (t) => {
  const payload = Buffer.from([1, 2, 3]);
  const eth = buildUdpFrame({ source: '10.0.0.1', destination: '10.0.0.2', sourcePort: 5, destinationPort: 4341, payload });
  const ip = eth.subarray(14);
  const vlan = Buffer.concat([eth.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x07, 0x81, 0x00, 0x00, 0x08]), eth.subarray(12)]);
  const sll = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00]), ip]);
  const sll2 = Buffer.concat([Buffer.from([0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]), ip]);
  const nullLe = Buffer.concat([Buffer.from([2, 0, 0, 0]), ip]);
  const nullBe = Buffer.concat([Buffer.from([0, 0, 0, 2]), ip]);
  for (const [linkType, frame, what] of [
    [LinkType.Ethernet, vlan, 'vlan'], [LinkType.LinuxSll, sll, 'sll'], [LinkType.LinuxSll2, sll2, 'sll2'],
    [LinkType.Raw, ip, 'raw'], [LinkType.Null, nullLe, 'null le'], [LinkType.Null, nullBe, 'null be'],
  ] as const) {
    const file = parsePcap(encodePcap([{ data: frame, time: 0 }], linkType));
    const ds = lispDatagrams(file);
    t.is(ds.length, 1, what);
    t.deepEqual(Buffer.from(ds[0].payload), payload, what);
    t.is(ds[0].plane, 'data', what);
  }
});

test('fragments are reported, short or lying packets are malformed', (t) => {
  const eth = buildUdpFrame({ source: '10.0.0.1', destination: '10.0.0.2', sourcePort: 5, destinationPort: 4342, payload: Buffer.alloc(20) });
  const frag = Buffer.from(eth);
  frag.writeUInt16BE(0x2000, 14 + 6); // MF
  const f = parseFrame(LinkType.Ethernet, frag);
  t.is(f.kind, 'fragment');
  if (f.kind === 'fragment') {
    t.true(f.moreFragments);
    t.is(f.fragmentOffset, 0);
  }
  const later = Buffer.from(eth);
  later.writeUInt16BE(0x0005, 14 + 6);
  const l = parseFrame(LinkType.Ethernet, later);
  t.is(l.kind === 'fragment' ? l.fragmentOffset : -1, 40);

  const short = parseFrame(LinkType.Ethernet, eth.subarray(0, eth.length - 3));
  t.is(short.kind, 'malformed');
  const udpLie = Buffer.from(eth);
  udpLie.writeUInt16BE(200, 14 + 20 + 4);
  const u = parseFrame(LinkType.Ethernet, udpLie);
  t.is(u.kind, 'malformed');
  if (u.kind === 'malformed') {
    t.is(u.offset, 14 + 20 + 4);
    t.regex(u.reason, /UDP length 200 exceeds/);
  }
  // Ethernet padding after a short IPv4 packet is not payload.
  const padded = Buffer.concat([eth, Buffer.alloc(6)]);
  const p = parseFrame(LinkType.Ethernet, padded);
  t.is(p.kind === 'udp' ? p.payload.length : -1, 20);
  t.is(parseIpPacket(Buffer.from([0x70])).kind, 'malformed');
  t.is(parseFrame(LinkType.Ethernet, Buffer.alloc(14)).kind, 'other');
});

test('IPv6 extension headers and fragments', (t) => {
  const eth = buildUdpFrame({ source: '2001:db8::1', destination: '2001:db8::2', sourcePort: 5, destinationPort: 4342, payload: Buffer.alloc(4) });
  const ip = eth.subarray(14);
  // Insert a hop-by-hop header (8 bytes, PadN) before UDP.
  const hbh = Buffer.from([17, 0, 1, 4, 0, 0, 0, 0]);
  const withHbh = Buffer.concat([ip.subarray(0, 40), hbh, ip.subarray(40)]);
  withHbh[6] = 0;
  withHbh.writeUInt16BE(ip.readUInt16BE(4) + 8, 4);
  const c = parseIpPacket(withHbh);
  t.is(c.kind, 'udp');
  const fragHdr = Buffer.from([17, 0, 0, 1, 0, 0, 0, 9]);
  const withFrag = Buffer.concat([ip.subarray(0, 40), fragHdr, ip.subarray(40)]);
  withFrag[6] = 44;
  withFrag.writeUInt16BE(ip.readUInt16BE(4) + 8, 4);
  const f = parseIpPacket(withFrag);
  t.is(f.kind, 'fragment');
  if (f.kind === 'fragment') {
    t.is(f.identification, 9);
    t.true(f.moreFragments);
    t.is(f.ip.protocol, 17);
  }
});
