// The ETR side of the relay shim with the real addon (no namespaces): DataPlaneCrypto.open()
// opens datagrams relayed by a known RTR under the keys of the ITR each FROM shim names, also
// when one GRO message holds datagrams from two ITRs (per-datagram key sets), and leaves the
// rest unopened and counted: a shim from a source that is no RTR, an ITR without keys here.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { checkSuite, sealData, type KeyEvent, type TrafficKeys } from '../src/crypto';
import { ADDR_STRIDE, AddressTable, D, DESC_STRIDE, F, ipToBytes, readAddress, RecvPool, SHIM_MASK, SHIM_SHIFT, type Pool } from '../src/native';
import { DataPlaneCrypto } from '../src/dataplane/crypto';
import { AddressIndex } from '../src/dataplane/address-index';
import { DataPlaneCounters } from '../src/dataplane/counters';
import { Decapsulator, RlocFilter } from '../src/dataplane/decap';
import { SourceFilter } from '../src/dataplane/sources';
import { FibWriter } from '../src/mapping/fib';
import { SHIM_FROM, writeShim } from '../src/wire/relay-shim';

const RTR = '198.51.100.7', ITR_A = '198.51.100.8', ITR_B = '198.51.100.9', ITR_C = '198.51.100.12', US = '198.51.100.10';
const HEADER = Buffer.from([0x88, 0x12, 0x34, 0x56, 0, 0, 0, 0]);

function keys(): TrafficKeys {
  const c = checkSuite(5, 'rfc');
  if (!c.ok) throw new Error(c.error);
  return { spec: c.spec, encryptKey: randomBytes(c.spec.encryptKeyLength), icvKey: randomBytes(c.spec.icvKeyLength) };
}

function decap(peerRloc: string, k: TrafficKeys): KeyEvent {
  return { action: 'install', direction: 'decap', localRloc: US, peerRloc, keyId: 1, suite: 5, variant: 'rfc', encryptKey: Buffer.from(k.encryptKey), icvKey: Buffer.from(k.icvKey) };
}

/** An inner IPv4 packet of 100 bytes whose last byte says which one it is. */
function inner(tag: number): Buffer {
  const p = Buffer.alloc(100, tag);
  p[0] = 0x45;
  p.writeUInt16BE(100, 2);
  return p;
}

/** [FROM shim naming `itr`][LISP header ‖ IV ‖ ciphertext ‖ ICV sealed under `k`]. */
function relayed(itr: string, k: TrafficKeys, counter: bigint, tag: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeBigUInt64BE(counter, 4);
  const entry = new Uint8Array(ADDR_STRIDE);
  entry[0] = 4;
  entry.set(ipToBytes(itr), 4);
  const shim = Buffer.alloc(8);
  writeShim(shim, 0, SHIM_FROM, entry, 0);
  return Buffer.concat([shim, sealData(k, 1, HEADER, iv, inner(tag))]);
}

function message(pool: RecvPool, i: number, from: string, datagrams: Buffer[]): void {
  pool.put(i, Buffer.concat(datagrams));
  pool.setField(i, D.GSO, datagrams.length > 1 ? datagrams[0].length : 0);
  pool.src.fill(0, i * ADDR_STRIDE, (i + 1) * ADDR_STRIDE);
  pool.src[i * ADDR_STRIDE] = 4;
  pool.src.set(ipToBytes(from), i * ADDR_STRIDE + 4);
}

/** Datagram j of slot i after open(): [8 shim bytes][LISP header][inner...]: whether it opened, and its inner tag. */
function opened(pool: RecvPool, i: number, j: number, size: number): { open: boolean; tag: number } {
  const at = pool.start(i) + j * size;
  return { open: (pool.data[at + 8] & 3) === 0, tag: pool.data[at + 16 + 99] };
}

test('datagrams relayed by a known RTR open under the keys their FROM shim names, also two ITRs in one GRO message', (t) => {
  const c = new DataPlaneCrypto('required', 8);
  const ka = keys(), kb = keys();
  t.is(c.apply(decap(ITR_A, ka)), undefined);
  t.is(c.apply(decap(ITR_B, kb)), undefined);
  c.setRtrs([RTR]);
  const pool = new RecvPool({ slots: 4, slotSize: 4096 + 64 });
  const a1 = relayed(ITR_A, ka, 1n, 0xa1), b1 = relayed(ITR_B, kb, 1n, 0xb1), a2 = relayed(ITR_A, ka, 2n, 0xa2), c1 = relayed(ITR_C, keys(), 1n, 0xc1);
  const size = a1.length;
  message(pool, 0, RTR, [relayed(ITR_B, kb, 2n, 0xb2)]); // one ITR, one datagram
  message(pool, 1, RTR, [a1, b1, a2, c1]); // two ITRs with keys and one without, one GRO message
  message(pool, 2, ITR_A, [relayed(ITR_A, ka, 3n, 0xa3)]); // a FROM shim from a member that is no RTR
  c.open(pool, 3);
  const flags = (i: number): number => pool.desc[i * DESC_STRIDE + D.FLAGS];
  t.is((flags(0) >>> SHIM_SHIFT) & SHIM_MASK, 8);
  t.deepEqual(opened(pool, 0, 0, size), { open: true, tag: 0xb2 });
  t.true((flags(1) & F.SEG_KEYS) !== 0 && (flags(1) & F.OPENED) !== 0);
  t.deepEqual([0, 1, 2, 3].map((j) => opened(pool, 1, j, size)), [
    { open: true, tag: 0xa1 }, { open: true, tag: 0xb1 }, { open: true, tag: 0xa2 }, { open: false, tag: pool.data[pool.start(1) + 3 * size + 16 + 99] },
  ]);
  t.is((flags(2) >>> SHIM_SHIFT) & SHIM_MASK, 0, 'not from an RTR: left alone (decap drops it, relayShimDropped)');
  t.is(pool.desc[2 * DESC_STRIDE + D.KEY], 0);
  t.like(c.counters(), { cryptoDropUnknownPeer: 1, cryptoDropClear: 0 });
  const stats = c.keyStats();
  t.is(stats.find((s) => s.peerRloc === ITR_A)?.decrypted, 2);
  t.is(stats.find((s) => s.peerRloc === ITR_B)?.decrypted, 2);
  t.is(stats.reduce((s, k) => s + k.authFailures, 0), 0);
});

