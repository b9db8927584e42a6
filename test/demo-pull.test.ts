import test from 'ava';
import { dnsmasqAvailable } from '../src/testbed/dns';
import { runPullDemo } from '../src/testbed/demo-pull';
import { netnsAvailable } from '../src/testbed/netns';

const root = netnsAvailable();

test.serial('decent demo --pull: sets in dnsmasq, registration to both servers of each set, pings before and after a Map-Server dies', async (t) => {
  if (!root.ok || !dnsmasqAvailable()) {
    t.log(`skipped: ${root.ok ? 'dnsmasq is not installed' : root.reason}`);
    t.pass();
    return;
  }
  const r = await runPullDemo(() => undefined);
  t.deepEqual(r.problems, []);
  t.true(r.ok);
  t.is(Object.keys(r.sets).length, 2);
  // Each site cache holds exactly the EIDs of its own set: both servers of a set agree.
  t.deepEqual(r.site_cache.n1, r.site_cache.n2);
  t.deepEqual(r.site_cache.n3, r.site_cache.n4);
  t.is(r.site_cache.n1.length + r.site_cache.n3.length, 4);
  t.is(Object.keys(r.pings).length, 12);
  t.is(Object.keys(r.failover_pings).length, 6);
});
