// Direct paths between two members behind two real NATs (nftables masquerade namespaces,
// src/testbed/nat.ts), src/control/direct.ts: alpha is public, the seed and the RTR; pi and pj sit
// behind NATs of their own. With endpoint-independent mappings both probe each other's
// translated data port, the path goes direct, pings cross both ways and the RTR relays none of
// them (its rtrRelayed counter stands still); when the path between the NATs is cut, traffic goes
// back through the RTR. Behind a symmetric NAT (a random port per destination) the probes are
// never answered: traffic stays via the RTR, pings work, and `decent show peers` says why.
import test, { type ExecutionContext } from 'ava';
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../src/api/client';
import type { PeerRow } from '../src/control/protocol';
import { createTestbed } from '../src/testbed/bridge';
import { createNat, type Nat, type NatMapping } from '../src/testbed/nat';
import { netnsAvailable, type Netns } from '../src/testbed/netns';
import { launchMember, memberSocket } from '../src/testbed/member';
import { DECENT_BIN, stopChildren } from './helpers/nodes';

const avail = netnsAvailable();
const EIDS = { alpha: '10.0.0.7', pi: '10.0.0.5', pj: '10.0.0.6' } as const;
type Name = keyof typeof EIDS;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface DirectRow { address: string; port: number; name: string; state: 'trying' | 'direct' | 'unanswered' }
interface Status { nat: { behindNat?: boolean; dataPort?: number; direct: DirectRow[] } }

interface Group {
  natA: Nat;
  natB: Nat;
  startedAt: number;
  get<T>(name: Name, p: string): Promise<T>;
  until(what: string, ms: number, ok: () => Promise<boolean>): Promise<boolean>;
  ping(from: Name, to: Name, count?: number): boolean;
  relayed(): Promise<number>;
  peers(name: Name): string;
  directTo(name: Name, other: Name): Promise<DirectRow | undefined>;
}

