// Info-Request / Info-Reply and the NAT-Traversal LCAF (draft-ietf-lisp-nat-traversal §5) against
// every frame of lispers.net's NAT capture (test/vectors/next/lispers-nat-README.md), and in the
// draft's own form.
import test from 'ava';
import { isDeepStrictEqual } from 'node:util';
import { lispDatagrams } from '../src/pcap/lisp';
import { readPcapFile } from '../src/pcap/reader';
import {
  decodeControl, decodeData, decodeInnerUdp, encodeControl, encodeData, verifyControl, WireError,
  type ControlMessage, type InfoReply, type InfoRequest,
} from '../src/wire';
import { hex, NEXT_VECTORS_DIR } from './helpers/vectors';

const capture = lispDatagrams(readPcapFile(`${NEXT_VECTORS_DIR}/lispers-nat.pcap`));
const frame = (n: number): Uint8Array => {
  const d = capture.find((x) => x.frame.number === n);
  if (!d) throw new Error(`frame ${n} is not a LISP datagram`);
  return d.payload;
};

function roundTripControl(bytes: Uint8Array, where: string): { failures: string[]; message?: ControlMessage } {
  let m: ControlMessage;
  try {
    m = decodeControl(bytes);
  } catch (e) {
    return { failures: [`${where}: ${String(e)}`] };
  }
  const failures: string[] = [];
  const out = encodeControl(m);
  if (hex(out) !== hex(bytes)) failures.push(`${where}: re-encoded differs\n  in:  ${hex(bytes)}\n  out: ${hex(out)}`);
  if (!isDeepStrictEqual(decodeControl(out), m)) failures.push(`${where}: decode(encode(m)) != m`);
  return { failures, message: m };
}

test('every LISP datagram of lispers-nat.pcap decodes and re-encodes byte-exact', (t) => {
  const failures: string[] = [];
  const counts: Record<string, number> = {};
  const bump = (k: string): void => { counts[k] = (counts[k] ?? 0) + 1; };
  for (const d of capture) {
    const where = `#${d.frame.number}`;
    if (d.plane === 'control') {
      const r = roundTripControl(d.payload, where);
      failures.push(...r.failures);
      if (r.message) bump(r.message.type);
      if (r.message?.type === 'ecm' && r.message.message) {
        const inner = decodeInnerUdp(d.payload.subarray(4)).payload;
        const ri = roundTripControl(inner, `${where} ECM inner`);
        failures.push(...ri.failures);
        if (ri.message) bump(`ecm/${ri.message.type}`);
      }
      continue;
    }
    const p = decodeData(d.payload);
    if (hex(encodeData(p)) !== hex(d.payload)) failures.push(`${where}: data re-encoded differs`);
    if (p.header.iid === 0xffffff) {
      // lispers' data-port Info-Request: the message right after the data header.
      const r = roundTripControl(p.payload, `${where} data-port`);
      failures.push(...r.failures);
      if (r.message) bump(`data/${r.message.type}`);
    } else {
      bump('data');
    }
  }
  t.deepEqual(failures.slice(0, 10), [], `${failures.length} failures`);
  t.log(JSON.stringify(counts));
  // Counts from the capture's README: 11 + 11 Info-Requests and Info-Replies per side, 6 + 6 to the RTR.
  t.is(counts['info-request'], 22);
  t.is(counts['info-reply'], 22);
  t.is(counts['data/info-request'], 12);
  t.is(counts['map-register'], 6);
});

test('the lispers Info-Request: no EID-prefix, the hostname after it, no authentication', (t) => {
  const m = decodeControl(frame(52)) as InfoRequest;
  t.is(m.type, 'info-request');
  t.is(m.nonce, 0x10148870ffa5c083n);
  t.is(m.keyId, 0);
  t.is(m.algorithm, 0);
  t.is(m.authData.length, 0);
  t.is(m.ttl, 0);
  t.deepEqual(m.eid, { kind: 'none' });
  t.deepEqual(m.requester, { kind: 'name', name: 'n1' });
  t.is(verifyControl(frame(52), 'nat-password'), 'none');
  // Identical on both sides of the NAT (frame 55 is the translated copy).
  t.is(hex(frame(55)), hex(frame(52)));
});

test('the lispers Info-Reply: translated address and port, hostname as private RLOC, RTR list, LCAF length 16', (t) => {
  const m = decodeControl(frame(56)) as InfoReply;
  t.is(m.type, 'info-reply');
  t.is(m.nonce, 0x10148870ffa5c083n, 'the request nonce echoed');
  t.deepEqual(m.nat, {
    type: 'nat-traversal', msPort: 0, etrPort: 40582,
    globalEtrRloc: { kind: 'ipv4', ip: '198.51.100.10' },
    msRloc: { kind: 'none' },
    privateEtrRloc: { kind: 'name', name: 'n1' },
    rtrRlocs: [{ kind: 'ipv4', ip: '198.51.100.6' }],
    declaredLength: 16,
  });
});

