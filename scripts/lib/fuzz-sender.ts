// The attacker side of scripts/fuzz-live.ts, run inside its own network namespace:
// mutated (from the captures in test/vectors) and random datagrams to UDP 4341 and 4342 of a
// target at a fixed rate per port, wrong-key head-end replicated Map-Registers, and malformed
// HTTP requests to the target's API. Prints one JSON line with what it sent.
//
//   node dist/scripts/lib/fuzz-sender.js '{"target":"10.0.0.11","seconds":10,"rate":10000,...}'
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { unicastLocator } from '../../src/control/locators';
import { eidToWire, parseEid } from '../../src/mapping/eid';
import { lispDatagrams } from '../../src/pcap/lisp';
import { readPcapFile } from '../../src/pcap/reader';
import { encodeData, encodeInnerUdp, encodeSigned, type MapRegister } from '../../src/wire';
import { Xorshift32 } from './xorshift';

export interface SenderSpec {
  readonly target: string;
  /** How long to send (ignored when `count` is set). */
  readonly seconds: number;
  /** Datagrams per second to each of 4341 and 4342. */
  readonly rate: number;
  readonly seed: number;
  /** Send exactly this many wrong-key HER registers to 4341 as fast as possible, nothing else. */
  readonly herFlood?: number;
  /** host:port of the target's HTTP API (malformed requests); absent: no HTTP. */
  readonly http?: string;
  /** HTTP requests per second. */
  readonly httpRate?: number;
  readonly vectors: string;
}

let rng = new Xorshift32(1);
const rand = (): number => rng.next();
const below = (n: number): number => rng.below(n);

function mutate(src: Uint8Array): Buffer {
  const b = Buffer.from(src);
  switch (below(6)) {
    case 0: for (let i = 0, n = 1 + below(4); i < n && b.length; i++) b[below(b.length)] ^= 1 << below(8); return b;
    case 1: for (let i = 0, n = 1 + below(4); i < n && b.length; i++) b[below(b.length)] = [0, 0xff, 0x7f, 0x80, 1][below(5)]; return b;
    case 2: return b.subarray(0, below(b.length + 1));
    case 3: { // a 16-bit field (lengths, counts, AFIs, ports) to an extreme
      if (b.length >= 2) b.writeUInt16BE([0, 0xffff, 1, 0x4000][below(4)], below(b.length - 1));
      return b;
    }
    case 4: return Buffer.concat([b, randomBytes(1 + below(64))]);
    default: return randomBytes(below(1400));
  }
}

function randomBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rand() & 0xff;
  return b;
}

/** A head-end replicated Map-Register (instance-id 0xFFFFFF) signed with a key the target does not have. */
export function wrongKeyHer(source: string, group: string, i: number): Buffer {
  const m: MapRegister = {
    type: 'map-register', proxyReply: true, security: false, useTtl: true, merge: true, wantMapNotify: false,
    nonce: BigInt(i), keyId: 0, algorithm: 2, authData: new Uint8Array(0),
    records: [{ ttl: 3, ...eidToWire(parseEid(`10.${200 + (i % 50)}.${(i >> 8) & 255}.${i & 255}/32`)), action: 0, authoritative: true, mapVersion: 0, locators: [unicastLocator(source)] }],
    xtrId: BigInt(i) + 1n, siteId: 0n,
  };
  const inner = encodeInnerUdp({
    version: 4, source, destination: group, ttl: 32, tos: 0, id: 0, fragment: 0x4000, flowLabel: 0, sourcePort: 4342, destinationPort: 4342,
  }, encodeSigned(m, 'not-the-group-key'));
  return encodeData({
    type: 'data', payload: inner,
    header: { noncepresent: true, lsbEnabled: false, echoNonce: false, mapVersioning: false, iidPresent: true, keyId: 0, nonce: i & 0xffffff, iid: 0xffffff, lsb: 0 },
  });
}

