import test from 'ava';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  FibAction, FibInputError, FibReader, FibWriter, NumericPrefix, formatPrefix, makePrefix, parseIpv4, parseIpv6,
  parsePrefix,
} from '../src/mapping/fib';
import { rng } from '../scripts/lib/rng';

// ---- Deterministic randomness and a naive reference ---------------------------------------

function maskWord(word: number, bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return word >>> 0;
  return (word & (0xffffffff << (32 - bits))) >>> 0;
}

function maskWords(words: number[], length: number): number[] {
  return words.map((w, i) => maskWord(w, length - 32 * i));
}

interface RefRoute { iid: number; prefix: NumericPrefix; tag: number }

class ReferenceFib {
  readonly routes = new Map<string, RefRoute>();
  key(iid: number, p: NumericPrefix): string {
    return `${iid}|${formatPrefix(p)}`;
  }
  set(iid: number, prefix: NumericPrefix, tag: number): void {
    this.routes.set(this.key(iid, prefix), { iid, prefix, tag });
  }
  delete(iid: number, prefix: NumericPrefix): boolean {
    return this.routes.delete(this.key(iid, prefix));
  }
  lookup(iid: number, family: 4 | 6, words: number[]): RefRoute | undefined {
    let best: RefRoute | undefined;
    for (const r of this.routes.values()) {
      if (r.iid !== iid || r.prefix.family !== family) continue;
      const masked = maskWords(words, r.prefix.length);
      if (masked.every((w, i) => w === r.prefix.words[i]) && (best === undefined || r.prefix.length > best.prefix.length)) best = r;
    }
    return best;
  }
}

/** The tag is stored as the first RLOC's weight-independent address so a lookup can be checked. */
function tagRloc(tag: number): { address: string; priority: number; weight: number } {
  return { address: `10.${(tag >>> 16) & 255}.${(tag >>> 8) & 255}.${tag & 255}`, priority: 1, weight: 1 };
}

function tagOf(fib: FibReader, entry: number): number {
  if (entry < 0) return -1;
  return fib.rlocAddressWord(fib.route(entry), 0, 0) & 0xffffff;
}

const V4_LENGTHS = [0, 1, 8, 12, 15, 16, 17, 19, 20, 22, 23, 24, 24, 24, 25, 28, 31, 32, 32];
const V6_LENGTHS = [0, 3, 15, 16, 17, 24, 32, 40, 47, 48, 48, 49, 56, 64, 79, 80, 81, 96, 111, 112, 113, 120, 127, 128, 128];

