// Pull mode's Map-Resolver failover (RFC 9962 §5: a Map-Server set is every address of its DNS
// name): when one Map-Server of a set dies, each lookup reaches another one within one retry,
// and later lookups stop asking the dead one.
import test from 'ava';
import type { ControlNode } from '../src/control/node';
import { parseEid } from '../src/mapping/eid';
import { messageType } from './helpers/message-tally';
import { SimNet, simConfig } from './helpers/sim-net';

const PULL = { modulus: 1, dnsSuffix: 'ms.test', hash: 'rfc' as const, lookupLengths: [], dnsRefreshMs: 30_000 };
/** The ITR's wait for a Map-Reply before it asks another Map-Resolver of the set. */
const RESOLUTION_TIMEOUT_MS = 2000;

function pullNode(net: SimNet, i: number, eids: string[]): ReturnType<SimNet['addNode']> {
  return net.addNode({ ...simConfig({ name: `p${i}`, rloc: `10.7.0.${i}`, eids, seeds: [] }), mode: 'pull', pull: PULL });
}

/**
 * One Map-Server set of two (p1, p2) holding p2's `targets` and p1's 10.1/16, and an ITR p3 outside
 * it; resolves once every EID is registered to both Map-Servers (or -1 after 5 s).
 */
async function setOfTwo(targets: string[]): Promise<{ net: SimNet; a: ControlNode; b: ControlNode; itr: ControlNode; registered: number }> {
  const net = new SimNet();
  net.dns.set('0.ms.test', ['10.7.0.1', '10.7.0.2']);
  const a = pullNode(net, 1, ['10.1.0.0/16']);
  const b = pullNode(net, 2, targets);
  const itr = pullNode(net, 3, ['10.3.0.0/16']);
  for (const n of [a, b, itr]) n.start();
  const all = targets.length + 2;
  const registered = await net.untilAsync(() => a.siteCache.size === all && b.siteCache.size === all, 5_000);
  return { net, a, b, itr, registered };
}

test('pull mode: a dead Map-Server of the set costs each lookup at most one retry, and is then avoided', async (t) => {
  // Seeds of the run: several fresh ITRs, so both starting points of the round-robin are covered.
  for (let run = 0; run < 4; run++) {
    const targets = ['10.2.0.0/16', '10.4.0.0/16', '10.5.0.0/16', '10.6.0.0/16', '10.8.0.0/16', '10.9.0.0/16'];
    const { net, a, itr, registered } = await setOfTwo(targets);
    t.true(registered >= 0, 'every EID registered to both Map-Servers of the set');

    net.kill(a);
    const wireBefore = net.wire.length;
    const start = net.now;
    const done: number[] = [];
    for (const [k, eid] of targets.entries()) {
      itr.resolve(parseEid(eid.replace('.0.0/16', '.0.1/32')));
      const took = await net.untilAsync(() => itr.mapCache.get(`[0]${eid}`)?.negative === false, 3 * RESOLUTION_TIMEOUT_MS);
      done.push(took);
      t.true(took >= 0 && took <= RESOLUTION_TIMEOUT_MS + 100, `run ${run} lookup ${k + 1} (${eid}): ${took} ms`);
    }
    const toDead = net.wire.slice(wireBefore).filter((w) => w.to === '10.7.0.1' && messageType(w.port, w.bytes) === 'ecm').length;
    t.true(toDead <= 1, `run ${run}: ${toDead} Map-Requests went to the dead Map-Server`);
    t.log(`run ${run}: ${done.join(', ')} ms; ${toDead} to the dead one; ${net.now - start} ms in all`);
  }
});