test('a shim naming another ITR than the one that sealed it fails its ICV, counted on the named keys', (t) => {
  const c = new DataPlaneCrypto('required', 8);
  const ka = keys(), kb = keys();
  c.apply(decap(ITR_A, ka));
  c.apply(decap(ITR_B, kb));
  c.setRtrs([RTR]);
  const pool = new RecvPool({ slots: 2, slotSize: 4096 + 64 });
  const forged = relayed(ITR_B, kb, 1n, 0xee);
  forged.set(ipToBytes(ITR_A), 4); // names A, sealed by B
  message(pool, 0, RTR, [forged]);
  c.open(pool, 1);
  t.false(opened(pool, 0, 0, forged.length).open);
  t.is(c.keyStats().find((s) => s.peerRloc === ITR_A)?.authFailures, 1);
});

test('the RTR relays a GRO message whose datagrams name different targets one by one, each to its own target with a FROM shim; junk in it is counted', (t) => {
  const PI = '198.51.100.10', PJ = '198.51.100.11';
  const sent: { to: string; port: number; ttl: number; bytes: Buffer }[] = [];
  let pending: Buffer[] | undefined;
  const udp = {
    offloads: { gso: true, gro: true },
    stats: {},
    recv(pool: RecvPool): number {
      if (!pending) return 0;
      message(pool, 0, ITR_A, pending);
      pool.setField(0, D.TTLTOS, 64 | 0x10000);
      pending = undefined;
      return 1;
    },
    send(pool: Pool, count: number, addrs: AddressTable): number {
      for (let i = 0; i < count; i++) {
        const ai = pool.field(i, D.ADDR);
        if (ai < 0) continue;
        const to = readAddress(addrs.bytes, ai);
        const at = pool.start(i);
        sent.push({ to: to?.address ?? '', port: to?.port ?? 0, ttl: pool.field(i, D.TTLTOS) & 0xff, bytes: Buffer.from(pool.data.subarray(at, at + pool.length(i))) });
      }
      return count;
    },
    onReadable(): void { /* driven by the test */ },
    close(): void { /* nothing */ },
  };
  const tun = { name: 't', offloads: { vnetHdr: false }, read: (): number => 0, write: (): number => 0, onReadable(): void { /* no */ }, close(): void { /* no */ } };
  const counters = new DataPlaneCounters();
  const rlocs = new RlocFilter();
  rlocs.set([RTR]);
  const sources = new SourceFilter();
  sources.set([ITR_A, PI, PJ, RTR]);
  const targets = new AddressIndex();
  targets.replace([[PI, 40001], [PJ, 40002]]);
  const decap = new Decapsulator({
    tun, udp, local: new FibWriter({ maxEntries: 16, maxInstances: 2 }), rlocs, sources, counters, instanceId: 0, mtu: 1500,
    onControl: () => undefined, relay: { enabled: true, packet: () => undefined, done: () => undefined }, relayTargets: targets, family: 4,
  });
  const to = (ip: string, tag: number): Buffer => {
    const b = relayed(ITR_A, keys(), 1n, tag);
    b[1] = 1; // TO
    b.set(ipToBytes(ip), 4);
    return b;
  };
  const junk = Buffer.alloc(to(PI, 0).length, 0xab);
  pending = [to(PI, 1), to(PJ, 2), to(PI, 3), junk, to('198.51.100.99', 4)];
  decap.drain();
  t.deepEqual(sent.map((s) => [s.to, s.port, s.bytes[1], s.ttl]), [[PI, 40001, 2, 63], [PJ, 40002, 2, 63], [PI, 40001, 2, 63]]);
  t.true(sent.every((s) => s.bytes.subarray(4, 8).equals(Buffer.from(ipToBytes(ITR_A)))), 'each FROM shim names the ITR');
  t.like(counters, { rtrRelayedSealed: 3, relayShimDropped: 2 });
});