function randomCheck(t: import('ava').ExecutionContext, family: 4 | 6, seed: number): void {
  const next = rng(seed);
  const wordCount = family === 4 ? 1 : 4;
  const lengths = family === 4 ? V4_LENGTHS : V6_LENGTHS;
  // A few seed addresses, so prefixes overlap and nest at every level.
  const seeds = Array.from({ length: 6 }, () => Array.from({ length: wordCount }, () => next()));
  const nearSeed = (): number[] => {
    const base = seeds[next() % seeds.length] as number[];
    const flipBit = next() % (32 * wordCount);
    return base.map((w, i) => {
      let out = w;
      if (next() % 2 === 0 && Math.floor(flipBit / 32) === i) out = (out ^ (1 << (31 - (flipBit % 32)))) >>> 0;
      if (i === wordCount - 1 && next() % 2 === 0) out = (out ^ (next() & 0xff)) >>> 0;
      return out;
    });
  };
  const fib = new FibWriter({ maxEntries: 4096, maxInstances: 8, reclaimDelayMs: 0 });
  const ref = new ReferenceFib();
  const iids = [0, 7, 0xffffff];
  const live: { iid: number; prefix: NumericPrefix }[] = [];
  let tag = 1;
  // lookup4Batch over every query of a check, per instance-id, against lookup4.
  const batchIn = new Uint32Array(600);
  const batchSub = new Uint32Array(601);
  const batchOut = new Int32Array(600);
  const batchIid = new Int32Array(600);
  const batchWant = new Int32Array(600);
  const checkBatch = (queries: number): void => {
    for (const iid of iids) {
      let count = 0;
      const want: number[] = [];
      for (let q = 0; q < queries; q++) {
        if (batchIid[q] !== iid) continue;
        batchSub[count++] = batchIn[q] as number;
        want.push(batchWant[q] as number);
      }
      // From offset 1, so `from` is exercised; batchSub[0] is a dummy.
      batchSub.copyWithin(1, 0, count);
      fib.lookup4Batch(iid, batchSub, 1, count, batchOut);
      for (let q = 0; q < count; q++) {
        if (batchOut[q] !== want[q]) {
          t.fail(`lookup4Batch iid ${iid} #${q} ${(batchSub[q + 1] as number).toString(16)}: ${batchOut[q]} ≠ lookup4 ${want[q]}`);
          return;
        }
      }
    }
  };
  const check = (): void => {
    for (let q = 0; q < 600; q++) {
      const iid = iids[next() % iids.length] as number;
      const words = next() % 5 === 0 ? Array.from({ length: wordCount }, () => next()) : nearSeed();
      const expected = ref.lookup(iid, family, words);
      const entry = family === 4 ? fib.lookup4(iid, words[0] as number)
        : fib.lookup6(iid, words[0] as number, words[1] as number, words[2] as number, words[3] as number);
      const got = tagOf(fib, entry);
      if (got !== (expected?.tag ?? -1)) {
        t.fail(`iid ${iid} lookup ${words.map((w) => w.toString(16)).join(':')}: got tag ${got}, expected ${expected ? `${expected.tag} (${formatPrefix(expected.prefix)})` : 'miss'}`);
        return;
      }
      batchIn[q] = words[0] as number;
      batchIid[q] = iid;
      batchWant[q] = entry;
      if (expected !== undefined) {
        t.is(fib.entryPrefixLength(entry), expected.prefix.length);
        t.is(fib.entryInstanceId(entry), iid);
      }
    }
    if (family === 4) checkBatch(600);
  };
  for (let round = 0; round < 30; round++) {
    for (let op = 0; op < 40; op++) {
      const r = next() % 10;
      if (r < 6 || live.length === 0) {
        const iid = iids[next() % iids.length] as number;
        const length = lengths[next() % lengths.length] as number;
        const prefix = makePrefix(family, maskWords(nearSeed(), length), length);
        fib.upsert({ iid, prefix, rlocs: [tagRloc(tag)], ttlSeconds: 0 });
        ref.set(iid, prefix, tag);
        live.push({ iid, prefix });
        tag++;
      } else if (r < 9) {
        const [victim] = live.splice(next() % live.length, 1);
        if (victim === undefined) continue;
        const inRef = ref.delete(victim.iid, victim.prefix);
        t.is(fib.remove(victim.iid, victim.prefix), inRef);
      } else {
        // Update in place: same prefix, new RLOC set, same entry index.
        const target = live[next() % live.length];
        if (target === undefined || ref.lookup(target.iid, family, [...target.prefix.words]) === undefined) continue;
        const before = fib.find(target.iid, target.prefix);
        if (before < 0) continue;
        t.is(fib.upsert({ iid: target.iid, prefix: target.prefix, rlocs: [tagRloc(tag)], ttlSeconds: 0 }), before);
        ref.set(target.iid, target.prefix, tag);
        tag++;
      }
    }
    check();
  }
  t.is(fib.size, ref.routes.size);
  // Remove everything: every lookup misses and the trie collapses back to empty roots.
  for (const r of [...ref.routes.values()]) t.true(fib.remove(r.iid, r.prefix));
  t.is(fib.size, 0);
  ref.routes.clear();
  check();
}

test('IPv4 longest-prefix match agrees with a naive reference (random, overlapping, removals, updates)', (t) => {
  for (const seed of [1, 2, 3, 4]) randomCheck(t, 4, seed);
});

test('IPv6 longest-prefix match agrees with a naive reference (random, overlapping, removals, updates)', (t) => {
  for (const seed of [11, 12, 13, 14]) randomCheck(t, 6, seed);
});