async function natGroup(t: ExecutionContext, prefix: string, mappingB: NatMapping): Promise<Group> {
  const bed = createTestbed({ prefix, nodes: 1, subnet: '198.51.100', firstHost: 7 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-nat-direct-'));
  const children: ChildProcess[] = [];
  const made: Nat[] = [];
  t.teardown(async () => {
    await stopChildren(children);
    for (const n of made) n.destroy();
    bed.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const natA = createNat({ bridge: bed, prefix: `${prefix}a`, publicAddress: '198.51.100.10', privateSubnet: '192.168.77' });
  made.push(natA);
  const natB = createNat({ bridge: bed, prefix: `${prefix}b`, publicAddress: '198.51.100.11', privateSubnet: '192.168.78', mapping: mappingB });
  made.push(natB);
  const alpha = bed.nodes[0];
  const nsOf: Record<Name, Netns> = { alpha: alpha.ns, pi: natA.host, pj: natB.host };
  const logs: Record<Name, string> = { alpha: '', pi: '', pj: '' };
  const sock = (name: Name): string => memberSocket(dir, name);
  const startedAt = Date.now();
  for (const name of ['alpha', 'pi', 'pj'] as const) {
    children.push(launchMember({
      dir, name, ns: nsOf[name], eid: EIDS[name], seeds: name === 'alpha' ? [] : [alpha.address], group: '224.9.9.9',
      rtr: name === 'alpha', encryption: 'off', logs,
    }));
  }
  const get = <T>(name: Name, p: string): Promise<T> => apiRequest<T>(sock(name), 'GET', p, 2000);
  const g: Group = {
    natA, natB, startedAt, get,
    async until(what, ms, ok) {
      const by = Date.now() + ms;
      for (;;) {
        if (await ok().catch(() => false)) return true;
        if (Date.now() > by) {
          const state = await Promise.all((['pi', 'pj'] as const).map(async (n) => {
            const st = await get<Status>(n, '/api/status').catch((e: Error) => e.message);
            const c = await get<{ control: Record<string, number> }>(n, '/api/counters').catch((e: Error) => ({ control: { error: e.message } }));
            const direct = Object.entries(c.control).filter(([k]) => k.startsWith('direct.') || k.startsWith('info.'));
            return `${n}: ${JSON.stringify(typeof st === 'string' ? st : st.nat)} ${JSON.stringify(direct)}`;
          }));
          t.fail(`${what}\n${state.join('\n')}\n${(['alpha', 'pi', 'pj'] as const).map((n) => `${n}: ${logs[n].slice(-2000)}`).join('\n')}`);
          return false;
        }
        await sleep(100);
      }
    },
    ping(from, to, count = 1) {
      const r = spawnSync('ip', ['netns', 'exec', nsOf[from].name, 'ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '1', '-I', EIDS[from], EIDS[to]], { encoding: 'utf8' });
      return Number(/(\d+) received/.exec(r.stdout ?? '')?.[1] ?? 0) === count;
    },
    async relayed() {
      return (await get<{ dataplane: Record<string, number> }>('alpha', '/api/counters')).dataplane.rtrRelayed;
    },
    peers(name) {
      return spawnSync(process.execPath, [DECENT_BIN, 'show', 'peers', '--socket', sock(name)], { encoding: 'utf8' }).stdout;
    },
    async directTo(name, other) {
      const at = other === 'pi' ? natA.publicAddress : natB.publicAddress;
      return (await get<Status>(name, '/api/status')).nat.direct.find((d) => d.address === at);
    },
  };
  return g;
}

const nsTest = avail.ok ? test.serial : test.skip;
if (!avail.ok) test('NAT direct paths (skipped)', (t) => { t.log(`skipped: ${avail.reason}`); t.pass(); });

nsTest('two members behind endpoint-independent NATs go direct: pings both ways, none through the RTR; a cut path falls back to the RTR', async (t) => {
  const g = await natGroup(t, 'ndi', 'endpoint-independent');
  const isDirect = async (a: Name, b: Name): Promise<boolean> => (await g.directTo(a, b))?.state === 'direct';
  if (!await g.until('pi and pj did not go direct', 40_000, async () => (await isDirect('pi', 'pj')) && (await isDirect('pj', 'pi')))) return;
  t.log(`direct both ways ${Date.now() - g.startedAt} ms after the three processes were started`);
  // about one probe a second each: answering a probe with a probe of ours must not become a storm
  const probes = (await g.get<{ control: Record<string, number> }>('pi', '/api/counters')).control['direct.probe.sent'];
  t.true(probes <= 2 * (Date.now() - g.startedAt) / 1000 + 4, `${probes} probes in ${Date.now() - g.startedAt} ms`);
  const pi = (await g.get<Status>('pi', '/api/status')).nat, pj = (await g.get<Status>('pj', '/api/status')).nat;
  // each went direct to the other's translated data port: the one its RTR binding uses
  t.like(await g.directTo('pi', 'pj'), { address: '198.51.100.11', port: pj.dataPort });
  t.like(await g.directTo('pj', 'pi'), { address: '198.51.100.10', port: pi.dataPort });

  // Pings both ways; the RTR relays none of them.
  if (!await g.until('pi -> pj: no ping', 10_000, async () => g.ping('pi', 'pj'))) return;
  const before = await g.relayed();
  t.true(g.ping('pi', 'pj', 5), 'pi -> pj direct');
  t.true(g.ping('pj', 'pi', 5), 'pj -> pi direct');
  t.is(await g.relayed(), before, 'no packet between pi and pj passed the RTR');
  const shown = g.peers('pi');
  t.true(shown.split('\n').some((l) => l.includes('198.51.100.11') && /direct to 198\.51\.100\.11:\d+ \(both behind NAT; probe answered \d+\.\d s ago\)/.test(l)), shown);
  t.true(shown.split('\n').some((l) => l.includes('198.51.100.7') && l.endsWith('via RTR 198.51.100.7 (we are behind NAT)')), shown);
  const api = await g.get<PeerRow[]>('pj', '/api/peers');
  t.regex(api.find((r) => r.rlocs.includes('198.51.100.10'))?.path ?? '', /^direct to 198\.51\.100\.10:\d+ /, JSON.stringify(api));

  // The path between the two NATs breaks (both still reach the RTR): back via the RTR.
  g.natA.block(g.natB.publicAddress);
  const cut = Date.now();
  if (!await g.until('pi still direct after the path was cut', 15_000, async () => !(await isDirect('pi', 'pj')) && !(await isDirect('pj', 'pi')))) return;
  t.log(`back via the RTR ${Date.now() - cut} ms after the path between the NATs was cut`);
  const relayedBefore = await g.relayed();
  if (!await g.until('pi -> pj: no ping via the RTR after the cut', 10_000, async () => g.ping('pi', 'pj'))) return;
  t.true(g.ping('pj', 'pi', 3), 'pj -> pi via the RTR');
  t.true(await g.relayed() > relayedBefore, 'the RTR relays between pi and pj again');
  t.regex(g.peers('pi'), /via RTR 198\.51\.100\.7 \(direct path lost: no probe answered for \d+\.\d s\)/);
});

nsTest('behind a symmetric NAT the direct probes are never answered: traffic stays via the RTR, pings work, and peers say why', async (t) => {
  const g = await natGroup(t, 'nds', 'symmetric');
  // pj behind the symmetric NAT: its RTR learns a port that no other peer can use.
  if (!await g.until('pi never tried pj directly', 40_000, async () => (await g.directTo('pi', 'pj')) !== undefined)) return;
  if (!await g.until('pi -> pj: no ping via the RTR', 15_000, async () => g.ping('pi', 'pj'))) return;
  const before = await g.relayed();
  t.true(g.ping('pi', 'pj', 3), 'pi -> pj via the RTR');
  t.true(g.ping('pj', 'pi', 3), 'pj -> pi via the RTR');
  t.true(await g.relayed() >= before + 12, 'every echo and reply crossed the RTR');
  if (!await g.until('pi does not call pj unanswered', 20_000, async () => (await g.directTo('pi', 'pj'))?.state === 'unanswered')) return;
  t.not((await g.directTo('pj', 'pi'))?.state, 'direct');
  t.regex(g.peers('pi'), /via RTR 198\.51\.100\.7 \(direct probes to 198\.51\.100\.11:\d+ unanswered: \d+ sent \(symmetric NAT\?\)\)/);
});
