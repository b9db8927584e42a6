// RTR failover on the simulated network (src/control/nat.ts): a member behind NAT whose seeds are
// two public RTR members registers both RTRs at priority 254; when one dies (its Info-Replies stop),
// the member re-registers without it, forwards through the other, and the rest of the group follows.
import test from 'ava';
import { SimNet, simConfig } from './helpers/sim-net';
import { parseEid } from '../src/mapping/eid';
import { locatorIp, rleEntries } from '../src/control/locators';

const KEEPALIVE = 15_000;
const A = '198.51.100.7';
const B = '198.51.100.9';

function group(keepaliveMs = KEEPALIVE): { net: SimNet; a: ReturnType<SimNet['addNode']>; b: ReturnType<SimNet['addNode']>; pi: ReturnType<SimNet['addNode']>; vm: ReturnType<SimNet['addNode']> } {
  const net = new SimNet();
  const nat = { keepaliveMs, rtr: true };
  const a = net.addNode({ ...simConfig({ name: 'a', rloc: A, eids: ['10.0.0.7/32'], seeds: [] }), nat });
  const b = net.addNode({ ...simConfig({ name: 'b', rloc: B, eids: ['10.0.0.9/32'], seeds: [A] }), nat });
  const pi = net.addNode({ ...simConfig({ name: 'pi', rloc: '192.168.77.5', eids: ['10.0.0.5/32'], seeds: [A, B] }), nat: { keepaliveMs, rtr: false } });
  const vm = net.addNode(simConfig({ name: 'vm', rloc: '198.51.100.8', eids: ['10.0.0.8/32'], seeds: [A] }));
  net.behindNat(pi, '198.51.100.10', 40582);
  for (const n of [a, b, pi, vm]) n.start();
  return { net, a, b, pi, vm };
}

/** The RTRs (priority 254) a node's site cache holds for pi's EID. */
function registeredRtrs(n: ReturnType<SimNet['addNode']>): string[] {
  const entry = n.siteCache.lookup(parseEid('10.0.0.5/32'));
  return (entry?.locators ?? []).filter((l) => l.priority === 254).map((l) => locatorIp(l.address) ?? '').sort();
}

test('a member behind NAT whose seeds are two RTRs registers both at priority 254, and forwards through both', (t) => {
  const { net, pi, vm } = group();
  t.true(net.until(() => registeredRtrs(vm).length === 2, 5000) >= 0, `vm holds RTRs ${registeredRtrs(vm).join()}`);
  net.advance(3 * KEEPALIVE);
  // Stable: replies from either seed do not flip the RTR set (each seed offers only itself).
  t.deepEqual(registeredRtrs(vm), [A, B]);
  t.deepEqual([...pi.natStatus().rtrs].sort(), [A, B]);
  t.deepEqual(pi.resolve(parseEid('10.0.0.8/32'))?.rlocs.filter((r) => r.priority < 255).map((r) => r.address).sort(), [A, B]);
  t.deepEqual(vm.resolve(parseEid('10.0.0.5/32'))?.rlocs.filter((r) => r.priority < 255).map((r) => r.address).sort(), [A, B]);
});

test('the RTR dies: within one keepalive and a few seconds the member re-registers without it and the group forwards through the other', (t) => {
  const { net, a, b, pi, vm } = group();
  t.true(net.until(() => registeredRtrs(vm).length === 2 && registeredRtrs(b).length === 2, 5000) >= 0);
  net.advance(KEEPALIVE / 2);
  net.kill(a);
  const took = net.until(() => registeredRtrs(vm).join() === B && registeredRtrs(b).join() === B, 3 * KEEPALIVE);
  t.true(took >= 0, `vm still holds ${registeredRtrs(vm).join()}`);
  t.log(`re-registered ${took} ms (simulated) after the RTR died, keepalive ${KEEPALIVE} ms`);
  // RTRs are asked every 5 s whatever the keepalive; three answers due 500 ms apart
  t.true(took <= 5_000 + 3 * 500 + 100, `re-registered ${took} ms after the RTR died`);
  t.deepEqual(pi.natStatus().rtrsDown, [A]);
  t.deepEqual(pi.resolve(parseEid('10.0.0.8/32'))?.rlocs.filter((r) => r.priority < 255).map((r) => r.address), [B]);
  t.deepEqual(vm.resolve(parseEid('10.0.0.5/32'))?.rlocs.filter((r) => r.priority < 255).map((r) => r.address), [B]);
  // B relays for pi: it forwards to pi's translated data port.
  t.like(b.resolve(parseEid('10.0.0.5/32'))?.rlocs, [{ address: '198.51.100.10', port: 40583 }]);
  t.true((pi.counters.get('nat.rtr.down') ?? 0) >= 1);
});

