// A netns testbed for the data plane: two EID hosts behind two xTRs (router case), the xTRs
// joined by two underlay links (IPv4 + IPv6 on the first, IPv4 on the second for multihoming).
//
//   hA 10.1.0.10 fd01::10 --lan-- xA ==u1 192.168.77.0/24 fd77::/64== xB --lan-- hB 10.2.{0,1,5}.10 fd02{,:1}::10
//                                    ==u2 192.168.78.0/24============
//
// Each xTR runs scripts/dataplane-runner.js in its namespace (static map-cache, instance-id 7).
// hB's addresses pick the outer family on xA: 10.2.0/24 and fd02::/64 map to xB's IPv4 RLOC,
// 10.2.1/24 and fd02:1::/64 to its IPv6 RLOC, so one bed covers all four inner/outer pairs.
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { ChildProcess } from 'node:child_process';
import { ip, Netns, uniqueName } from '../../scripts/lib/netns';
import type { RunnerSpec } from '../../scripts/dataplane-runner';

export const RUNNER = path.join(__dirname, '..', '..', 'scripts', 'dataplane-runner.js');
export const IID = 7;

export class Runner {
  private nextId = 1;
  private readonly waiting = new Map<number, (v: Record<string, unknown>) => void>();
  readonly events: Record<string, unknown>[] = [];
  readonly stderr: string[] = [];
  private exited = false;

