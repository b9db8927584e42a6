// A short live fuzz run (scripts/fuzz-live.ts, issue 12 "general defences"): 10 s of mutated and
// random datagrams to UDP 4341 and 4342 and malformed HTTP against a running node while it pings
// through the overlay. The node stays up, its API answers and its control worker never restarts.
import test from 'ava';
import { netnsAvailable } from '../src/testbed/netns';
import { fuzzLive } from '../scripts/fuzz-live';

const root = netnsAvailable();

test.serial('live fuzz, 10 s: node up, API answers, 0 worker restarts, overlay pings flow', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const r = await fuzzLive({ seconds: 10, rate: 2000, httpRate: 20, seed: 12345, log: (s) => t.log(s) });
  t.log(JSON.stringify(r));
  t.true(r.nodeUp);
  t.true(r.apiAnswered > 0);
  t.is(r.apiFailed, 0);
  t.is(r.workerRestarts, 0);
  t.is(r.handlerExceptions, 0, 'no exception out of a control-plane handler');
  t.true(r.sent[4341] > 5000 && r.sent[4342] > 5000, 'the datagrams were sent');
  t.true(r.sent.httpAnswered > 0, 'malformed HTTP was answered (400/401), not fatal');
  t.true(r.pingSent - r.pingLost > r.pingSent / 2, 'overlay pings keep flowing');
});
