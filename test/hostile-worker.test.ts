// Issue 12, finding 2: one datagram must not kill the control worker (before the fix, an ECM
// Map-Request with inner source port 0 did). The Map-Resolver validates the reply address, and
// every datagram the worker sends is checked again at the socket (SendGuard, hostile-unit.test).
import test from 'ava';
import { apiRequest } from '../src/api/client';
import { netnsAvailable } from '../src/testbed/netns';
import { ipAddress } from '../src/control/locators';
import { encodeControl } from '../src/wire';
import { startNodes } from './helpers/nodes';

const root = netnsAvailable();

/** Sends one UDP datagram from inside a namespace (node -e, so the socket lives there). */
function sendFrom(ns: { exec(argv: string[], o?: { timeoutMs?: number }): string }, dst: string, port: number, bytes: Buffer): void {
  const script = `const s = require('node:dgram').createSocket('udp4');
    s.send(Buffer.from(${JSON.stringify(bytes.toString('hex'))}, 'hex'), ${port}, ${JSON.stringify(dst)}, (e) => { if (e) throw e; s.close(); });`;
  ns.exec([process.execPath, '-e', script], { timeoutMs: 10_000 });
}

/** An ECM Map-Request (RFC 9301 §5.8) whose inner UDP header names `sourcePort`. */
export function ecmMapRequest(itr: string, eid: string, sourcePort: number): Buffer {
  return encodeControl({
    type: 'ecm', security: false, ddt: false,
    inner: { version: 4, source: itr, destination: eid, ttl: 64, tos: 0, id: 0, fragment: 0, flowLabel: 0, sourcePort, destinationPort: 4342 },
    message: {
      type: 'map-request', authoritative: false, mapDataPresent: false, probe: false, smr: false, pitr: false, smrInvoked: false,
      nonce: 0x1234n, sourceEid: { kind: 'none' }, itrRlocs: [ipAddress(itr)], records: [{ eidMaskLen: 32, eid: ipAddress(eid) }],
    },
  });
}

test.serial('an ECM Map-Request with inner source port 0 is a counted drop, the worker lives', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const nodes = await startNodes(t, { prefix: 'hsp', count: 1, subnet: '10.81.0' });
  const attacker = nodes.bed.bridgeNs;
  for (let i = 0; i < 3; i++) sendFrom(attacker, nodes.bed.nodes[0].address, 4342, ecmMapRequest('10.81.0.1', '10.1.0.1', 0));
  // and one whose ITR-RLOC is a multicast address: not a unicast target
  sendFrom(attacker, nodes.bed.nodes[0].address, 4342, ecmMapRequest('224.1.2.3', '10.1.0.1', 4342));
  await new Promise((r) => setTimeout(r, 500));
  const status = await apiRequest<{ restarts: number }>(nodes.sock(1), 'GET', '/api/status', 2000);
  t.is(status.restarts, 0, 'the control worker did not crash');
  const counters = await apiRequest<{ control: Record<string, number> }>(nodes.sock(1), 'GET', '/api/counters', 2000);
  // the Map-Resolver refuses the reply address (request.rejected.address); the worker's send
  // guard (send.dropped.*) is the last line of defence behind it: either way a counted drop
  const c = counters.control;
  const dropped = (c['request.rejected.address'] ?? 0) + (c['send.dropped.bad-port'] ?? 0) + (c['send.dropped.bad-address'] ?? 0);
  t.true(dropped >= 4, JSON.stringify(c));
  // and it still answers a good request
  t.true((counters.control['request.received'] ?? 0) >= 4);
});