  private constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let o: Record<string, unknown>;
      try { o = JSON.parse(line) as Record<string, unknown>; } catch { return; }
      if (typeof o.id === 'number') {
        this.waiting.get(o.id)?.(o);
        this.waiting.delete(o.id);
      } else {
        this.events.push(o);
      }
    });
    child.stderr!.on('data', (d: Buffer) => { this.stderr.push(d.toString()); });
    child.on('exit', () => { this.exited = true; });
  }

  static async start(ns: Netns, spec: RunnerSpec): Promise<Runner> {
    const child = ns.spawn([process.execPath, RUNNER, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const r = new Runner(child);
    await r.waitEvent((e) => e.ready === true, 15_000);
    return r;
  }

  get alive(): boolean {
    return !this.exited;
  }

  async waitEvent(match: (e: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(match);
      if (hit) return hit;
      if (this.exited) throw new Error(`runner exited: ${this.stderr.join('')}`);
      if (Date.now() > end) throw new Error(`timeout waiting for a runner event; stderr: ${this.stderr.join('')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  request(cmd: Record<string, unknown>, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.waiting.delete(id); reject(new Error(`runner did not answer ${JSON.stringify(cmd)}`)); }, timeoutMs);
      this.waiting.set(id, (v) => { clearTimeout(t); resolve(v); });
      this.child.stdin!.write(`${JSON.stringify({ ...cmd, id })}\n`);
    });
  }

  async keyStats(): Promise<Record<string, unknown>[]> {
    const r = await this.request({ cmd: 'counters' });
    return r.keys as Record<string, unknown>[];
  }

  async counters(): Promise<Record<string, number>> {
    const r = await this.request({ cmd: 'counters' });
    return r.counters as Record<string, number>;
  }

  /** Stop cleanly (routes removed, TUN closed); kill if it does not exit in time. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}

export interface Bed {
  hA: Netns; xA: Netns; xB: Netns; hB: Netns;
  /** xA's underlay interfaces (link 1, link 2). */
  xAu1: string; xAu2: string;
  runA: Runner; runB: Runner;
  tunA: string; tunB: string;
  destroy(): Promise<void>;
}

/** A veth pair between two namespaces, both ends up; returns (end in a, end in b). */
export function link(a: Netns, b: Netns): [string, string] {
  const na = uniqueName('dva'), nb = uniqueName('dvb');
  ip(['link', 'add', na, 'netns', a.name, 'type', 'veth', 'peer', 'name', nb, 'netns', b.name]);
  a.ip(['link', 'set', na, 'up']);
  b.ip(['link', 'set', nb, 'up']);
  return [na, nb];
}

/** Adds addresses to `dev` (IPv6 without duplicate address detection, so they work at once). */
export function addrs(ns: Netns, dev: string, list: string[]): void {
  for (const a of list) ns.ip(['addr', 'add', a, 'dev', dev, ...(a.includes(':') ? ['nodad'] : [])]);
}

function router(ns: Netns): void {
  for (const s of ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']) {
    ns.exec(['sysctl', '-qw', s]);
  }
}

export interface BedOptions {
  offloads?: boolean;
  /** UDP GSO on xA's sending sockets (default true). */
  udpGso?: boolean;
  /** xA's TUN MTU (default 1500: bigger than the path, so PMTUD and the ICMP path are exercised). */
  mtuA?: number;
  /** LISP-crypto on both xTRs (default off); keys come through Runner.request({ cmd: 'key' }). */
  encryption?: 'required' | 'preferred';
}

export async function createBed(opts: BedOptions = {}): Promise<Bed> {
  const made: Netns[] = [];
  const runners: Runner[] = [];
  const destroy = async (): Promise<void> => {
    for (const r of runners) await r.stop().catch(() => undefined);
    for (const n of made) n.destroy();
  };
  try {
    const ns = (p: string): Netns => { const n = new Netns(uniqueName(p)); made.push(n); return n; };
    const hA = ns('dph'), xA = ns('dpx'), xB = ns('dpx'), hB = ns('dph');
    const [ha, xal] = link(hA, xA);
    const [xbl, hb] = link(xB, hB);
    const [xAu1, xBu1] = link(xA, xB);
    const [xAu2, xBu2] = link(xA, xB);
    addrs(hA, ha, ['10.1.0.10/24', 'fd01::10/64']);
    addrs(xA, xal, ['10.1.0.1/24', 'fd01::1/64']);
    addrs(hB, hb, ['10.2.0.10/24', '10.2.1.10/24', '10.2.5.10/24', 'fd02::10/64', 'fd02:1::10/64']);
    addrs(xB, xbl, ['10.2.0.1/24', '10.2.1.1/24', '10.2.5.1/24', 'fd02::1/64', 'fd02:1::1/64']);
    addrs(xA, xAu1, ['192.168.77.1/24', 'fd77::1/64']);
    addrs(xB, xBu1, ['192.168.77.2/24', 'fd77::2/64']);
    addrs(xA, xAu2, ['192.168.78.1/24']);
    addrs(xB, xBu2, ['192.168.78.2/24']);
    hA.ip(['route', 'add', 'default', 'via', '10.1.0.1']);
    hA.ip(['-6', 'route', 'add', 'default', 'via', 'fd01::1']);
    hB.ip(['route', 'add', 'default', 'via', '10.2.0.1']);
    hB.ip(['-6', 'route', 'add', 'default', 'via', 'fd02::1']);
    router(xA);
    router(xB);
    const offloads = opts.offloads ?? true;
    const tunA = uniqueName('dpt'), tunB = uniqueName('dpt');
    const runA = await Runner.start(xA, {
      tun: tunA, mtu: opts.mtuA ?? 1500, offloads, udpGso: opts.udpGso, instanceId: IID, encryption: opts.encryption,
      // the LAN behind xA, and a host EID of xA's own (on its TUN: host mode)
      localEids: ['10.1.0.0/24', 'fd01::/64', '10.1.9.1/32'], rlocs: ['192.168.77.1', '192.168.78.1', 'fd77::1'],
      routes: ['10.2.0.0/16', 'fd02::/16'],
      staticMapCache: [
        { eid: '10.2.1.0/24', rlocs: ['fd77::2'] },
        { eid: 'fd02::/64', rlocs: ['192.168.77.2'] },
        { eid: 'fd02:1::/64', rlocs: ['fd77::2'] },
      ],
      // two RLOCs, priority 1 preferred (multihoming test takes it down)
      mapCache: [{ eid: '10.2.0.0/24', rlocs: [{ address: '192.168.77.2', priority: 1 }, { address: '192.168.78.2', priority: 2 }] }],
      // 10.2.5.0/24 is unknown until the first packet asks for it (simulated Map-Reply after 50 ms)
      resolvable: [{ eid: '10.2.5.0/24', rlocs: [{ address: '192.168.77.2' }] }],
      missDelayMs: 50,
    });
    runners.push(runA);
    const runB = await Runner.start(xB, {
      tun: tunB, mtu: 1464, offloads, instanceId: IID, encryption: opts.encryption,
      localEids: ['10.2.0.0/24', '10.2.1.0/24', '10.2.5.0/24', 'fd02::/64', 'fd02:1::/64'],
      rlocs: ['192.168.77.2', '192.168.78.2', 'fd77::2'],
      routes: ['10.1.0.0/16', 'fd01::/16'],
      staticMapCache: [
        { eid: '10.1.0.0/24', rlocs: ['192.168.77.1'] },
        { eid: '10.1.9.1/32', rlocs: ['192.168.77.1'] },
        { eid: 'fd01::/64', rlocs: ['fd77::1'] },
      ],
    });
    runners.push(runB);
    return { hA, xA, xB, hB, xAu1, xAu2, runA, runB, tunA, tunB, destroy };
  } catch (e) {
    await destroy();
    throw e;
  }
}

/** TX packet count of an interface (ip -s link). */
export function txPackets(ns: Netns, dev: string): number {
  const out = ns.ip(['-s', '-j', 'link', 'show', dev]);
  const j = JSON.parse(out) as { stats64: { tx: { packets: number } } }[];
  return j[0].stats64.tx.packets;
}