test('default routes, host routes and byte-buffer lookups', (t) => {
  const fib = new FibWriter({ maxEntries: 64, maxInstances: 4 });
  const d4 = fib.upsert({ iid: 1, prefix: '0.0.0.0/0', action: FibAction.SendMapRequest, ttlSeconds: 60 });
  const h4 = fib.upsert({ iid: 1, prefix: '192.0.2.7/32', rlocs: [tagRloc(7)], ttlSeconds: 60 });
  const d6 = fib.upsert({ iid: 1, prefix: '::/0', action: FibAction.NativelyForward, ttlSeconds: 60 });
  const h6 = fib.upsert({ iid: 1, prefix: '2001:db8::1/128', rlocs: [tagRloc(8)], ttlSeconds: 60 });
  t.is(fib.lookup4(1, parseIpv4('192.0.2.7')), h4);
  t.is(fib.lookup4(1, parseIpv4('192.0.2.6')), d4);
  t.is(fib.lookup4(1, parseIpv4('255.255.255.255')), d4);
  t.is(fib.lookup4(2, parseIpv4('192.0.2.7')), -1, 'other instance-id misses');
  const [a, b, c, d] = parseIpv6('2001:db8::1');
  t.is(fib.lookup6(1, a, b, c, d), h6);
  t.is(fib.lookup6(1, a, b, c, d + 1), d6);
  const packet = Uint8Array.from([0, 0, 192, 0, 2, 7, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  t.is(fib.lookup4Bytes(1, packet, 2), h4);
  const batch = Uint32Array.from([0, parseIpv4('192.0.2.7'), parseIpv4('192.0.2.6'), parseIpv4('8.8.8.8')]);
  const out = new Int32Array(3);
  fib.lookup4Batch(1, batch, 1, 3, out);
  t.deepEqual([...out], [h4, d4, d4]);
  fib.lookup4Batch(9, batch, 0, 2, out);
  t.deepEqual([...out], [-1, -1, d4]);
  t.is(fib.lookup6Bytes(1, packet, 6), h6);
  t.true(fib.remove(1, '0.0.0.0/0'));
  t.is(fib.lookup4(1, parseIpv4('192.0.2.6')), -1);
  t.is(fib.lookup4(1, parseIpv4('192.0.2.7')), h4);
});

test('input validation gives precise errors', (t) => {
  const fib = new FibWriter({ maxEntries: 16, maxInstances: 2 });
  const err = (fn: () => unknown): string => {
    const e = t.throws(fn, { instanceOf: FibInputError });
    return e?.message ?? '';
  };
  t.is(err(() => parsePrefix('10.0.0.0/33')), 'prefix: prefix length 33 is out of range 0..32 for IPv4');
  t.is(err(() => parsePrefix('2001:db8::/129')), 'prefix: prefix length 129 is out of range 0..128 for IPv6');
  t.is(err(() => parsePrefix('10.0.0.0')), 'prefix: "10.0.0.0" has no "/length"');
  t.is(err(() => parsePrefix('10.0.0.0/x')), 'prefix: "10.0.0.0/x" has a bad prefix length "x"');
  t.is(err(() => parsePrefix('10.0.0.1/24')), 'prefix: host bits are set beyond /24');
  t.is(err(() => parsePrefix('10.0.0.256/32')), 'prefix: "10.0.0.256" is not an IPv4 address (bad part "256")');
  t.is(err(() => parsePrefix('10.0.0/8')), 'prefix: "10.0.0" is not an IPv4 address (need 4 dotted parts)');
  t.is(err(() => parsePrefix('2001:db8::1::/64')), 'prefix: "2001:db8::1::" is not an IPv6 address (more than one "::")');
  t.is(err(() => parsePrefix('2001:db8:g::/48')), 'prefix: "2001:db8:g::" is not an IPv6 address (bad group "g")');
  t.is(err(() => makePrefix(4, [1, 2], 8)), 'prefix: IPv4 needs 1 address word(s), got 2');
  t.is(err(() => fib.upsert({ iid: -1, prefix: '10.0.0.0/8', ttlSeconds: 0 })), 'iid: -1 is not an instance-id in 0..16777215');
  t.is(err(() => fib.upsert({ iid: 0, prefix: '10.0.0.0/8', ttlSeconds: 0, rlocs: [{ address: '1.2.3.4', priority: 256, weight: 1 }] })),
    'rlocs[0].priority: 256 is not an integer in 0..255');
  t.is(err(() => fib.upsert({ iid: 0, prefix: '10.0.0.0/8', ttlSeconds: 0, rlocs: [{ address: '1.2.3', priority: 1, weight: 1 }] })),
    'rlocs[0].address: "1.2.3" is not an IPv4 address (need 4 dotted parts)');
  t.is(err(() => fib.upsert({ iid: 0, prefix: '10.0.0.0/8', ttlSeconds: 1.5 })), 'ttlSeconds: 1.5 is not an integer number of seconds');
  const many = Array.from({ length: 32 }, () => ({ address: '1.2.3.4', priority: 1, weight: 1 }));
  t.is(err(() => fib.upsert({ iid: 0, prefix: '10.0.0.0/8', ttlSeconds: 0, rlocs: many })), 'rlocs: 32 RLOCs; at most 31');
  t.is(fib.size, 0, 'failed upserts change nothing');
});

// ---- RLOC selection -------------------------------------------------------------------------

function shares(fib: FibReader, entry: number, samples: number, seed = 5): number[] {
  const next = rng(seed);
  const counts: number[] = [];
  for (let i = 0; i < samples; i++) {
    const chosen = fib.selectRloc(entry, next());
    counts[chosen + 1] = (counts[chosen + 1] ?? 0) + 1;
  }
  return Array.from({ length: fib.routeRlocCount(fib.route(entry)) + 1 }, (_, i) => counts[i] ?? 0);
}

/** |observed − expected| within 5 standard deviations of a binomial(samples, p). */
function assertShare(t: import('ava').ExecutionContext, observed: number, samples: number, p: number, what: string): void {
  const sigma = Math.sqrt(samples * p * (1 - p));
  const tolerance = 5 * sigma;
  t.true(Math.abs(observed - samples * p) <= tolerance, `${what}: ${observed} of ${samples}, expected ${samples * p} ± ${tolerance.toFixed(1)}`);
}

test('RLOC selection: lowest usable priority, weight-proportional, sticky per flow, down/R=0/255 skipped', (t) => {
  const fib = new FibWriter({ maxEntries: 16, maxInstances: 2 });
  const entry = fib.upsert({
    iid: 0, prefix: '10.1.0.0/16', ttlSeconds: 0, rlocs: [
      { address: '192.0.2.1', priority: 1, weight: 10 },
      { address: '192.0.2.2', priority: 1, weight: 30 },
      { address: '2001:db8::3', priority: 1, weight: 60 },
      { address: '192.0.2.4', priority: 2, weight: 100 },
      { address: '192.0.2.5', priority: 0, weight: 100, reachable: false },
      { address: '192.0.2.6', priority: 0, weight: 100, up: false },
      { address: '192.0.2.7', priority: 255, weight: 100 },
    ],
  });
  const samples = 20000;
  let counts = shares(fib, entry, samples);
  t.is(counts[0], 0, 'always some RLOC');
  assertShare(t, counts[1] ?? 0, samples, 0.1, 'weight 10');
  assertShare(t, counts[2] ?? 0, samples, 0.3, 'weight 30');
  assertShare(t, counts[3] ?? 0, samples, 0.6, 'weight 60');
  t.deepEqual(counts.slice(4), [0, 0, 0, 0], 'priority 2, R=0, down and 255 never chosen');

  // One flow stays on one RLOC, and the selected address is reported.
  const hash = 0xdeadbeef;
  const first = fib.selectRloc(entry, hash);
  for (let i = 0; i < 100; i++) t.is(fib.selectRloc(entry, hash), first);
  const v6 = fib.selectRloc(entry, findHashFor(fib, entry, 2));
  t.is(v6, 2);
  t.is(fib.selectedFamily, 6);
  t.deepEqual([...fib.selectedAddress], parseIpv6('2001:db8::3'));
  t.is(fib.selectedLsbPosition, 2);

  // Down takes effect at once: the next selection skips it; flows on other RLOCs don't move.
  const flowHashes = Array.from({ length: 2000 }, (_, i) => Math.imul(i + 1, 0x9e3779b1));
  const before = flowHashes.map((h) => fib.selectRloc(entry, h));
  fib.setRlocUp(entry, 2, false);
  const after = flowHashes.map((h) => fib.selectRloc(entry, h));
  t.true(before.some((c) => c === 2));
  t.true(after.every((c, i) => c !== 2 && (before[i] === 2 || c === before[i])), 'only the flows of the down RLOC moved');
  counts = shares(fib, entry, samples);
  assertShare(t, counts[1] ?? 0, samples, 0.25, 'weight 10 of 40');
  assertShare(t, counts[2] ?? 0, samples, 0.75, 'weight 30 of 40');
  t.is(counts[3], 0);
  t.false(fib.rlocUp(fib.route(entry), 2));

  // All of priority 1 down: priority 2 takes over. Then none usable: -1.
  fib.setRlocUp(entry, 0, false);
  fib.setRlocUp(entry, 1, false);
  t.is(fib.selectRloc(entry, 1), 3);
  t.is(fib.setRlocUpByAddress('192.0.2.4', false), 1);
  t.is(fib.selectRloc(entry, 1), -1);
  t.is(fib.setRlocUpByAddress('2001:db8::3', true), 1);
  t.is(fib.selectRloc(entry, 1), 2);
  t.throws(() => fib.setRlocUp(entry, 7, true), { instanceOf: FibInputError, message: 'ordinal: RLOC 7 does not exist (entry has 7)' });
});

function findHashFor(fib: FibReader, entry: number, ordinal: number): number {
  for (let h = 0; ; h++) if (fib.selectRloc(entry, h * 2654435761) === ordinal) return h * 2654435761;
}

test('RLOC selection: all-zero weights split equally', (t) => {
  const fib = new FibWriter({ maxEntries: 16, maxInstances: 2 });
  const entry = fib.upsert({
    iid: 0, prefix: '10.2.0.0/16', ttlSeconds: 0, rlocs: [0, 1, 2].map((i) => ({ address: `192.0.2.${i + 1}`, priority: 5, weight: 0 })),
  });
  const samples = 30000;
  const counts = shares(fib, entry, samples, 9);
  for (let i = 1; i <= 3; i++) assertShare(t, counts[i] ?? 0, samples, 1 / 3, `RLOC ${i - 1}`);
});

test('negative entries carry their action and select no RLOC', (t) => {
  const fib = new FibWriter({ maxEntries: 16, maxInstances: 2 });
  const actions = [FibAction.Drop, FibAction.NativelyForward, FibAction.SendMapRequest];
  actions.forEach((action, i) => {
    const entry = fib.upsert({ iid: 3, prefix: `10.${i}.0.0/16`, action, ttlSeconds: 900 });
    const route = fib.route(entry);
    t.is(fib.routeAction(route), action);
    t.is(fib.routeRlocCount(route), 0);
    t.is(fib.selectRloc(entry, 12345), -1);
    t.is(fib.lookup4(3, parseIpv4(`10.${i}.9.9`)), entry);
  });
  // Default action without RLOCs is send-map-request; a negative entry can turn positive in place.
  const e = fib.upsert({ iid: 3, prefix: '10.9.0.0/16', ttlSeconds: 60 });
  t.is(fib.routeAction(fib.route(e)), FibAction.SendMapRequest);
  t.is(fib.upsert({ iid: 3, prefix: '10.9.0.0/16', ttlSeconds: 60, rlocs: [tagRloc(1)] }), e);
  t.is(fib.routeAction(fib.route(e)), FibAction.NoAction);
  t.is(fib.selectRloc(e, 1), 0);
});

test('TTL expiry', (t) => {
  let now = 1_700_000_000_000;
  const fib = new FibWriter({ maxEntries: 16, maxInstances: 2, clock: () => now });
  const short = fib.upsert({ iid: 0, prefix: '10.0.0.0/8', ttlSeconds: 60, action: FibAction.Drop });
  const long = fib.upsert({ iid: 0, prefix: '10.1.0.0/16', ttlSeconds: 3600, rlocs: [tagRloc(1)] });
  const forever = fib.upsert({ iid: 0, prefix: '0.0.0.0/0', ttlSeconds: 0, action: FibAction.SendMapRequest });
  t.is(fib.entryTtl(short), 60);
  t.is(fib.entryTtl(long), 3600);
  t.is(fib.entryTtl(fib.upsert({ iid: 0, prefix: '10.3.0.0/16', ttlSeconds: 86_400, action: FibAction.Drop })), 86_400);
  fib.remove(0, '10.3.0.0/16');
  t.is(fib.entryExpiresAt(short), now / 1000 + 60);
  t.is(fib.entryExpiresAt(forever), 0);
  t.false(fib.entryExpired(short, now / 1000 + 59));
  t.true(fib.entryExpired(short, now / 1000 + 60));
  now += 59_000;
  t.is(fib.expire(), 0);
  now += 1_000;
  t.is(fib.expire(), 1);
  t.is(fib.lookup4(0, parseIpv4('10.2.0.1')), forever, 'expired /8 gone, default route remains');
  t.is(fib.lookup4(0, parseIpv4('10.1.0.1')), long);
  // A refresh (upsert) pushes the expiry out.
  fib.upsert({ iid: 0, prefix: '10.1.0.0/16', ttlSeconds: 3600, rlocs: [tagRloc(1)] });
  now += 3_599_000;
  t.is(fib.expire(), 0);
  t.is(fib.expire(now + 60_000), 1);
  t.is(fib.size, 1);
});

test('counters count per entry and restart when a slot is reused', (t) => {
  const fib = new FibWriter({ maxEntries: 4, maxInstances: 2, reclaimDelayMs: 0 });
  const e = fib.upsert({ iid: 0, prefix: '10.0.0.0/8', ttlSeconds: 0, rlocs: [tagRloc(1)] });
  for (let i = 0; i < 10; i++) fib.count(e, 100 + i);
  t.deepEqual(fib.entryCounters(e), { packets: 10, bytes: 1045 });
  fib.remove(0, '10.0.0.0/8');
  const again = fib.upsert({ iid: 0, prefix: '11.0.0.0/8', ttlSeconds: 0, rlocs: [tagRloc(1)] });
  t.is(again, e, 'slot reused at once with no reclaim delay');
  t.deepEqual(fib.entryCounters(again), { packets: 0, bytes: 0 });
});

test('freed slots are not reused before the reclaim delay', (t) => {
  let now = 0;
  const fib = new FibWriter({ maxEntries: 8, maxInstances: 2, reclaimDelayMs: 1000, clock: () => now });
  const e = fib.upsert({ iid: 0, prefix: '10.0.0.0/8', ttlSeconds: 0, rlocs: [tagRloc(1)] });
  fib.remove(0, '10.0.0.0/8');
  t.not(fib.upsert({ iid: 0, prefix: '11.0.0.0/8', ttlSeconds: 0 }), e);
  now += 999;
  t.not(fib.upsert({ iid: 0, prefix: '12.0.0.0/8', ttlSeconds: 0 }), e);
  now += 1;
  t.is(fib.upsert({ iid: 0, prefix: '13.0.0.0/8', ttlSeconds: 0 }), e);
});

test('string helpers round-trip', (t) => {
  t.is(formatPrefix(parsePrefix('2001:db8::/32')), '2001:db8::/32');
  t.is(formatPrefix(parsePrefix('::ffff:192.0.2.0/120')), '::ffff:c000:200/120');
  t.is(formatPrefix(parsePrefix('2001:0:0:1::1/128')), '2001:0:0:1::1/128');
  t.is(formatPrefix(parsePrefix('0.0.0.0/0')), '0.0.0.0/0');
  t.is(formatPrefix(parsePrefix('203.0.113.128/25')), '203.0.113.128/25');
});

// ---- Concurrency: a reader in a worker thread while this thread writes ------------------

const READER_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { FibReader } = require(workerData.fibModule);
const fib = new FibReader(workerData.buffers);
const control = new Int32Array(workerData.control);
const stamps = new Float64Array(workerData.stamps);
let reads = 0, torn = 0, wrongRoute = 0, misses = 0;
const latencies = [];
let seenGeneration = 0;
const addressIn16 = (0x0a010000 | 0) >>> 0;
while (Atomics.load(control, 0) === 0) {
  // 1. RLOC sets: every RLOC of a set carries the set's stamp; count and weights follow from it.
  const entry = fib.lookup4(5, 0x0a010203);
  if (entry < 0) { misses++; continue; }
  const route = fib.route(entry);
  const count = fib.routeRlocCount(route);
  const stamp = fib.rlocAddressWord(route, 0, 0);
  if (count !== 1 + (stamp % 4)) torn++;
  for (let i = 0; i < count; i++) {
    if (fib.rlocAddressWord(route, i, 0) !== stamp || fib.rlocWeight(route, i) !== (stamp & 255)) torn++;
  }
  // 2. The toggled /24 inside the /16: either one, never a miss or another entry.
  const inner = fib.lookup4(5, 0x0a010203 ^ 0x100);
  const tag = inner < 0 ? -1 : fib.entryPrefixLength(inner);
  if (tag !== 16 && tag !== 24) wrongRoute++;
  // 3. Churned IPv6 prefixes: any hit must be a prefix that covers the address.
  const e6 = fib.lookup6(5, 0x20010db8, reads & 0xffff, 0, 1);
  if (e6 >= 0 && fib.entryPrefixLength(e6) !== 32 && fib.entryAddressWord(e6, 1) !== ((reads & 0xffff) & 0xffffff00) >>> 0 && fib.entryPrefixLength(e6) === 56) wrongRoute++;
  // 4. Visibility: when the writer publishes generation g at 10.200.g.0/24, time how long until we see it.
  const generation = Atomics.load(control, 1);
  if (generation !== seenGeneration) {
    const probe = (0x0ac80000 | (generation << 8)) >>> 0;
    if (fib.lookup4(5, probe) >= 0 && fib.entryPrefixLength(fib.lookup4(5, probe)) === 24) {
      latencies.push(Number(process.hrtime.bigint()) / 1e6 - stamps[0]);
      seenGeneration = generation;
    }
  }
  reads++;
}
parentPort.postMessage({ reads, torn, wrongRoute, misses, latencies });
`;

interface ReaderReport { reads: number; torn: number; wrongRoute: number; misses: number; latencies: number[] }

test('a reader in a worker thread never sees a torn entry or a wrong route while the writer updates', async (t) => {
  // Pools sized for ~100k updates/s held 1 s in quarantine (far above a real map-cache's churn).
  const fib = new FibWriter({ maxEntries: 1 << 18, maxInstances: 4, reclaimDelayMs: 1000, nodeWords: 1 << 24, rlocWords: 1 << 23 });
  const stampedSet = (stamp: number): { address: string; priority: number; weight: number }[] =>
    Array.from({ length: 1 + (stamp % 4) }, () => ({
      address: `${stamp >>> 24}.${(stamp >>> 16) & 255}.${(stamp >>> 8) & 255}.${stamp & 255}`, priority: 1, weight: stamp & 255,
    }));
  let stamp = 0x01000000;
  fib.upsert({ iid: 5, prefix: '10.1.2.0/24', ttlSeconds: 0, rlocs: stampedSet(stamp) });
  fib.upsert({ iid: 5, prefix: '10.1.0.0/16', ttlSeconds: 0, rlocs: stampedSet(stamp) });
  const control = new Int32Array(new SharedArrayBuffer(8));
  const stamps = new Float64Array(new SharedArrayBuffer(8));
  const worker = new Worker(READER_WORKER, {
    eval: true,
    workerData: { buffers: fib.buffers, control: control.buffer, stamps: stamps.buffer, fibModule: path.join(__dirname, '../src/mapping/fib.js') },
  });
  const report = new Promise<ReaderReport>((resolve, reject) => {
    worker.once('message', (m: ReaderReport) => resolve(m));
    worker.once('error', reject);
  });
  const started = Date.now();
  const deadline = started + 1500;
  const next = rng(77);
  let generation = 0;
  let updates = 0;
  const upsertMs: number[] = [];
  try {
  while (Date.now() < deadline) {
    for (let i = 0; i < 50; i++) {
      stamp++;
      fib.upsert({ iid: 5, prefix: '10.1.2.0/24', ttlSeconds: 0, rlocs: stampedSet(stamp) });
      fib.setRlocUp(fib.find(5, '10.1.2.0/24'), 0, true);
      // Toggle a /24 inside the /16 (node rebuilds under the reader's feet).
      if (fib.find(5, '10.1.3.0/24') >= 0) fib.remove(5, '10.1.3.0/24');
      else fib.upsert({ iid: 5, prefix: '10.1.3.0/24', ttlSeconds: 0, rlocs: stampedSet(stamp) });
      // Churn IPv6 prefixes at several levels.
      const w1 = next() & 0xff00;
      const p = makePrefix(6, [0x20010db8, w1, 0, 0], 56);
      if (fib.find(5, p) >= 0) fib.remove(5, p);
      else fib.upsert({ iid: 5, prefix: p, ttlSeconds: 0, rlocs: stampedSet(stamp) });
      updates += 4;
    }
    // Publish a new prefix and its time; the reader measures when it first sees it.
    generation = (generation % 250) + 1;
    fib.remove(5, `10.200.${generation}.0/24`);
    stamps[0] = Number(process.hrtime.bigint()) / 1e6;
    fib.upsert({ iid: 5, prefix: `10.200.${generation}.0/24`, ttlSeconds: 0, rlocs: stampedSet(stamp) });
    upsertMs.push(Number(process.hrtime.bigint()) / 1e6 - (stamps[0] as number));
    Atomics.store(control, 1, generation);
    await new Promise((resolve) => setImmediate(resolve));
    // The pools hold about 100k updates/s for the 1 s quarantine: on a fast, quiet machine the
    // writer could outrun them (FibFullError), so it is held to 50k updates/s.
    while (updates > (Date.now() - started) * 50) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  } finally {
    Atomics.store(control, 0, 1);
  }
  const result = await report;
  await worker.terminate();
  const sorted = [...result.latencies].sort((a, b) => a - b);
  upsertMs.sort((a, b) => a - b);
  // Logged, not asserted: on 2 shared cores the scheduler, not the FIB, sets the worst case.
  t.log(`${updates} updates, ${result.reads} reader passes; upsert→seen by the reader: median ${sorted[sorted.length >> 1]?.toFixed(3)} ms, max ${sorted[sorted.length - 1]?.toFixed(3)} ms over ${sorted.length}; the upsert itself: median ${upsertMs[upsertMs.length >> 1]?.toFixed(3)} ms`);
  t.true(result.reads > 1000, 'the reader ran');
  t.is(result.torn, 0, 'no torn RLOC set');
  t.is(result.wrongRoute, 0, 'no wrong longest-prefix result');
  t.is(result.misses, 0, 'the /24 under update never disappeared');
  t.true(sorted.length > 0, 'published prefixes became visible to the reader');
});

test('RLOC ports (an RTR\'s view of a member behind NAT): stored per RLOC, selected with it, 4341 by default; neighbouring blocks stay intact', (t) => {
  const fib = new FibWriter({ maxEntries: 16, maxInstances: 2 });
  const a = fib.upsert({ iid: 0, prefix: '10.5.0.0/24', ttlSeconds: 0, rlocs: [{ address: '198.51.100.10', priority: 1, weight: 100, port: 40500 }] });
  const b = fib.upsert({ iid: 0, prefix: '10.8.0.0/24', ttlSeconds: 0, rlocs: [{ address: '192.0.2.8', priority: 1, weight: 100 }] });
  const c = fib.upsert({
    iid: 0, prefix: '10.6.0.0/24', ttlSeconds: 0, rlocs: [
      { address: '2001:db8::6', priority: 2, weight: 100, port: 40600 }, { address: '192.0.2.6', priority: 1, weight: 100, port: 4341 },
    ],
  });
  t.is(fib.selectRloc(a, 1), 0);
  t.deepEqual([fib.selectedAddress[0], fib.selectedPort, fib.selectedPriority], [parseIpv4('198.51.100.10'), 40500, 1]);
  t.is(fib.selectRloc(b, 1), 0);
  t.deepEqual([fib.selectedAddress[0], fib.selectedPort], [parseIpv4('192.0.2.8'), 4341]);
  t.is(fib.selectRloc(c, 1), 1, 'the IPv6 RLOC with its port word is skipped correctly');
  t.deepEqual([fib.selectedAddress[0], fib.selectedPort], [parseIpv4('192.0.2.6'), 4341]);
  t.deepEqual([fib.rlocPort(fib.route(c), 0), fib.rlocPort(fib.route(c), 1)], [40600, 4341]);
  // an RLOC going down rewrites the block with its port
  fib.setRlocUp(c, 1, false);
  t.is(fib.selectRloc(c, 1), 0);
  t.deepEqual([fib.selectedFamily, fib.selectedPort], [6, 40600]);
  t.is(fib.selectRloc(a, 1), 0);
  t.is(fib.selectedPort, 40500, 'the first block was not overwritten by the later ones');
  t.throws(() => fib.upsert({ iid: 0, prefix: '10.9.0.0/24', ttlSeconds: 0, rlocs: [{ address: '192.0.2.9', priority: 1, weight: 1, port: 0 }] }), { instanceOf: FibInputError });
  t.throws(() => fib.upsert({ iid: 0, prefix: '10.9.0.0/24', ttlSeconds: 0, rlocs: [{ address: '192.0.2.9', priority: 1, weight: 1, port: 65536 }] }), { instanceOf: FibInputError });
});
