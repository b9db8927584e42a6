// A group with one member behind a NAT, for the NAT netns tests and `scripts/bench-nat.ts`:
// public members on a bridge (any of them RTRs, `nat.rtr: true`) and `pi` behind an nftables
// masquerade NAT (src/testbed/nat.ts) whose seeds are the members listed as its seeds. Each node
// is a real `decent run` process with a TUN; its EID is on its loopback.
//
//   const g = startNatGroup({ prefix: 'nfo', publics: [{ name: 'r1', rtr: true }, { name: 'pub' }], piSeeds: ['r1'] });
//   await g.until('pi behind NAT', 20_000, async () => (await g.get<Status>('pi', '/api/status')).nat.behindNat === true);
//   g.ping('pub', 'pi');   g.kill('r1');   await g.stop();   // stop() also removes the namespaces
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../api/client';
import { createTestbed, type Testbed } from './bridge';
import { createNat, type Nat } from './nat';
import type { Netns } from './netns';
import { launchMember, memberSocket } from './member';
import { stopProcesses } from './processes';

export interface NatGroupOptions {
  /** Up to 5 characters, for unique namespace names. */
  readonly prefix: string;
  /** Public members, in bridge order (198.51.100.7, .8, …); the first seeds the others. */
  readonly publics: readonly { readonly name: string; readonly rtr?: boolean }[];
  /** Names of the public members pi seeds from (default: the first). */
  readonly piSeeds?: readonly string[];
  /** `nat.keepalive` of every node (default 2s). */
  readonly keepalive?: string;
  /** `dataplane.encryption` of every node (default off; `required` seals end to end through the RTRs). */
  readonly encryption?: 'off' | 'preferred' | 'required';
  /** Extra YAML lines for every node's config. */
  readonly extra?: readonly string[];
  /** Start pi only when `startPi()` is called (to time its join into a running group). */
  readonly holdPi?: boolean;
  /**
   * A second member behind a NAT of its own: `pj` (10.0.0.6, behind 198.51.100.40), seeding like
   * pi; started only by startPj() (direct paths between members behind NATs, src/control/direct.ts).
   */
  readonly pj?: boolean;
}

export interface GroupNode {
  readonly name: string;
  readonly ns: Netns;
  readonly eid: string;
  /** Its RLOC (pi: its private address). */
  readonly address: string;
}

export interface NatStatusView {
  nat: {
    behindNat?: boolean; rtrs: string[]; rtrsDown?: string[];
    translated?: { address: string; port: number };
    relaying: { name: string; address: string; dataPort?: number; controlPort?: number }[];
  };
}

export interface NatGroup {
  readonly bed: Testbed;
  readonly nat: Nat;
  readonly nodes: ReadonlyMap<string, GroupNode>;
  /** Date.now() when the processes were started. */
  readonly startedAt: number;
  /** The NAT in front of pj (with `pj`). */
  readonly nat2?: Nat;
  /** With `pj`: starts pj now; returns Date.now() at its start. */
  startPj(): number;
  /** With `holdPi`: starts pi now; returns Date.now() at its start. */
  startPi(): number;
  /** The last 60 kB of each node's stderr (for failure messages). */
  readonly logs: Record<string, string>;
  get<T>(name: string, apiPath: string): Promise<T>;
  /** One ICMP echo from `from`'s EID to `to`'s EID through the overlay, waiting up to `waitS` seconds. */
  ping(from: string, to: string, waitS?: number): boolean;
  /** Pings from `from`'s EID to `to`'s every `intervalMs` until stopped; `replies` are the arrival times (Date.now() ms). */
  pingStream(from: string, to: string, intervalMs?: number): PingStream;
  /** Polls `ok` every 100 ms; resolves with the ms it took, or null after `ms`. */
  until(ms: number, ok: () => Promise<boolean> | boolean): Promise<number | null>;
  /** SIGKILL: the node dies without a goodbye. */
  kill(name: string): void;
  /** Stops every process and removes everything (also when a start failed half way). */
  stop(): Promise<void>;
}

export interface PingStream {
  readonly replies: number[];
  /** The first reply that arrived after `t` (ms), or undefined. */
  firstAfter(t: number): number | undefined;
  stop(): void;
}

/** An EID per node: 10.0.0.(7 + i) for public member i, 10.0.0.5 for pi. */
export const PI_EID = '10.0.0.5';
/** pj's EID (with `pj`). */
export const PJ_EID = '10.0.0.6';

