// RTR failover on real processes (src/control/nat.ts): two public members offer `nat.rtr`, pi
// behind an nftables NAT seeds from both and registers both RTRs at priority 254, a public peer
// pings pi and pi pings it. The RTR that carries the pings is SIGKILLed: pings resume both ways,
// pi takes the dead RTR out of its registration and the peer's site cache no longer names it.
// The outage (kill to the first reply each way) is logged, never a threshold.
import test from 'ava';
import type { SiteCacheRow } from '../src/control/protocol';
import { netnsAvailable } from '../src/testbed/netns';
import { PI_EID, startNatGroup, type NatStatusView } from '../src/testbed/nat-group';

const avail = netnsAvailable();

test.serial('the RTR dies: pi moves to the other RTR, pings resume both ways and the group no longer names the dead RTR', async (t) => {
  if (!avail.ok) { t.log(`skipped: ${avail.reason}`); t.pass(); return; }
  const g = startNatGroup({ prefix: 'nfo', publics: [{ name: 'r1', rtr: true }, { name: 'r2', rtr: true }, { name: 'pub' }], piSeeds: ['r1', 'r2'] });
  t.teardown(() => g.stop());
  const fail = (what: string): void => { t.fail(`${what}\n${Object.entries(g.logs).map(([n, l]) => `${n}: ${l.slice(-2000)}`).join('\n')}`); };
  const r1 = g.nodes.get('r1')?.address ?? '', r2 = g.nodes.get('r2')?.address ?? '';
  const piRow = async (): Promise<SiteCacheRow | undefined> => (await g.get<SiteCacheRow[]>('pub', '/api/site-cache')).find((x) => x.eid === `[0]${PI_EID}/32`);

  if (await g.until(30_000, async () => (await g.get<NatStatusView>('pi', '/api/status')).nat.rtrs.length === 2) === null) return fail('pi was not offered two RTRs');
  t.deepEqual((await g.get<NatStatusView>('pi', '/api/status')).nat.rtrs, [r1, r2].sort());
  if (await g.until(30_000, async () => {
    const row = await piRow();
    return row !== undefined && row.rlocs.some((r) => r.startsWith(r1)) && row.rlocs.some((r) => r.startsWith(r2));
  }) === null) return fail(`pub does not hold pi with both RTRs: ${JSON.stringify(await piRow().catch(() => undefined))}`);
  if (await g.until(20_000, () => g.ping('pi', 'pub') && g.ping('pub', 'pi')) === null) return fail('no pings between pi and pub');

  // Which RTR carries the pings (each flow hashes to one of the two): kill that one.
  const relayed = async (name: string): Promise<number> => (await g.get<{ dataplane: Record<string, number> }>(name, '/api/counters')).dataplane.rtrRelayed ?? 0;
  const before = { r1: await relayed('r1'), r2: await relayed('r2') };
  const out = g.pingStream('pub', 'pi'), back = g.pingStream('pi', 'pub');
  await new Promise((r) => setTimeout(r, 1500));
  const grew = { r1: (await relayed('r1')) - before.r1, r2: (await relayed('r2')) - before.r2 };
  const dead = grew.r1 >= grew.r2 ? 'r1' : 'r2';
  const deadAddress = dead === 'r1' ? r1 : r2;
  t.true(grew.r1 + grew.r2 > 0, `the RTRs relayed the pings: ${JSON.stringify(grew)}`);
  g.kill(dead);
  const killedAt = Date.now();

  const resumed = await g.until(40_000, () => out.firstAfter(killedAt + 200) !== undefined && back.firstAfter(killedAt + 200) !== undefined);
  out.stop();
  back.stop();
  if (resumed === null) return fail(`pings did not resume after ${dead} was killed`);
  const outMs = (out.firstAfter(killedAt + 200) ?? 0) - killedAt, backMs = (back.firstAfter(killedAt + 200) ?? 0) - killedAt;
  t.log(`killed ${dead} (relayed ${JSON.stringify(grew)} in 1.5 s); pings resumed pub -> pi after ${outMs} ms, pi -> pub after ${backMs} ms (keepalive 2 s)`);

  // pi took the dead RTR out (marked down, or forgotten once the dead seed's offer aged out), and
  // pub's site cache no longer names it.
  const live = async (): Promise<string[]> => {
    const s = (await g.get<NatStatusView>('pi', '/api/status')).nat;
    return s.rtrs.filter((r) => !(s.rtrsDown ?? []).includes(r));
  };
  if (await g.until(20_000, async () => (await live()).join() === (dead === 'r1' ? r2 : r1)) === null) {
    return fail(`pi does not mark ${deadAddress} down: ${JSON.stringify((await g.get<NatStatusView>('pi', '/api/status')).nat)}`);
  }
  if (await g.until(20_000, async () => !((await piRow())?.rlocs.some((r) => r.startsWith(deadAddress)) ?? true)) === null) {
    return fail(`pub still holds ${deadAddress} for pi: ${JSON.stringify(await piRow())}`);
  }
  t.true(g.ping('pub', 'pi', 2) && g.ping('pi', 'pub', 2), 'pings both ways through the RTR left');
});
