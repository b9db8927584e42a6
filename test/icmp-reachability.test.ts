import test from 'ava';
import * as path from 'node:path';
import { netnsAvailable } from '../scripts/lib/netns';
import { createTestbed } from '../scripts/lib/testbed';

const root = netnsAvailable();

test('ICMP echo (raw-socket) reports reachable RLOCs and stays silent for unreachable ones', (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const bed = createTestbed({ prefix: 'icm', nodes: 2, subnet: '10.79.0', firstHost: 11 });
  t.teardown(() => bed.destroy());
  const mod = JSON.stringify(path.resolve(__dirname, '../src/daemon/icmp-reachability.js'));
  // 10.79.0.12 is the other namespace; 10.79.0.99 is on the subnet but nobody has it.
  const script = `const { IcmpReachability } = require(${mod});
    const alive = new Set();
    const r = new IcmpReachability({ intervalMs: 100, onAlive: (a) => alive.add(a) });
    r.setTargets(['10.79.0.12', '10.79.0.99']);
    r.start();
    setTimeout(() => { r.stop(); console.log(JSON.stringify([...alive])); }, 1500);`;
  const out = bed.nodes[0].ns.exec([process.execPath, '-e', script], { timeoutMs: 20_000 });
  t.deepEqual(JSON.parse(out.trim()), ['10.79.0.12']);
});