/** Malformed and hostile HTTP requests (raw bytes, so nothing is cleaned up on the way). */
const HTTP_REQUESTS: readonly string[] = [
  'GET http://[/ HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /api/lookup?eid=%zz HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /api/lookup?eid=999.1.1.1&timeout=-5 HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /%00%ff/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST /api/map-cache/clear HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc',
  'GARBAGE\r\n\r\n',
  `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
  'GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \u00ff\u00fe\r\n\r\n',
  'GET /api/status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  'GET /metrics HTTP/9.9\r\n\r\n',
];

function corpus(dir: string): { data: Uint8Array[]; control: Uint8Array[] } {
  const data: Uint8Array[] = [], control: Uint8Array[] = [];
  if (fs.existsSync(dir)) {
    for (const f of fs.readdirSync(dir)) {
      if (!f.endsWith('.pcap')) continue;
      try {
        for (const d of lispDatagrams(readPcapFile(path.join(dir, f)))) (d.plane === 'data' ? data : control).push(d.payload);
      } catch {
        /* a capture we cannot read: fuzz without it */
      }
    }
  }
  if (data.length === 0) data.push(randomBytes(64));
  if (control.length === 0) control.push(randomBytes(64));
  return { data, control };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as SenderSpec;
  rng = new Xorshift32(spec.seed);
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, r));
  sock.setSendBufferSize(4 << 20);
  // counts are of datagrams the kernel took (send callback without error); when the machine is
  // too slow for the rate, the ones that would queue beyond MAX_QUEUED are skipped and counted
  const sent = { 4341: 0, 4342: 0, her: 0, sendErrors: 0, skipped: 0, http: 0, httpAnswered: 0, httpStatus: {} as Record<string, number> };
  const MAX_QUEUED = 4096;
  const send = (b: Uint8Array, port: 4341 | 4342): void => {
    if (sock.getSendQueueCount() > MAX_QUEUED) {
      sent.skipped++;
      return;
    }
    sock.send(b, port, spec.target, (e) => {
      if (e) sent.sendErrors++;
      else sent[port]++;
    });
  };
  const attacker = '10.254.254.254';
  if (spec.herFlood) {
    for (let i = 0; i < spec.herFlood; i++) {
      while (sock.getSendQueueCount() > MAX_QUEUED) await new Promise((r) => setTimeout(r, 1));
      send(wrongKeyHer(attacker, '224.9.9.9', i), 4341);
      sent.her++;
      if (i % 256 === 255) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 200));
    sock.close();
    process.stdout.write(`${JSON.stringify(sent)}\n`);
    return;
  }
  const { data, control } = corpus(spec.vectors);
  // Mutating costs more CPU than sending: pools of mutated datagrams made up front, one in 16
  // re-mutated as it is sent, so the sender spends its time on the rate, not on the bytes.
  const POOL = 8192;
  const dataPool = Array.from({ length: POOL }, () => mutate(data[below(data.length)]));
  const controlPool = Array.from({ length: POOL }, () => mutate(control[below(control.length)]));
  const herPool = Array.from({ length: 1024 }, (_, i) => wrongKeyHer(attacker, '224.9.9.9', i));
  const pick = (pool: Buffer[], from: Uint8Array[]): Buffer => {
    const k = below(POOL);
    if ((rand() & 15) === 0) pool[k] = mutate(from[below(from.length)]);
    return pool[k];
  };
  const started = Date.now(), end = started + spec.seconds * 1000;
  const tickMs = 10;
  let due = 0, her = 0;
  let httpDue = 0;
  const [httpHost, httpPort] = spec.http ? [spec.http.slice(0, spec.http.lastIndexOf(':')), Number(spec.http.slice(spec.http.lastIndexOf(':') + 1))] : ['', 0];
  const httpOnce = (): void => {
    const req = below(3) === 0 ? mutate(Buffer.from(HTTP_REQUESTS[below(HTTP_REQUESTS.length)])) : Buffer.from(HTTP_REQUESTS[below(HTTP_REQUESTS.length)]);
    const c = net.connect(httpPort, httpHost);
    sent.http++;
    let head = '';
    c.setTimeout(3000, () => c.destroy());
    c.on('data', (d) => { if (head.length < 64) head += d.toString('latin1'); });
    c.on('error', () => undefined);
    c.on('close', () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (m) {
        sent.httpAnswered++;
        sent.httpStatus[m[1]] = (sent.httpStatus[m[1]] ?? 0) + 1;
      }
    });
    c.end(req);
  };
  while (Date.now() < end) {
    const elapsed = (Date.now() - started) / 1000;
    // never more than one second of catching up at once (a starved sender skips instead)
    const want = Math.floor(elapsed * spec.rate);
    if (want - due > spec.rate) {
      sent.skipped += 2 * (want - due - spec.rate);
      due = want - spec.rate;
    }
    for (; due < want; due++) {
      // 4341: mutated data packets and HER (one in 8 a wrong-key HER register); 4342: mutated control
      if (due % 8 === 0) {
        send(herPool[her++ & 1023], 4341);
        sent.her++;
      } else {
        send(pick(dataPool, data), 4341);
      }
      send(pick(controlPool, control), 4342);
    }
    if (spec.http) {
      const wantHttp = Math.floor(elapsed * (spec.httpRate ?? 20));
      for (; httpDue < wantHttp; httpDue++) httpOnce();
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await new Promise((r) => setTimeout(r, 3500));
  sock.close();
  process.stdout.write(`${JSON.stringify({ ...sent, seconds: (Date.now() - started) / 1000 - 3.5 })}\n`);
}

if (require.main === module) {
  main().catch((e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}
