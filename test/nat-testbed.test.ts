// The NAT testbed (src/testbed/nat.ts): UDP from behind it is translated; the endpoint-independent
// NAT keeps one port for one socket whatever the destination, the symmetric one does not;
// flushing conntrack and changing the public address change what the outside sees.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createTestbed } from '../src/testbed/bridge';
import { createNat, UDP_PROBER, UDP_REFLECTOR, type Nat } from '../src/testbed/nat';
import { netnsAvailable, run, type Netns } from '../src/testbed/netns';

const avail = netnsAvailable();
const nsTest = avail.ok ? test.serial : test.skip;
if (!avail.ok) test('NAT testbed (skipped)', (t) => { t.log(`skipped: ${avail.reason}`); t.pass(); });

async function withReflector<T>(ns: Netns, ports: number[], body: () => Promise<T>): Promise<T> {
  let ready!: () => void;
  const up = new Promise<void>((r) => { ready = r; });
  const r = run(ns, [process.execPath, '-e', UDP_REFLECTOR, ...ports.map(String)], (l) => { if (l === 'ready') ready(); });
  r.done.catch(() => undefined);
  try {
    await Promise.race([up, r.done.then(() => { throw new Error('reflector exited'); })]);
    return await body();
  } finally {
    r.child.kill();
  }
}

async function probe(nat: Nat, destinations: string[]): Promise<(string | null)[]> {
  const out = await run(nat.host, [process.execPath, '-e', UDP_PROBER, ...destinations]).done;
  return JSON.parse(out.trim()) as (string | null)[];
}

function portOf(seen: string | null): number {
  if (seen === null) throw new Error('no answer');
  return Number(seen.split(':')[1]);
}

nsTest('endpoint-independent NAT: translated to its public address, one port for both destinations; flush and readdress rebind', async (t) => {
  const bed = createTestbed({ prefix: 'ntb', nodes: 1, subnet: '198.51.100', firstHost: 7 });
  let nat: Nat | undefined;
  try {
    nat = createNat({ bridge: bed, prefix: 'ntb', publicAddress: '198.51.100.10', privateSubnet: '192.168.77' });
    const server = bed.nodes[0];
    await withReflector(server.ns, [4341, 4342], async () => {
      const n = nat as Nat;
      const seen = await probe(n, [`${server.address}:4341`, `${server.address}:4342`]);
      t.log(seen);
      t.true(seen.every((s) => s !== null && s.startsWith('198.51.100.10:')), JSON.stringify(seen));
      const [p1, p2] = seen.map(portOf);
      t.true(p1 >= 40000 && p1 <= 40999, `port ${p1} translated into 40000-40999`);
      t.is(p1, p2, 'same mapping towards both destinations');

      n.changePublicAddress('198.51.100.11');
      const after = await probe(n, [`${server.address}:4341`]);
      t.true(after[0]?.startsWith('198.51.100.11:'), JSON.stringify(after));
      n.flushConntrack();
      t.regex(n.ruleset(), /masquerade to :40000-40999/);
    });
  } finally {
    nat?.destroy();
    bed.destroy();
  }
  // Cleaned up: no namespace of ours is left.
  t.false(ipNetnsList().some((n) => n.startsWith('ntb')));
});

nsTest('symmetric NAT: different translated ports for different destinations of one socket', async (t) => {
  const bed = createTestbed({ prefix: 'nts', nodes: 1, subnet: '198.51.100', firstHost: 7 });
  let nat: Nat | undefined;
  try {
    nat = createNat({ bridge: bed, prefix: 'nts', publicAddress: '198.51.100.10', privateSubnet: '192.168.78', mapping: 'symmetric' });
    const server = bed.nodes[0];
    await withReflector(server.ns, [4341, 4342, 4343], async () => {
      const seen = await probe(nat as Nat, [`${server.address}:4341`, `${server.address}:4342`, `${server.address}:4343`]);
      t.log(seen);
      const ports = seen.map(portOf);
      t.true(seen.every((s) => s?.startsWith('198.51.100.10:')));
      t.true(new Set(ports).size > 1, `ports ${ports.join(', ')} differ by destination`);
    });
  } finally {
    nat?.destroy();
    bed.destroy();
  }
});

nsTest('nothing reaches the host behind the NAT without a mapping', async (t) => {
  const bed = createTestbed({ prefix: 'ntn', nodes: 1, subnet: '198.51.100', firstHost: 7 });
  let nat: Nat | undefined;
  try {
    nat = createNat({ bridge: bed, prefix: 'ntn', publicAddress: '198.51.100.10', privateSubnet: '192.168.79' });
    bed.nodes[0].ns.ip(['route', 'add', '192.168.79.0/24', 'via', '198.51.100.10']);
    const n = nat;
    const err = t.throws(() => bed.nodes[0].ns.exec(['ping', '-c1', '-W1', n.hostAddress]));
    t.regex(n.ruleset(), /policy drop/);
    t.truthy(err);
  } finally {
    nat?.destroy();
    bed.destroy();
  }
});

function ipNetnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}