test('pull mode: when the dead Map-Server\'s down period ends, concurrent lookups send it one trial request, not one each', async (t) => {
  for (let run = 0; run < 4; run++) {
    const targets = ['10.2.0.0/16', '10.4.0.0/16', '10.5.0.0/16', '10.6.0.0/16', '10.8.0.0/16', '10.9.0.0/16'];
    const { net, a, itr, registered } = await setOfTwo(targets);
    t.true(registered >= 0);
    net.kill(a);
    // Two lookups at once, so one of them surely asks the dead one first and it is marked down.
    for (const eid of targets.slice(0, 2)) itr.resolve(parseEid(eid.replace('.0.0/16', '.0.1/32')));
    t.true(await net.untilAsync(() => targets.slice(0, 2).every((e) => itr.mapCache.get(`[0]${e}`)?.negative === false), 3 * RESOLUTION_TIMEOUT_MS) >= 0);
    // The down period (30 s) ends; then four lookups start together.
    net.advance(31_000);
    itr.mapCache.clear();
    const wireBefore = net.wire.length;
    const rest = targets.slice(2);
    for (const eid of rest) itr.resolve(parseEid(eid.replace('.0.0/16', '.0.1/32')));
    const took = await net.untilAsync(() => rest.every((e) => itr.mapCache.get(`[0]${e}`)?.negative === false), 3 * RESOLUTION_TIMEOUT_MS);
    t.true(took >= 0 && took <= RESOLUTION_TIMEOUT_MS + 100, `run ${run}: all four resolved in ${took} ms`);
    const toDead = net.wire.slice(wireBefore).filter((w) => w.to === '10.7.0.1' && messageType(w.port, w.bytes) === 'ecm').length;
    t.true(toDead <= 1, `run ${run}: ${toDead} Map-Requests went to the dead Map-Server after its down period`);
  }
});

test('pull mode: decent lig without --to asks the EID\'s Map-Server set from DNS, the next address when one does not answer', async (t) => {
  const { net, a, b, itr, registered } = await setOfTwo(['10.2.0.0/16']);
  t.true(registered >= 0);
  const lig = async (): Promise<Awaited<ReturnType<typeof itr.lig>>> => {
    const p = itr.lig(parseEid('10.2.0.1/32'), undefined, RESOLUTION_TIMEOUT_MS);
    await net.untilAsync(() => false, 2 * RESOLUTION_TIMEOUT_MS + 100);
    return p;
  };
  const before = await lig();
  t.deepEqual(before.reply.records.map((r) => r.locators.length > 0), [true], 'a positive answer');
  t.deepEqual(before.unanswered, []);
  t.true(['10.7.0.1', '10.7.0.2'].includes(before.resolver), `asked ${before.resolver}, a member of the set`);
  // Our own set: the node answers from its own site cache.
  const own = a.lig(parseEid('10.2.0.1/32'), undefined, RESOLUTION_TIMEOUT_MS);
  await net.untilAsync(() => false, 100);
  t.is((await own).resolver, '10.7.0.1');
  net.kill(a);
  const after = await lig();
  t.is(after.from, '10.7.0.2');
  t.deepEqual(after.unanswered, ['10.7.0.1'], 'the dead one was asked first (sorted order) and gave no answer');
  net.kill(b);
  const none = itr.lig(parseEid('10.2.0.1/32'), undefined, RESOLUTION_TIMEOUT_MS);
  await net.untilAsync(() => false, 2 * RESOLUTION_TIMEOUT_MS + 100);
  const e = await t.throwsAsync(none);
  t.regex(e?.message ?? '', /no Map-Reply from any Map-Resolver of the EID's set \(10\.7\.0\.1, 10\.7\.0\.2\)/);
});

test('pull mode: lookups never wait for a DNS refresh once the set was resolved, and concurrent lookups share one query', async (t) => {
  const targets = ['10.2.0.0/16', '10.4.0.0/16', '10.5.0.0/16', '10.6.0.0/16'];
  const { net, itr, registered } = await setOfTwo(targets);
  t.true(registered >= 0);
  // DNS now answers in 5 s (a lost datagram's retry); the cached answer has expired (30 s).
  net.dnsDelayMs = 5_000;
  net.advance(31_000);
  itr.mapCache.clear();
  const queriesBefore = net.dnsQueries.get('0.ms.test') ?? 0;
  for (const eid of targets) itr.resolve(parseEid(eid.replace('.0.0/16', '.0.1/32')));
  const took = await net.untilAsync(() => targets.every((e) => itr.mapCache.get(`[0]${e}`)?.negative === false), 10_000);
  t.true(took >= 0 && took < 1_000, `resolved with the expired set in ${took} ms (DNS takes 5,000)`);
  t.is((net.dnsQueries.get('0.ms.test') ?? 0) - queriesBefore, 1, 'one refresh query for four lookups');
});
