import test from 'ava';
import { apiRequest } from '../src/api/client';
import { netnsAvailable } from '../scripts/lib/netns';
import { startNodes } from './helpers/nodes';

const root = netnsAvailable();

test.serial('underlay multicast replication: three nodes with no seeds converge through the group address', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  // startNodes waits until every site cache has all 3 EIDs and the group entry.
  const nodes = await startNodes(t, { prefix: 'mcu', count: 3, subnet: '10.85.0', replication: 'multicast' });
  const stats = await apiRequest<{ control: Record<string, number> }>(nodes.sock(1), 'GET', '/api/counters');
  t.is(stats.control['her.sent'], 0, 'nothing was head-end replicated');
  t.true(stats.control['register.received'] > stats.control['register.sent'], 'registrations arrived from the group');
});