test('a dead RTR that answers again is registered again; one lost reply does not take an RTR down', (t) => {
  const { net, pi, vm } = group();
  t.true(net.until(() => registeredRtrs(vm).length === 2, 5000) >= 0);
  // One datagram lost: pi asks again at once and A stays.
  let drops = 1;
  net.dropIf = (from, to) => from === A && to === '198.51.100.10' && drops-- > 0;
  net.advance(2 * KEEPALIVE);
  t.true(drops <= 0, 'the drop was used');
  t.deepEqual(registeredRtrs(vm), [A, B]);
  t.is(pi.counters.get('nat.rtr.down') ?? 0, 0);
  // A silent for a while (a partition), then back.
  net.dropIf = (from, to) => from === A && to === '198.51.100.10';
  t.true(net.until(() => registeredRtrs(vm).join() === B, 2 * KEEPALIVE) >= 0, 'A taken down');
  net.dropIf = undefined;
  t.true(net.until(() => registeredRtrs(vm).length === 2, 2 * KEEPALIVE) >= 0, 'A back');
  t.deepEqual(pi.natStatus().rtrsDown, []);
});

test('with a keepalive shorter than the misses take, a dead RTR is still taken down within one keepalive and three answer timeouts', (t) => {
  // the periodic request must not restart the count of an RTR already being asked again
  const net = new SimNet();
  const nat = { keepaliveMs: 1000, rtr: true };
  const a = net.addNode({ ...simConfig({ name: 'a', rloc: A, eids: ['10.0.0.7/32'], seeds: [] }), nat });
  const b = net.addNode({ ...simConfig({ name: 'b', rloc: B, eids: ['10.0.0.9/32'], seeds: [A] }), nat });
  const pi = net.addNode({ ...simConfig({ name: 'pi', rloc: '192.168.77.5', eids: ['10.0.0.5/32'], seeds: [A, B] }), nat: { keepaliveMs: 1000, rtr: false } });
  net.behindNat(pi, '198.51.100.10', 40582);
  for (const n of [a, b, pi]) n.start();
  t.true(net.until(() => pi.natStatus().rtrs.length === 2, 5000) >= 0);
  net.advance(300);
  net.kill(a);
  const took = net.until(() => pi.natStatus().rtrsDown?.includes(A) === true, 10_000);
  t.log(`marked down ${took} ms (simulated) after the kill, keepalive 1 s`);
  t.true(took >= 0 && took <= 1000 + 3 * 500 + 50, `marked down after ${took} ms`);
});

test('a registration an RTR relays to a member behind NAT does not remove the RTR from that member\'s group entry', (t) => {
  // The relayed copy comes from the RTR's address; "the same RLOC under a new xTR-ID is a restarted
  // member" must look at the RLOCs the new registration names, not at who forwarded it.
  const { net, pi, vm } = group(2000);
  const members = (n: ReturnType<SimNet['addNode']>): string[] =>
    (n.siteCache.get(n.groupKey)?.locators ?? []).flatMap((l) => rleEntries(l.address) ?? []).map((e) => (e.address.kind === 'ipv4' ? e.address.ip : '')).sort();
  t.true(net.until(() => members(pi).includes(A) && members(pi).includes(B), 5000) >= 0, members(pi).join());
  net.advance(8000);
  // pi's NAT lets in only what answers pi: here, its RTRs (the simulated NAT lets everything in)
  net.dropIf = (from, to) => to === '198.51.100.10' && from !== A && from !== B;
  const late = net.addNode({ ...simConfig({ name: 'late', rloc: '198.51.100.12', eids: ['10.0.0.12/32'], seeds: [A] }), nat: { keepaliveMs: 2000, rtr: false } });
  late.start();
  t.true(net.until(() => members(pi).includes('198.51.100.12'), 5000) >= 0, 'pi learns the late member through its RTRs');
  net.advance(2000);
  t.deepEqual(members(pi), members(vm));
  t.true(members(pi).includes(A) && members(pi).includes(B), members(pi).join());
});

test('an RTR forgotten during a long partition, offered again, is checked again: it is taken down when it dies once more', (t) => {
  const { net, pi, vm } = group(2000);
  t.true(net.until(() => registeredRtrs(vm).length === 2, 5000) >= 0);
  // A unreachable from pi for longer than its offer lives (3 keepalives): down, then forgotten.
  net.dropIf = (from, to) => (from === A && to === '198.51.100.10') || (from === '198.51.100.10' && to === A);
  t.true(net.until(() => !pi.natStatus().rtrs.includes(A), 20_000) >= 0, 'A forgotten');
  net.dropIf = undefined;
  t.true(net.until(() => pi.natStatus().rtrs.includes(A) && (pi.natStatus().rtrsDown ?? []).length === 0, 10_000) >= 0, 'A offered again and live');
  net.advance(4000);
  net.dropIf = (from, to) => from === A && to === '198.51.100.10';
  const took = net.until(() => (pi.natStatus().rtrsDown ?? []).includes(A) || !pi.natStatus().rtrs.includes(A), 20_000);
  t.true(took >= 0 && (pi.natStatus().rtrsDown ?? []).includes(A), `A taken down again after ${took} ms: ${JSON.stringify(pi.natStatus())}`);
});
