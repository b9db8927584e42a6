import test from 'ava';
import { apiRequest } from '../src/api/client';
import type { SiteCacheRow } from '../src/control/protocol';
import { netnsAvailable } from '../scripts/lib/netns';
import { startNodes } from './helpers/nodes';

const root = netnsAvailable();

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test.serial('ten real nodes converge; a SIGKILLed one vanishes after its TTL; a restarted one re-joins', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const N = 10;
  const timers = ['timers:', '  register-interval: 2s', '  registration-ttl: 6s', '  probe-interval: 0'];
  const nodes = await startNodes(t, { prefix: 'g10', count: N, subnet: '10.84.0', extra: () => timers, convergeTimeoutMs: 60_000 });
  const sites = (i: number): Promise<SiteCacheRow[]> => apiRequest<SiteCacheRow[]>(nodes.sock(i), 'GET', '/api/site-cache', 2000).catch(() => []);
  const others = Array.from({ length: N }, (_, k) => k + 1).filter((i) => i !== 5);

  // SIGKILL: no withdrawal; the others must drop node 5 when its registrations expire.
  nodes.child(5).kill('SIGKILL');
  const gone = await waitFor('node 5 to expire everywhere', async () => {
    const all = await Promise.all(others.map(sites));
    return all.every((rows) => !rows.some((r) => r.eid === '[0]10.5.0.0/16') &&
      rows.find((r) => r.eid.startsWith('[0](0.0.0.0/0'))?.rlocs.length === N - 1);
  }, 20_000);
  t.log(`node 5 gone from all ${N - 1} site caches ${gone} ms after SIGKILL (TTL 6 s)`);

  nodes.restart(5);
  const back = await waitFor('node 5 to re-join', async () => {
    const all = await Promise.all([...others, 5].map(sites));
    return all.every((rows) => rows.length === N + 1);
  }, 20_000);
  t.log(`re-joined everywhere ${back} ms after restart`);
  t.pass();
});
