// `decent demo --nat` (src/testbed/demo-nat.ts): alpha (public, RTR), beta (public) and pi behind an
// nftables NAT. Besides the demo itself this is the test of relaying between two other members:
// beta <-> pi crosses alpha, which decapsulates, looks up and re-encapsulates (rtrRelayed). pj
// joins behind a second NAT: via the RTR first, then direct with pi (alpha relays none of their pings).
import test from 'ava';
import { runNatDemo } from '../src/testbed/demo-nat';
import { netnsAvailable } from '../src/testbed/netns';

const root = netnsAvailable();

test.serial('decent demo --nat: a member behind NAT joins via the RTR; every pair pings, beta and pi through alpha; a second member behind NAT goes direct with pi', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const r = await runNatDemo((line) => t.log(line));
  t.deepEqual(r.problems, []);
  t.true(r.ok);
  t.is(Object.keys(r.pings).length, 9);
  t.true(r.registered_rlocs.includes('198.51.100.7'), r.registered_rlocs.join());
  t.false(r.registered_rlocs.some((x) => x.startsWith('192.168.77.')), r.registered_rlocs.join());
  t.is(r.paths.beta.pi, 'via RTR 198.51.100.7 (it is behind NAT)');
  t.is(r.paths.pi['198.51.100.7'], 'via RTR 198.51.100.7 (we are behind NAT)');
  t.is(r.paths.alpha.pi, `direct to its NAT 198.51.100.10:${r.relay_port} (we are its RTR)`);
  t.true(r.relayed > 0);
  // pj joining: via the RTR while the probes go out, then direct, and alpha relays none of it
  t.regex(r.paths_at_join['pi->pj'], /^via RTR 198\.51\.100\.7 /, JSON.stringify(r.paths_at_join));
  t.regex(r.paths.pi.pj, /^direct to 198\.51\.100\.11:\d+ \(both behind NAT; probe answered \d+\.\d s ago\)$/);
  t.regex(r.paths.pj.pi, /^direct to 198\.51\.100\.10:\d+ /);
  t.is(r.paths.beta.pj, 'via RTR 198.51.100.7 (it is behind NAT)');
  t.not(r.direct_ms, null);
  t.is(r.relayed_direct, 0);
  t.log(`pi and pj direct ${r.direct_ms} ms after pj was up; at join: ${JSON.stringify(r.paths_at_join)}`);
  t.log(`detected ${r.detected_ms} ms, registered via the RTR ${r.registered_ms} ms after start; relayed ${r.relayed} packets`);
});