export function startNatGroup(o: NatGroupOptions): NatGroup {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-nat-group-'));
  const children = new Map<string, ChildProcess>();
  let bed: Testbed | undefined;
  let nat: Nat | undefined;
  let nat2: Nat | undefined;
  const stop = async (): Promise<void> => {
    await stopProcesses([...children.values()]);
    nat2?.destroy();
    nat?.destroy();
    bed?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    bed = createTestbed({ prefix: o.prefix, nodes: o.publics.length, subnet: '198.51.100', firstHost: 7 });
    nat = createNat({ bridge: bed, prefix: o.prefix, publicAddress: '198.51.100.30', privateSubnet: '192.168.77' });
    const b = bed;
    const nodes = new Map<string, GroupNode>();
    o.publics.forEach((p, i) => nodes.set(p.name, { name: p.name, ns: b.nodes[i].ns, eid: `10.0.0.${7 + i}`, address: b.nodes[i].address }));
    nodes.set('pi', { name: 'pi', ns: nat.host, eid: PI_EID, address: nat.hostAddress });
    if (o.pj === true) {
      nat2 = createNat({ bridge: bed, prefix: `${o.prefix}j`, publicAddress: '198.51.100.40', privateSubnet: '192.168.78' });
      nodes.set('pj', { name: 'pj', ns: nat2.host, eid: PJ_EID, address: nat2.hostAddress });
    }
    const logs: Record<string, string> = {};
    const sock = (name: string): string => memberSocket(dir, name);
    const first = o.publics[0].name;
    const piSeeds = (o.piSeeds ?? [first]).map((n) => nodes.get(n)?.address ?? n);
    const launch = (n: GroupNode): void => {
      const rtr = o.publics.find((p) => p.name === n.name)?.rtr === true;
      const seeds = n.name === 'pi' || n.name === 'pj' ? piSeeds : n.name === first ? [] : [nodes.get(first)?.address ?? ''];
      children.set(n.name, launchMember({
        dir, name: n.name, ns: n.ns, eid: n.eid, seeds, group: '224.9.9.9', rtr, keepalive: o.keepalive,
        encryption: o.encryption ?? 'off', extra: o.extra, logs,
      }));
    };
    for (const n of nodes.values()) if ((n.name !== 'pi' || o.holdPi !== true) && n.name !== 'pj') launch(n);
    const startedAt = Date.now();
    const node = (name: string): GroupNode => {
      const n = nodes.get(name);
      if (!n) throw new Error(`no node ${name}`);
      return n;
    };
    return {
      bed, nat, nat2, nodes, startedAt, logs, stop,
      startPj() {
        if (!children.has('pj')) launch(node('pj'));
        return Date.now();
      },
      startPi() {
        if (!children.has('pi')) launch(node('pi'));
        return Date.now();
      },
      get: <T>(name: string, apiPath: string) => apiRequest<T>(sock(name), 'GET', apiPath, 2000),
      ping(from, to, waitS = 1) {
        const a = node(from), z = node(to);
        return spawnSync('ip', ['netns', 'exec', a.ns.name, 'ping', '-n', '-q', '-c', '1', '-W', String(waitS), '-I', a.eid, z.eid]).status === 0;
      },
      pingStream(from, to, intervalMs = 100) {
        const a = node(from), z = node(to);
        const replies: number[] = [];
        // -D: each reply line starts with its arrival time ([seconds.micros]); the line is read at once
        const child = spawn('ip', ['netns', 'exec', a.ns.name, 'ping', '-n', '-D', '-i', String(intervalMs / 1000), '-W', '1', '-I', a.eid, z.eid], { stdio: ['ignore', 'pipe', 'ignore'] });
        let partial = '';
        child.stdout.on('data', (d: Buffer) => {
          partial += d.toString();
          let nl: number;
          while ((nl = partial.indexOf('\n')) >= 0) {
            const m = /^\[(\d+\.\d+)\] \d+ bytes from/.exec(partial.slice(0, nl));
            if (m) replies.push(Math.round(Number(m[1]) * 1000));
            partial = partial.slice(nl + 1);
          }
        });
        children.set(`ping-${from}-${to}-${children.size}`, child);
        return { replies, firstAfter: (t) => replies.find((r) => r > t), stop: () => { child.kill('SIGINT'); } };
      },
      async until(ms, ok) {
        const t0 = Date.now();
        for (;;) {
          if (await Promise.resolve().then(ok).catch(() => false)) return Date.now() - t0;
          if (Date.now() - t0 > ms) return null;
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      kill(name) {
        children.get(name)?.kill('SIGKILL');
      },
    };
  } catch (e) {
    void stop();
    throw e;
  }
}
