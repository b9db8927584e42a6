// Every LISP datagram of every shared vector must decode, re-encode to the same bytes, and decode
// again to the same value; likewise the inner control messages of ECMs and HER copies.
import test from 'ava';
import { isDeepStrictEqual } from 'node:util';
import { toJson } from '../src/cli/decode-json';
import { parseIpPacket } from '../src/pcap/packet';
import {
  decodeControl, decodeData, decodeInnerUdp, encodeControl, encodeData, encodeInnerUdp, verifyControl,
  type ControlMessage, type MapNotify, type MapRegister,
} from '../src/wire';
import { hex, vectorDatagrams, vectorFiles } from './helpers/vectors';

/** Printable form for failure messages: bytes and bigints as hex. */
const norm = (v: unknown): unknown => toJson(v);

interface Case { readonly where: string; readonly bytes: Uint8Array }

/** Round-trips `bytes` through decode/encode; returns failure descriptions (empty when fine). */
function roundTrip<T>(c: Case, decode: (b: Uint8Array) => T, encode: (m: T) => Uint8Array): { failures: string[]; value?: T } {
  let first: T;
  try {
    first = decode(c.bytes);
  } catch (e) {
    return { failures: [`${c.where}: decode failed: ${String(e)}; bytes ${hex(c.bytes)}`] };
  }
  let encoded: Uint8Array;
  try {
    encoded = encode(first);
  } catch (e) {
    return { failures: [`${c.where}: encode failed: ${String(e)}`], value: first };
  }
  const failures: string[] = [];
  if (hex(encoded) !== hex(c.bytes)) {
    failures.push(`${c.where}: encode(decode(bytes)) differs\n  in:  ${hex(c.bytes)}\n  out: ${hex(encoded)}`);
  }
  try {
    const second = decode(encoded);
    if (!isDeepStrictEqual(second, first)) {
      failures.push(`${c.where}: decode(encode(m)) != m\n  m:  ${JSON.stringify(norm(first))}\n  m2: ${JSON.stringify(norm(second))}`);
    }
  } catch (e) {
    failures.push(`${c.where}: decode of re-encoded bytes failed: ${String(e)}`);
  }
  return { failures, value: first };
}

const ECM_HEADER = 4;

/** Control messages (outer, ECM inner, HER inner) of a vector with their bytes. */
function controlMessages(name: string): { where: string; bytes: Uint8Array; message: ControlMessage }[] {
  const out: { where: string; bytes: Uint8Array; message: ControlMessage }[] = [];
  for (const d of vectorDatagrams(name)) {
    const where = `${name} #${d.frame.number}`;
    try {
      if (d.plane === 'control') {
        const m = decodeControl(d.payload);
        out.push({ where, bytes: d.payload, message: m });
        if (m.type === 'ecm' && m.message) {
          const inner = decodeInnerUdp(d.payload.subarray(ECM_HEADER)).payload;
          out.push({ where: `${where} (ECM inner)`, bytes: inner, message: decodeControl(inner) });
        }
      } else {
        const p = decodeData(d.payload);
        const ip = parseIpPacket(p.payload);
        if (ip.kind === 'udp' && ip.udp.destinationPort === 4342) {
          const inner = decodeInnerUdp(p.payload).payload;
          out.push({ where: `${where} (HER inner)`, bytes: inner, message: decodeControl(inner) });
        }
      }
    } catch {
      // Decode failures are reported by the round-trip tests.
    }
  }
  return out;
}

