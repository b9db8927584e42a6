// The NAT traversal targets of issue 16, measured on `decent demo --nat`'s topology (alpha = RTR,
// beta public, pi behind an nftables NAT), N rounds (default 5), medians and min-max:
//   - join from behind NAT: the demo's detection and registration-via-the-RTR times after start
//     (the first ping after start is measured by test/nat-rtr-netns.test.ts);
//   - throughput through the RTR against a direct path, in the same run, interleaved: iperf3 TCP
//     beta -> pi (relayed by alpha: two encapsulations) and beta -> alpha (one), ratio per round.
// Encryption off, so both paths do the same work per hop. Needs root and iperf3.
//   sudo node dist/scripts/nat-measure.js [--rounds 5] [--seconds 3]
import { spawn, spawnSync } from 'node:child_process';
import { runNatDemo } from '../src/testbed/demo-nat';
import type { Netns } from '../src/testbed/netns';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 5), SECONDS = arg('seconds', 3);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
const summary = (xs: number[], unit: string, digits = 0): string =>
  `median ${median(xs).toFixed(digits)} ${unit}, ${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}`;

async function iperf(server: { ns: Netns; eid: string }, client: { ns: Netns; eid: string }): Promise<number> {
  const s = spawn('ip', ['netns', 'exec', server.ns.name, 'iperf3', '-s', '-1', '-B', server.eid], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  const c = spawnSync('ip', ['netns', 'exec', client.ns.name, 'iperf3', '-c', server.eid, '-B', client.eid, '-t', String(SECONDS), '-J'], { encoding: 'utf8' });
  s.kill();
  try {
    return (JSON.parse(c.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  const detected: number[] = [], registered: number[] = [], relayed: number[] = [], direct: number[] = [], ratio: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const res = await runNatDemo(() => undefined, {
      encryption: 'off',
      during: async ({ nodes }) => {
        const [alpha, beta, pi] = nodes;
        // interleaved, alternating which goes first
        const a = r % 2 === 0 ? await iperf(pi, beta) : 0;
        const d = await iperf(alpha, beta);
        const b = r % 2 === 1 ? await iperf(pi, beta) : a;
        relayed.push(b);
        direct.push(d);
        ratio.push(d > 0 ? b / d : 0);
      },
    });
    if (!res.ok) console.error(`round ${r + 1}: ${res.problems.join('; ')}`);
    if (res.detected_ms !== null) detected.push(res.detected_ms);
    if (res.registered_ms !== null) registered.push(res.registered_ms);
    console.error(`round ${r + 1}: detected ${res.detected_ms} ms, registered ${res.registered_ms} ms, beta->pi via RTR ${relayed.at(-1)?.toFixed(0)} Mbit/s, beta->alpha ${direct.at(-1)?.toFixed(0)} Mbit/s`);
  }
  console.log(`NAT detected after start: ${summary(detected, 'ms')}`);
  console.log(`registered via the RTR after start: ${summary(registered, 'ms')}`);
  console.log(`TCP beta -> pi through the RTR: ${summary(relayed, 'Mbit/s')}`);
  console.log(`TCP beta -> alpha direct: ${summary(direct, 'Mbit/s')}`);
  console.log(`ratio RTR / direct: ${summary(ratio, '', 2)}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
