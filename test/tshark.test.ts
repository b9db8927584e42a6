// Our encoder's output, written to a pcap, must be dissected by tshark as the same messages with
// no Malformed / error expert marks (issue 2). tshark 4.0 mis-decodes only Map-Notify-Ack (type 5)
// and lispers' padded Multicast-Info layout, so neither is in this set.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { internetChecksum } from '../src/pcap/ip';
import { writeUdpPcap, type UdpDatagramSpec } from '../src/pcap/writer';
import {
  encodeControl, encodeData, signControl,
  type Address, type EidRecord, type LocatorRecord, type MapRegister, type MapRequest,
} from '../src/wire';

const ipv4 = (ip: string): Address => ({ kind: 'ipv4', ip });
const ipv6 = (ip: string): Address => ({ kind: 'ipv6', ip });

function locator(address: Address, extra: Partial<LocatorRecord> = {}): LocatorRecord {
  return { priority: 1, weight: 100, mPriority: 255, mWeight: 0, local: true, probed: false, reachable: true, address, ...extra };
}

function record(eid: Address, eidMaskLen: number, locators: LocatorRecord[], extra: Partial<EidRecord> = {}): EidRecord {
  return { ttl: 1440, eidMaskLen, action: 0, authoritative: true, mapVersion: 0, eid, locators, ...extra };
}

function signed(m: MapRegister, password: string): Buffer {
  return signControl(encodeControl(m), password);
}

/** An IPv4 ICMP echo request with valid checksums, as the inner packet of a data packet. */
function icmpEcho(source: string, destination: string): Buffer {
  const icmp = Buffer.from([8, 0, 0, 0, 0x12, 0x34, 0, 1, 0x6c, 0x69, 0x73, 0x70]);
  icmp.writeUInt16BE(internetChecksum(icmp), 2);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + icmp.length, 2);
  ip[8] = 63;
  ip[9] = 1;
  Buffer.from(source.split('.').map(Number)).copy(ip, 12);
  Buffer.from(destination.split('.').map(Number)).copy(ip, 16);
  ip.writeUInt16BE(internetChecksum(ip), 10);
  return Buffer.concat([ip, icmp]);
}

const XTR_ID = 0x000102030405060708090a0b0c0d0e0fn;
const ETR = '192.0.2.1';
const ITR = '198.51.100.2';
const MS = '203.0.113.3';

/** What tshark must show for a frame: field name → values in order of appearance (a prefix match of the list). */
interface Expect { readonly [field: string]: readonly string[] }
interface Case { readonly name: string; readonly datagram: UdpDatagramSpec; readonly expect: Expect }

function control(name: string, source: string, sourcePort: number, destination: string, destinationPort: number,
  payload: Buffer, expect: Expect): Case {
  return { name, datagram: { source, sourcePort, destination, destinationPort, payload }, expect };
}

const smr: MapRequest = {
  type: 'map-request', authoritative: false, mapDataPresent: false, probe: false, smr: true, pitr: false,
  smrInvoked: false, nonce: 0x5555666677778888n, sourceEid: ipv4('10.1.0.1'), itrRlocs: [ipv4(ETR)],
  records: [{ eidMaskLen: 16, eid: ipv4('10.1.0.0') }],
};