for (const name of vectorFiles()) {
  test(`round trip: ${name}`, (t) => {
    const failures: string[] = [];
    let control = 0;
    let data = 0;
    let inner = 0;
    for (const d of vectorDatagrams(name)) {
      const where = `${name} #${d.frame.number}`;
      if (d.plane === 'control') {
        control += 1;
        const r = roundTrip({ where, bytes: d.payload }, decodeControl, encodeControl);
        failures.push(...r.failures);
        if (r.value?.type === 'ecm' && r.value.message) {
          const ecmBody = d.payload.subarray(ECM_HEADER);
          const ip = roundTrip({ where: `${where} ECM inner IP`, bytes: ecmBody }, decodeInnerUdp,
            (x) => encodeInnerUdp(x.header, x.payload));
          failures.push(...ip.failures);
          if (ip.value) {
            inner += 1;
            failures.push(...roundTrip({ where: `${where} ECM inner message`, bytes: ip.value.payload }, decodeControl, encodeControl).failures);
          }
        }
      } else {
        data += 1;
        const r = roundTrip({ where, bytes: d.payload }, decodeData, encodeData);
        failures.push(...r.failures);
        if (!r.value) continue;
        const content = parseIpPacket(r.value.payload);
        if (content.kind === 'udp' && content.udp.destinationPort === 4342) {
          const ip = roundTrip({ where: `${where} HER inner IP`, bytes: r.value.payload }, decodeInnerUdp,
            (x) => encodeInnerUdp(x.header, x.payload));
          failures.push(...ip.failures);
          if (ip.value) {
            inner += 1;
            failures.push(...roundTrip({ where: `${where} HER inner message`, bytes: ip.value.payload }, decodeControl, encodeControl).failures);
          }
        }
      }
    }
    t.log(`${control} control, ${data} data, ${inner} inner control messages`);
    t.deepEqual(failures.slice(0, 20), [], `${failures.length} failures`);
  });
}

const isAuthType = (m: ControlMessage): m is MapRegister | MapNotify =>
  m.type === 'map-register' || m.type === 'map-notify' || m.type === 'map-notify-ack';

test('lispers: every authenticated Map-Register verifies with decent-password, and only with it', (t) => {
  let authenticated = 0;
  let unauthenticated = 0;
  for (const name of vectorFiles().filter((f) => f.startsWith('lispers-'))) {
    for (const { where, bytes, message } of controlMessages(name)) {
      const good = verifyControl(bytes, 'decent-password');
      const wrong = verifyControl(bytes, 'wrong-password');
      if (!isAuthType(message)) {
        t.is(good, 'none', where);
        continue;
      }
      if (message.algorithm === 0) {
        // Group registers, Map-Notifies and -Acks: alg 0, no MAC (test/vectors/lispers-decent-README.md).
        t.is(message.authData.length, 0, where);
        t.is(good, 'none', where);
        t.is(wrong, 'none', where);
        unauthenticated += 1;
        continue;
      }
      t.is(message.type, 'map-register', where);
      t.is(message.algorithm, 2, where);
      t.is(message.keyId, 0, where);
      t.is(message.authData.length, 32, where);
      t.is(good, 'ok', where);
      t.is(wrong, 'bad', where);
      authenticated += 1;
    }
  }
  t.log(`${authenticated} authenticated, ${unauthenticated} alg-0 messages`);
  t.true(authenticated > 50);
  t.true(unauthenticated > 50);
});

test('OOR: Map-Registers and Map-Notifies verify with oorpass (HMAC-SHA-1, 20 bytes)', (t) => {
  let checked = 0;
  for (const name of vectorFiles().filter((f) => f.startsWith('oor-'))) {
    for (const { where, bytes, message } of controlMessages(name)) {
      if (!isAuthType(message)) {
        t.is(verifyControl(bytes, 'oorpass'), 'none', where);
        continue;
      }
      // OOR writes "key-id 1" as the RFC 6830 16-bit Key ID, i.e. key-id byte 0, algorithm 1.
      t.is(message.algorithm, 1, where);
      t.is(message.authData.length, 20, where);
      t.is(verifyControl(bytes, 'oorpass'), 'ok', where);
      t.is(verifyControl(bytes, 'decent-password'), 'bad', where);
      checked += 1;
    }
  }
  // oor-control-bootstrap alone has 2 Map-Registers and 2 Map-Notifies.
  t.true(checked >= 4, `${checked} checked`);
});
