// Steady-state pacing of a push group (issue 17), counted on a SimNet (counts, never times):
// periodic registration rounds are jittered, so members started together drift apart, and each
// round's head-end replicated copies leave through a token bucket instead of one burst.
import test from 'ava';
import { messageType } from './helpers/message-tally';
import { groupComplete, memberConfig } from './helpers/sim-group';
import { SimNet } from './helpers/sim-net';
import { PACE_BURST, PACE_MIN_PER_S } from '../src/control/decent/pacer';

const INTERVAL_MS = 10_000;

function group(n: number): { net: SimNet; nodes: ReturnType<SimNet['addNode']>[] } {
  const net = new SimNet({ keepWire: true });
  const nodes = Array.from({ length: n }, (_, i) => net.addNode(memberConfig(i + 1, { registerIntervalMs: INTERVAL_MS, ttlMs: 3 * INTERVAL_MS })));
  nodes.forEach((m) => m.start());
  return { net, nodes };
}

/** Replicated Map-Registers each member sent in [from, to), with their times. */
function registersSent(net: SimNet, from: number, to: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const w of net.wire) {
    if (w.at < from || w.at >= to || w.port !== 4341 || messageType(w.port, w.bytes) !== 'her:map-register') continue;
    const times = out.get(w.from) ?? [];
    times.push(w.at);
    out.set(w.from, times);
  }
  return out;
}

test('periodic rounds are jittered: 20 members started together do not refresh in the same instant', (t) => {
  const { net, nodes } = group(20);
  t.true(net.until(() => groupComplete(nodes), 5_000) >= 0, 'converged');
  net.advance(12_000 - net.now);
  // Each member's first periodic round, to the 100 ms window it started in.
  const sent = registersSent(net, 5_000, 12_000);
  const windows = new Set([...sent.values()].map((times) => Math.floor(times[0] / 100)));
  t.is(sent.size, 20, 'every member refreshed within 10 s ± 10 %');
  // Without jitter every round starts at 10,000 ms: one window.
  t.true(windows.size >= 10, `the first rounds started in ${windows.size} distinct 100 ms windows`);
  const starts = [...sent.values()].map((times) => times[0]);
  t.true(Math.min(...starts) >= 9_000 && Math.max(...starts) <= 11_000, `rounds at ${Math.min(...starts)}–${Math.max(...starts)} ms`);
});

test('a periodic round to 60 members is paced, and every member keeps every registration', (t) => {
  const N = 60;
  const { net, nodes } = group(N);
  t.true(net.until(() => groupComplete(nodes), 10_000) >= 0, 'converged');
  // Three periods of steady state (registration TTL: three periods).
  net.advance(45_000 - net.now);
  t.true(groupComplete(nodes), 'nobody expired: paced refreshes arrive within the TTL');
  const sent = registersSent(net, 8_000, 45_000);
  // The most one member sent in any 100 ms: a burst would be its 2 registrations to all 59 others.
  let most = 0;
  for (const times of sent.values()) {
    times.sort((a, b) => a - b);
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i] - times[j] >= 100) j++;
      most = Math.max(most, i - j + 1);
    }
  }
  const perWindow = 2 * (PACE_BURST + Math.ceil(PACE_MIN_PER_S / 10) + 1);
  t.true(most <= perWindow, `at most ${most} replicated registrations from one member in 100 ms, want at most ${perWindow} (unpaced: ${2 * (N - 1)})`);
  // Every member still sent both registrations to every other member in each period.
  const rounds = Math.min(...[...sent.values()].map((times) => times.length));
  t.true(rounds >= 3 * 2 * (N - 1), `fewest replicated registrations from one member in three periods: ${rounds}`);
  t.true(nodes.every((m) => (m.counters.get('register.paced') ?? 0) > 0));
});