const CASES: readonly Case[] = [
  // draft-ietf-lisp-nat-traversal §5: our Info-Request and Info-Reply in the draft's form (lispers'
  // form, with its LCAF length of 16, is what tshark 4.0 calls malformed).
  control('Info-Request', ETR, 4342, MS, 4342, encodeControl({
    type: 'info-request', nonce: 0x1122334455667788n, keyId: 0, algorithm: 0, authData: new Uint8Array(0), ttl: 0,
    eidMaskLen: 0, eid: { kind: 'none' }, requester: { kind: 'none' },
  }), { 'lisp.type': ['7'], 'lisp.info.r': ['0'], 'lisp.nonce': ['0x1122334455667788'], 'lisp.info.afi': ['0'] }),
  control('Info-Reply with an RTR', MS, 4342, ITR, 40582, encodeControl({
    type: 'info-reply', nonce: 0x1122334455667788n, keyId: 0, algorithm: 0, authData: new Uint8Array(0), ttl: 1,
    eidMaskLen: 0, eid: { kind: 'none' },
    nat: {
      type: 'nat-traversal', msPort: 4342, etrPort: 40582, globalEtrRloc: ipv4(ITR), msRloc: ipv4(MS),
      privateEtrRloc: { kind: 'none' }, rtrRlocs: [ipv4('203.0.113.6')],
    },
  }), {
    'lisp.type': ['7'], 'lisp.info.r': ['1'], 'lisp.info.ttl': ['1'], 'lisp.lcaf.type': ['7'], 'lisp.lcaf.natt.msport': ['4342'],
    'lisp.lcaf.natt.etrport': ['40582'], 'lisp.lcaf.natt.rloc.ipv4': [ITR, MS, '203.0.113.6'],
  }),
  control('Map-Register, auth, xTR-ID', ETR, 61000, MS, 4342, signed({
    type: 'map-register', proxyReply: true, security: false, useTtl: false, merge: false, wantMapNotify: true,
    nonce: 0x0102030405060708n, keyId: 1, algorithm: 2, authData: new Uint8Array(32),
    records: [record(ipv4('10.1.0.0'), 16, [locator(ipv4(ETR))])], xtrId: XTR_ID, siteId: 1n,
  }, 'test'), {
    'lisp.type': ['3'], 'lisp.nonce': ['0x0102030405060708'], 'lisp.records': ['1'],
    'lisp.mapping.eid.ipv4': ['10.1.0.0'], 'lisp.mapping.eid.masklen': ['16'], 'lisp.authlen': ['32'],
    'lisp.xtrid': ['00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f'],
  }),
  control('SMR Map-Request', ETR, 4342, ITR, 4342, encodeControl(smr), {
    'lisp.type': ['1'], 'lisp.nonce': ['0x5555666677778888'], 'lisp.mreq.flags.smr': ['1'],
    'lisp.mreq.srceid.ipv4': ['10.1.0.1'], 'lisp.mreq.itr_rloc_ipv4': [ETR], 'lisp.mreq.record.prefix.ipv4': ['10.1.0.0'],
  }),
  control('RLOC-probe Map-Request over IPv6', '2001:db8::2', 50002, '2001:db8::1', 4342, encodeControl({
    type: 'map-request', authoritative: false, mapDataPresent: false, probe: true, smr: false, pitr: false,
    smrInvoked: false, nonce: 0x0a0b0c0d0e0f1011n, sourceEid: { kind: 'none' }, itrRlocs: [ipv6('2001:db8::2')],
    records: [{ eidMaskLen: 48, eid: ipv6('2001:db8:1::') }],
  }), {
    'lisp.type': ['1'], 'lisp.nonce': ['0x0a0b0c0d0e0f1011'], 'lisp.mreq.flags.probe': ['1'],
    'lisp.mreq.itr_rloc_ipv6': ['2001:db8::2'], 'lisp.mreq.record.prefix.ipv6': ['2001:db8:1::'],
  }),
  control('Map-Reply, IID EID, IPv6 RLOC', ETR, 4342, ITR, 50000, encodeControl({
    type: 'map-reply', probe: true, echoNonceCapable: false, security: false, nonce: 0x0a0b0c0d0e0f1011n,
    records: [record({ kind: 'lcaf', lcaf: { type: 'instance-id', iid: 1000, iidMaskLen: 0, address: ipv4('10.1.0.0') } }, 16,
      [locator(ipv6('2001:db8::1'), { probed: true }), locator(ipv4(ETR))])],
  }), {
    'lisp.type': ['2'], 'lisp.nonce': ['0x0a0b0c0d0e0f1011'], 'lisp.records': ['1'], 'lisp.mrep.flags.probe': ['1'],
    'lisp.lcaf.iid': ['1000'], 'lisp.lcaf.iid.ipv4': ['10.1.0.0'], 'lisp.mapping.loccnt': ['2'],
    'lisp.loc.locator': ['2001:db8::1', ETR],
  }),
  control('negative Map-Reply', MS, 4342, ITR, 50000, encodeControl({
    type: 'map-reply', probe: false, echoNonceCapable: false, security: false, nonce: 0x1122334455667788n,
    records: [record(ipv4('10.9.0.0'), 16, [], { ttl: 15, action: 1, authoritative: false })],
  }), {
    'lisp.type': ['2'], 'lisp.nonce': ['0x1122334455667788'], 'lisp.mapping.ttl': ['15'], 'lisp.mapping.act': ['1'],
    'lisp.mapping.loccnt': ['0'], 'lisp.mapping.eid.ipv4': ['10.9.0.0'],
  }),
  control('Map-Notify, auth', MS, 4342, ETR, 4342, signControl(encodeControl({
    type: 'map-notify', nonce: 0x0102030405060708n, keyId: 0, algorithm: 2, authData: new Uint8Array(32),
    records: [record(ipv4('10.1.0.0'), 16, [locator(ipv4(ETR))])],
  }), 'test'), {
    'lisp.type': ['4'], 'lisp.nonce': ['0x0102030405060708'], 'lisp.records': ['1'], 'lisp.mapping.eid.ipv4': ['10.1.0.0'],
    'lisp.loc.locator': [ETR],
  }),
  control('ECM with a Map-Request', ITR, 50001, MS, 4342, encodeControl({
    type: 'ecm', security: false, ddt: false,
    inner: {
      version: 4, source: '10.2.0.1', destination: '10.1.1.1', ttl: 64, tos: 0, id: 0, fragment: 0, flowLabel: 0,
      sourcePort: 50000, destinationPort: 4342,
    },
    message: {
      type: 'map-request', authoritative: false, mapDataPresent: false, probe: false, smr: false, pitr: false,
      smrInvoked: false, nonce: 0x1122334455667788n, sourceEid: ipv4('10.2.0.1'), itrRlocs: [ipv4(ITR)],
      records: [{ eidMaskLen: 32, eid: ipv4('10.1.1.1') }],
    },
  }), {
    'lisp.type': ['8', '1'], 'lisp.nonce': ['0x1122334455667788'], 'lisp.mreq.record.prefix.ipv4': ['10.1.1.1'],
    'ip.src': [ITR, '10.2.0.1'], 'udp.dstport': ['4342', '4342'],
  }),
  {
    name: 'data packet with I bit',
    datagram: {
      source: ITR, sourcePort: 0xf123, destination: ETR, destinationPort: 4341, zeroUdpChecksum: true,
      payload: encodeData({
        type: 'data',
        header: {
          noncepresent: true, lsbEnabled: false, echoNonce: false, mapVersioning: false, iidPresent: true,
          keyId: 0, nonce: 0xabcdef, iid: 1000, lsb: 0,
        },
        payload: icmpEcho('10.2.0.1', '10.1.1.1'),
      }),
    },
    expect: {
      'lisp-data.flags.iid': ['1'], 'lisp-data.nonce': ['11259375'], 'lisp-data.iid': ['1000'],
      'ip.dst': [ETR, '10.1.1.1'], 'icmp.type': ['8'],
    },
  },
  control('Map-Register: names, AFI-List RLOC, IID LCAFs over IPv6', '2001:db8::1', 61000, '2001:db8::3', 4342, signed({
    type: 'map-register', proxyReply: false, security: false, useTtl: true, merge: false, wantMapNotify: false,
    nonce: 0x01dfdfdfddccbbaan, keyId: 0, algorithm: 2, authData: new Uint8Array(32),
    records: [
      record({ kind: 'name', name: 'nexus-n1' }, 0, [locator({
        kind: 'lcaf', lcaf: { type: 'afi-list', items: [ipv4(ETR), ipv6('2001:db8::1'), { kind: 'name', name: 'n1' }] },
      })], { ttl: 3 }),
      record({ kind: 'lcaf', lcaf: { type: 'instance-id', iid: 1000, iidMaskLen: 0, address: { kind: 'name', name: 'xtr1' } } }, 0,
        [locator(ipv6('2001:db8::1'))]),
      record(ipv6('2001:db8:100::'), 48, [locator(ipv6('2001:db8::1'))]),
    ],
    xtrId: XTR_ID, siteId: 0n,
  }, 'decent-password'), {
    'lisp.type': ['3'], 'lisp.nonce': ['0x01dfdfdfddccbbaa'], 'lisp.records': ['3'],
    'lisp.mapping.eid.dn': ['nexus-n1'], 'lisp.lcaf.afi_list.ipv4': [ETR], 'lisp.lcaf.afi_list.ipv6': ['2001:db8::1'],
    'lisp.lcaf.afi_list.dn': ['n1'], 'lisp.lcaf.iid': ['1000'], 'lisp.lcaf.iid.dn': ['xtr1'],
    'lisp.mapping.eid.ipv6': ['2001:db8:100::'],
  }),
  control('(S,G) Map-Register, RFC layout, RLE', ETR, 61000, MS, 4342, signed({
    type: 'map-register', proxyReply: true, security: false, useTtl: true, merge: true, wantMapNotify: false,
    nonce: 0x0102030405060709n, keyId: 1, algorithm: 2, authData: new Uint8Array(32),
    records: [record({
      kind: 'lcaf',
      lcaf: { type: 'multicast-info', iid: 0, sourceMaskLen: 0, groupMaskLen: 32, source: ipv4('0.0.0.0'), group: ipv4('233.252.1.1') },
    }, 0, [locator({
      kind: 'lcaf', lcaf: { type: 'rle', entries: [{ level: 128, address: ipv4(ETR) }, { level: 128, address: ipv4(ITR) }] },
    }, { priority: 255, weight: 0, mPriority: 1, mWeight: 100 })], { ttl: 3 })],
    xtrId: XTR_ID, siteId: 1n,
  }, 'test'), {
    'lisp.type': ['3'], 'lisp.records': ['1'], 'lisp.lcaf.mcinfo.src.ipv4': ['0.0.0.0'],
    'lisp.lcaf.mcinfo.grp.ipv4': ['233.252.1.1'], 'lisp.lcaf.mcinfo.grp.masklen': ['32'],
    'lisp.lcaf.rle_entry.ipv4': [ETR, ITR], 'lisp.lcaf.rle_entry.level': ['128', '128'],
  }),
  control('ECM, IPv6 inner, Map-Request with M bit and two ITR-RLOCs', '2001:db8::2', 50001, '2001:db8::3', 4342, encodeControl({
    type: 'ecm', security: false, ddt: false,
    inner: {
      version: 6, source: '2001:db8:2::1', destination: '2001:db8:1::1', ttl: 64, tos: 0, id: 0, fragment: 0,
      flowLabel: 0x12345, sourcePort: 50000, destinationPort: 4342,
    },
    message: {
      type: 'map-request', authoritative: false, mapDataPresent: true, probe: false, smr: false, pitr: true,
      smrInvoked: true, nonce: 0x99n, sourceEid: ipv6('2001:db8:2::1'), itrRlocs: [ipv4(ITR), ipv6('2001:db8::2')],
      records: [{ eidMaskLen: 128, eid: ipv6('2001:db8:1::1') }],
      mapReplyRecord: record(ipv6('2001:db8:2::'), 48, [locator(ipv6('2001:db8::2'))]),
    },
  }), {
    'lisp.type': ['8', '1'], 'ipv6.flow': ['0x000000', '0x012345'], 'lisp.nonce': ['0x0000000000000099'],
    'lisp.mreq.flags.mrp': ['1'], 'lisp.mreq.flags.pitr': ['1'], 'lisp.mreq.flags.smri': ['1'],
    'lisp.mreq.itr_rloc_ipv4': [ITR], 'lisp.mreq.itr_rloc_ipv6': ['2001:db8::2'],
    'lisp.mreq.record.prefix.ipv6': ['2001:db8:1::1'], 'lisp.mapping.eid.ipv6': ['2001:db8:2::'],
  }),
  control('Map-Reply, Geo-Coordinates RLOC, map-version', ETR, 4342, ITR, 50000, encodeControl({
    type: 'map-reply', probe: false, echoNonceCapable: true, security: false, nonce: 0x77n,
    records: [record(ipv4('10.1.0.0'), 16, [locator({
      kind: 'lcaf',
      lcaf: {
        type: 'geo', north: true, latDegrees: 37, latMinutes: 25, latSeconds: 0, east: false, lonDegrees: 122,
        lonMinutes: 5, lonSeconds: 0, altitude: -10, address: ipv4(ETR),
      },
    })], { mapVersion: 123 })],
  }), {
    'lisp.type': ['2'], 'lisp.mrep.flags.enlr': ['1'], 'lisp.mapping.ver': ['123'], 'lisp.lcaf.geo.lat.deg': ['37'],
    'lisp.lcaf.geo.lat.min': ['25'], 'lisp.lcaf.geo.lon.hemisphere': ['0'], 'lisp.lcaf.geo.lon.deg': ['122'],
    'lisp.lcaf.geo.ipv4': [ETR],
  }),
  control('Map-Register, HMAC-SHA-1 truncated to 96 bits', ETR, 61000, MS, 4342, signed({
    type: 'map-register', proxyReply: false, security: false, useTtl: false, merge: false, wantMapNotify: true,
    nonce: 1n, keyId: 1, algorithm: 1, authData: new Uint8Array(12),
    records: [record(ipv4('10.1.0.0'), 16, [locator(ipv4(ETR))])],
  }, 'k'), {
    'lisp.type': ['3'], 'lisp.keyid': ['0x0101'], 'lisp.authlen': ['12'], 'lisp.mapping.eid.ipv4': ['10.1.0.0'],
  }),
];