test('the Map-Register from behind the NAT lists the translated RLOC and the RTR at priority 254', (t) => {
  const bytes = frame(66);
  const m = decodeControl(bytes);
  if (m.type !== 'map-register') return t.fail(m.type);
  t.is(verifyControl(bytes, 'nat-password'), 'ok');
  const [global, rtr] = m.records[0].locators;
  t.is(global.priority, 0);
  t.is(rtr.priority, 254);
  t.deepEqual(rtr.address, { kind: 'lcaf', lcaf: { type: 'afi-list', items: [{ kind: 'ipv4', ip: '198.51.100.6' }, { kind: 'name', name: 'RTR' }] } });
  t.deepEqual(global.address, { kind: 'lcaf', lcaf: { type: 'afi-list', items: [{ kind: 'ipv4', ip: '198.51.100.10' }, { kind: 'name', name: 'n1@tp-40582' }] } });
});

const draftReply: InfoReply = {
  type: 'info-reply', nonce: 0x0102030405060708n, keyId: 0, algorithm: 0, authData: new Uint8Array(0),
  ttl: 1440, eidMaskLen: 24, eid: { kind: 'ipv4', ip: '10.1.2.0' },
  nat: {
    type: 'nat-traversal', msPort: 4342, etrPort: 40001,
    globalEtrRloc: { kind: 'ipv4', ip: '198.51.100.10' }, msRloc: { kind: 'ipv4', ip: '198.51.100.7' },
    privateEtrRloc: { kind: 'none' },
    rtrRlocs: [{ kind: 'ipv4', ip: '198.51.100.6' }, { kind: 'ipv6', ip: '2001:db8::6' }],
  },
};

test('the draft form: EID-prefix, AFI 0 after the request, a counted LCAF length, several RTRs', (t) => {
  const request: InfoRequest = {
    type: 'info-request', nonce: 7n, keyId: 0, algorithm: 0, authData: new Uint8Array(0), ttl: 0,
    eidMaskLen: 24, eid: { kind: 'ipv4', ip: '10.1.2.0' }, requester: { kind: 'none' },
  };
  const rq = encodeControl(request);
  t.is(hex(rq), '70000000' + '0000000000000007' + '00000000' + '00000000' + '00180001' + '0a010200' + '0000');
  t.deepEqual(decodeControl(rq), request);
  const rp = encodeControl(draftReply);
  t.is(rp[0], 0x78, 'type 7, R set');
  // LCAF: AFI 16387, rsvd1, flags, type 7, rsvd2, length = 4 + 6 + 6 + 2 + 6 + 18.
  const lcafAt = 4 + 8 + 4 + 4 + 4 + 4;
  t.is(hex(rp.subarray(lcafAt, lcafAt + 8)), '400300000700002a');
  t.is(rp.length - (lcafAt + 8), 0x2a);
  t.deepEqual(decodeControl(rp), draftReply);
  // And the lispers length quirk survives a re-encoding.
  const lispersForm: InfoReply = { ...draftReply, nat: { ...draftReply.nat, declaredLength: 16 } };
  const lp = encodeControl(lispersForm);
  t.is(lp.readUInt16BE(lcafAt + 6), 16);
  t.deepEqual(decodeControl(lp), lispersForm);
});

test('malformed Info messages are WireErrors with the offset', (t) => {
  const good = encodeControl(draftReply);
  const lcafAt = 28;
  for (const [what, bytes, reason] of [
    ['truncated', good.subarray(0, good.length - 3), /truncated|exceeds/],
    ['not an LCAF', Buffer.concat([good.subarray(0, lcafAt), Buffer.from('0001c6336406', 'hex')]), /expected the NAT-Traversal LCAF/],
    ['LCAF type 1', (() => { const b = Buffer.from(good); b[lcafAt + 4] = 1; return b; })(), /expected LCAF type 7/],
    ['length past the end', (() => { const b = Buffer.from(good); b.writeUInt16BE(0x100, lcafAt + 6); return b; })(), /exceeds/],
    ['auth length past the end', (() => { const b = Buffer.from(good); b.writeUInt16BE(500, 14); return b; })(), /authentication length 500/],
    ['unknown AFI in the RTR list', Buffer.concat([good, Buffer.from('0009', 'hex')]), /unknown AFI 9|exceeds/],
  ] as const) {
    const e = t.throws(() => decodeControl(bytes), { instanceOf: WireError }, what);
    t.regex(e?.message ?? '', reason, what);
  }
});
