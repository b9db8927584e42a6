// `decent decode` end to end, through bin/decent as a user runs it.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildUdpFrame, encodePcap, writeUdpPcap } from '../src/pcap/writer';
import { decodeControl } from '../src/wire';
import { NEXT_VECTORS_DIR, REPO_ROOT, vectorDatagrams, vectorFiles, vectorPath } from './helpers/vectors';

const BIN = path.join(REPO_ROOT, 'bin', 'decent');
const TYPES = new Set(['data', 'map-request', 'map-reply', 'map-register', 'map-notify', 'map-notify-ack', 'ecm']);

interface Run { readonly status: number | null; readonly stdout: string; readonly stderr: string }

function decent(...args: string[]): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface JsonLine {
  readonly frame: number;
  readonly type: string;
  readonly inner?: { readonly type: string };
  readonly innerIp?: unknown;
  readonly auth?: string;
  readonly error?: unknown;
  readonly message?: { readonly type: string };
}

function jsonLines(stdout: string): JsonLine[] {
  return stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as JsonLine);
}

for (const name of vectorFiles()) {
  test(`decode --json --key: ${name}`, (t) => {
    const r = decent('decode', vectorPath(name), '--json', '--key', name.startsWith('oor-') ? 'oorpass' : 'decent-password');
    t.is(r.status, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    const datagrams = vectorDatagrams(name);
    t.deepEqual(lines.map((l) => l.frame), datagrams.map((d) => d.frame.number));
    for (const [i, l] of lines.entries()) {
      const where = `${name} #${l.frame}`;
      t.true(TYPES.has(l.type), `${where}: type ${l.type}`);
      t.is(l.error, undefined, where);
      t.is(l.message?.type, l.type, where);
      if (datagrams[i].plane === 'control') t.not(l.type, 'data', where);
      if (l.type === 'ecm') t.truthy(l.inner, `${where}: ECM without inner message`);
      if (l.inner) {
        t.true(TYPES.has(l.inner.type), where);
        t.truthy(l.innerIp, where);
      }
      if (l.auth !== undefined) t.true(l.auth === 'ok' || l.auth === 'none', `${where}: auth ${l.auth}`);
      if (l.type !== 'data' || l.inner) t.not(l.auth, undefined, `${where}: no auth verdict`);
    }
    if (name.startsWith('lispers-decent-her') && !name.includes('n1-lo')) {
      t.true(lines.some((l) => l.type === 'data' && l.inner?.type === 'map-register'), 'HER copies decoded');
    }
  });
}

test('decode with a wrong key: authenticated messages are bad, the others none', (t) => {
  for (const name of ['lispers-decent-her-startup.pcap', 'lispers-decent-pull-full.pcap', 'oor-control-bootstrap.pcap']) {
    const r = decent('decode', vectorPath(name), '--json', '--key', 'not-the-key');
    t.is(r.status, 0, r.stderr);
    const auths = jsonLines(r.stdout).map((l) => l.auth);
    t.true(auths.includes('bad'), name);
    t.false(auths.includes('ok'), name);
  }
});

test('decode without --key prints no auth verdicts; text output has one header per datagram', (t) => {
  const name = 'lispers-decent-her-n1-lo.pcap';
  const json = decent('decode', vectorPath(name), '--json');
  t.is(json.status, 0);
  t.true(jsonLines(json.stdout).every((l) => l.auth === undefined));
  const text = decent('decode', vectorPath(name), '--key', 'decent-password');
  t.is(text.status, 0, text.stderr);
  const headers = text.stdout.split('\n').filter((l) => /^#\d+ /.test(l));
  t.is(headers.length, 16);
  t.regex(headers[0], /^#1 0\.000000 127\.0\.0\.1:59906 -> 127\.0\.0\.1:4342 Map-Register, 159 bytes, auth ok$/);
  t.regex(text.stdout, /EID 1\.1\.1\.1\/32, ttl 3m/);
  t.regex(text.stdout, /EID \(192\.168\.77\.5\/32, 224\.1\.1\.1\/32\)/);
  t.regex(text.stdout, /Map-Notify-Ack/);
});

test('--help, --version and usage errors', (t) => {
  const help = decent('decode', '--help');
  t.is(help.status, 0);
  t.regex(help.stdout, /Usage: decent decode FILE\.pcap/);
  t.regex(help.stdout, /Examples:\n {2}decent decode /);
  const global = decent('--help');
  t.is(global.status, 0);
  t.regex(global.stdout, /decode +print the LISP datagrams/);
  t.regex(global.stdout, /Examples:/);
  const version = decent('--version');
  t.is(version.status, 0);
  t.regex(version.stdout, /^decent \d+\.\d+\.\d+\n$/);

  const badOption = decent('decode', vectorPath('oor-control-bootstrap.pcap'), '--bogus');
  t.is(badOption.status, 2);
  t.regex(badOption.stderr, /decent decode: Unknown option '--bogus'/);
  t.regex(badOption.stderr, /Usage: decent decode/);
  t.is(badOption.stdout, '');
  const missingValue = decent('decode', vectorPath('oor-control-bootstrap.pcap'), '--key');
  t.is(missingValue.status, 2);
  t.regex(missingValue.stderr, /--key/);
  t.is(decent('decode').status, 2);
  t.is(decent('decode', 'a.pcap', 'b.pcap').status, 2);
  const unknown = decent('frobnicate');
  t.is(unknown.status, 2);
  t.regex(unknown.stderr, /unknown command 'frobnicate'/);
  t.is(decent().status, 2);
});

test('a missing file exits 1 naming the file', (t) => {
  const r = decent('decode', '/nonexistent/capture.pcap');
  t.is(r.status, 1);
  t.regex(r.stderr, /\/nonexistent\/capture\.pcap: no such file/);
});

test('a corrupted LISP datagram is reported, the others printed, exit 1', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'decent-cli-'));
  try {
    const datagrams = vectorDatagrams('lispers-decent-her-n1-lo.pcap');
    const corrupt = 2; // the Map-Reply of frame #3
    const file = path.join(dir, 'corrupt.pcap');
    writeUdpPcap(file, datagrams.map((d, i) => {
      const payload = Buffer.from(d.payload);
      if (i === corrupt) payload[3] = 9; // record count 9: the records run past the end
      return {
        source: d.ip.source, destination: d.ip.destination, sourcePort: d.udp.sourcePort,
        destinationPort: d.udp.destinationPort, payload,
      };
    }));
    const r = decent('decode', file, '--json');
    t.is(r.status, 1);
    const lines = jsonLines(r.stdout);
    t.is(lines.length, datagrams.length);
    const bad = lines.filter((l) => l.error !== undefined);
    t.deepEqual(bad.map((l) => l.frame), [corrupt + 1]);
    t.is(bad[0].type, 'map-reply');
    t.regex(r.stderr, /1 datagram failed to decode/);
    const text = decent('decode', file);
    t.is(text.status, 1);
    t.regex(text.stdout, /#3 .* Map-Reply, 52 bytes\n {4}ERROR decoding the message at byte \d+: /);
    t.regex(text.stdout, /#16 /);

    // A truncated pcap: the frames before the cut are printed, then the error with its offset.
    const truncated = path.join(dir, 'truncated.pcap');
    writeUdpPcap(truncated, datagrams.slice(0, 2).map((d) => ({
      source: d.ip.source, destination: d.ip.destination, sourcePort: d.udp.sourcePort,
      destinationPort: d.udp.destinationPort, payload: d.payload,
    })));
    truncateSync(truncated, statSync(truncated).size - 10);
    const tr = decent('decode', truncated, '--json');
    t.is(tr.status, 1);
    t.is(jsonLines(tr.stdout).length, 1);
    t.regex(tr.stderr, /truncated record of frame 2: \d+ of \d+ bytes \(at file offset \d+\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('IP fragments are reported on stderr, not decoded, and do not fail the run', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'decent-cli-'));
  try {
    const frame = buildUdpFrame({ source: '10.0.0.1', destination: '10.0.0.2', sourcePort: 5, destinationPort: 4342, payload: Buffer.alloc(30) });
    frame.writeUInt16BE(0x2000, 14 + 6); // MF: first fragment
    const file = path.join(dir, 'fragment.pcap');
    writeFileSync(file, encodePcap([{ data: frame, time: 0 }]));
    const r = decent('decode', file, '--json');
    t.is(r.status, 0);
    t.is(r.stdout, '');
    t.regex(r.stderr, /frame 1: IPv4 fragment of a UDP datagram 10\.0\.0\.1 -> 10\.0\.0\.2, id 0x0, offset 0, more follow: not reassembled/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lispers NAT capture: Info-Requests (also on the data port) and Info-Replies print, exit 0', (t) => {
  const file = path.join(NEXT_VECTORS_DIR, 'lispers-nat.pcap');
  const r = decent('decode', file, '--json', '--key', 'nat-password');
  t.is(r.status, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  t.is(lines.filter((l) => l.error !== undefined).length, 0);
  t.is(lines.filter((l) => l.type === 'info-request').length, 22);
  t.is(lines.filter((l) => l.type === 'info-reply').length, 22);
  t.is(lines.filter((l) => l.type === 'data' && l.inner?.type === 'info-request').length, 12);
  const text = decent('decode', file);
  t.is(text.status, 0);
  t.regex(text.stdout, /#56 .* Info-Reply, 55 bytes\n.*\n {4}global ETR RLOC 198\.51\.100\.10 port 40582, MS RLOC - port 0\n {4}private ETR RLOC 'n1', RTRs 198\.51\.100\.6, LCAF length field 16 \(lispers\)\n/);
  t.regex(text.stdout, /#62 .* Data, 37 bytes\n.*IID 0xffffff.*\n {4}inner Info-Request\n.*\n {6}requester 'n1'\n/);
});

test('a control message of a type without a decoder prints as unknown and does not fail the capture (issue 14)', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'decent-cli-'));
  try {
    const [first] = vectorDatagrams('lispers-decent-her-n1-lo.pcap');
    const spec = (payload: Uint8Array): { source: string; destination: string; sourcePort: number; destinationPort: number; payload: Uint8Array } => ({
      source: '192.0.2.1', destination: '192.0.2.2', sourcePort: 4342, destinationPort: 4342, payload,
    });
    const file = path.join(dir, 'unknown.pcap');
    // Map-Referral (6), shared extension (15), then a real message that must still be decoded.
    writeUdpPcap(file, [spec(Buffer.from('6000000100000000000000aa', 'hex')), spec(Buffer.from('f0000000', 'hex')), spec(first.payload)]);
    const r = decent('decode', file, '--json');
    t.is(r.status, 0, r.stderr);
    const lines = jsonLines(r.stdout) as (JsonLine & { unknownType?: number })[];
    t.deepEqual(lines.map((l) => l.unknownType), [6, 15, undefined]);
    t.is(lines[2].type, decodeControlType(first.payload));
    t.true(lines.every((l) => l.error === undefined));
    const text = decent('decode', file);
    t.is(text.status, 0);
    t.regex(text.stdout, /#1 .* unknown control message type 6 \(Map-Referral\), 12 bytes\n {4}not decoded: 6000000100000000000000aa\n/);
    t.regex(text.stdout, /#3 /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function decodeControlType(payload: Uint8Array): string {
  return decodeControl(payload).type;
}