function haveTshark(): boolean {
  return spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** PDML → per packet, field name → `show` values in document order. */
function parsePdml(xml: string): Map<string, string[]>[] {
  const packets: Map<string, string[]>[] = [];
  for (const block of xml.split('<packet>').slice(1)) {
    const fields = new Map<string, string[]>();
    for (const m of block.matchAll(/<field name="([^"]*)"[^>]*? show="([^"]*)"/g)) {
      const list = fields.get(m[1]) ?? [];
      list.push(m[2].replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
      fields.set(m[1], list);
    }
    packets.push(fields);
  }
  return packets;
}

const tsharkTest = haveTshark() ? test : test.skip;
if (!haveTshark()) {
  process.stderr.write('tshark.test: tshark is not installed, skipping (apt-get install tshark; .ci/run does this)\n');
}

tsharkTest('tshark dissects our encoder output as the same messages, with no errors', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'decent-tshark-'));
  try {
    const file = path.join(dir, 'encoded.pcap');
    writeUdpPcap(file, CASES.map((c) => c.datagram));
    const env = { ...process.env, LC_ALL: 'C' };
    // -o checks the checksums our writer computed; tshark would otherwise not verify them.
    const prefs = ['-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'];
    const verbose = execFileSync('tshark', ['-n', '-r', file, '-V', ...prefs], { env, encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] });
    const frames = verbose.split(/^(?=Frame \d+:)/m).filter((s) => s.startsWith('Frame '));
    t.is(frames.length, CASES.length);
    frames.forEach((text, i) => {
      for (const bad of ['Malformed', 'Expert Info (Error', '[Expert Info (Warning', 'Bad checksum', 'Unknown LISP', 'Unexpected']) {
        t.false(text.includes(bad), `${CASES[i].name}: tshark says "${bad}":\n${text}`);
      }
    });
    const pdml = execFileSync('tshark', ['-n', '-r', file, '-T', 'pdml', ...prefs], { env, encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] });
    const packets = parsePdml(pdml);
    t.is(packets.length, CASES.length);
    packets.forEach((fields, i) => {
      const c = CASES[i];
      for (const [field, want] of Object.entries(c.expect)) {
        const got = fields.get(field) ?? [];
        t.deepEqual(got.slice(0, want.length), [...want], `${c.name}: ${field} (frame ${i + 1})`);
      }
      t.deepEqual(fields.get('_ws.malformed') ?? [], [], c.name);
    });
  } finally {
    if (process.env.DECENT_KEEP_TSHARK_PCAP === undefined) rmSync(dir, { recursive: true, force: true });
    else t.log(`pcap kept in ${dir}`);
  }
});
