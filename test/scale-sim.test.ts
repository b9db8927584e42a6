// What one membership change costs a push group, in messages and bytes on a SimNet (counts,
// never times). Issue 17's target: a join costs O(N) messages in total, and no message is larger
// than the path MTU (a member list that does not fit is sent in pages).
import test from 'ava';
import { groupComplete, measureJoin, measureLeave, startGroup } from './helpers/sim-group';

const PATH_MTU = 1500;
/**
 * Messages one join may cost per member of the group: the newcomer's registrations replicated to
 * every member (EID and group records, 2 each), every member's registrations back to the newcomer
 * (2 each), the seed's Map-Notify naming the newcomer to every member and its ack (1 each), and
 * room for the paged list and NAT keepalives. Before incremental membership every member notified
 * every member of the new list and each acked it: about 2N² messages.
 */
const JOIN_MESSAGES_PER_MEMBER = 8;
/** A leave: the leaver's withdrawals (EID and group records) replicated to every member, and room. */
const LEAVE_MESSAGES_PER_MEMBER = 4;

test('the join counter sees a join into a group of 10 reach every member, and counts each message once', (t) => {
  const g = startGroup(10);
  t.true(g.convergedMs >= 0, 'the group converged');
  g.net.advance(5_000);
  const join = measureJoin(g, { settleMs: 5_000 });
  t.true(join.propagatedMs >= 0 && !join.overBudget);
  t.true(groupComplete(g.nodes, 11));
  const s = join.traffic;
  // The newcomer's registrations reach each of the 10 members by head-end replication.
  t.true((s.byType['her:map-register']?.count ?? 0) >= 2 * 10, JSON.stringify(s.byType));
  t.is(Object.values(s.byType).reduce((n, v) => n + v.count, 0), s.messages);
  t.is(s.perNode.reduce((n, v) => n + v.sent, 0), s.messages);
  t.is(s.perNode.reduce((n, v) => n + v.bytesReceived, 0), s.bytes);
  t.is(s.largestPacket, Math.max(...Object.values(s.byType).map((v) => v.largest)) + 28);
  const leave = measureLeave(g, { settleMs: 2_000 });
  t.true(leave.propagatedMs >= 0, 'the goodbye reached every member');
  t.true(leave.traffic.messages > 0);
});

// Before incremental membership (issue 17) 200 members sent each other about 80,000 Map-Notifies
// and acks of up to 2,110 bytes for one join; now about 1,450 messages of at most 1,128 bytes.
// Building the group took 45 CPU-s when every group registration re-merged the whole member list;
// with incremental merges it takes about 10.
test('a join into a group of 200 costs O(N) messages in total, none larger than the path MTU', (t) => {
  // The budget stops a machine under load (or a regression to O(N³) merging) from taking far longer.
  t.timeout(5 * 60_000);
  const N = 200;
  const g = startGroup(N, { cpuBudgetMs: 60_000 });
  t.true(g.convergedMs >= 0, `the group of 200 converged (within 60 CPU-s; took ${Math.round(g.cpuMs / 1000)} s)`);
  g.net.advance(5_000);
  const budget = JOIN_MESSAGES_PER_MEMBER * N;
  // Stop counting at twice the budget: an O(N²) join would take minutes to run out.
  const join = measureJoin(g, { settleMs: 10_000, messageBudget: 2 * budget });
  const s = join.traffic;
  t.log(`building the group: ${Math.round(g.cpuMs)} CPU-ms; join: ${s.messages} messages, ${s.bytes} bytes, largest ${s.largestPacket} B (${s.largestType})` +
    `${join.overBudget ? ', stopped at twice the budget' : ''}`);
  t.false(join.overBudget, `more than ${2 * budget} messages`);
  t.true(join.propagatedMs >= 0, 'the join reached every member');
  t.true(s.messages <= budget, `${s.messages} messages for one join, want at most ${budget} (${JOIN_MESSAGES_PER_MEMBER} per member)`);
  t.true(s.largestPacket <= PATH_MTU, `largest message ${s.largestPacket} bytes (${s.largestType}), want at most ${PATH_MTU}`);
  // The leave: the leaver's withdrawals replicated to every member, nothing from the others.
  const leave = measureLeave(g, { settleMs: 10_000, messageBudget: 2 * budget });
  t.true(leave.propagatedMs >= 0, 'the goodbye reached every member');
  t.true(leave.traffic.messages <= LEAVE_MESSAGES_PER_MEMBER * N, `${leave.traffic.messages} messages for one leave`);
  t.true(leave.traffic.largestPacket <= PATH_MTU);
});
