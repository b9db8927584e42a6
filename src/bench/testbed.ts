// The benchmark testbed: EID host A — xTR A — underlay veth — xTR B — EID host B, four network
// namespaces. The same hosts and underlay carry every variant; switching variant only changes
// how the xTRs route the far site's prefix:
//   veth   — plain IP routing over the underlay (the ceiling: no tunnel at all);
//   vxlan  — the kernel's VXLAN device over the same underlay (the kernel's own tunnel);
//   decent — `decent run` in each xTR namespace with a static map-cache, offloads on or off;
//   decent-encrypted(-aes) — `decent run` as a two-member group with LISP-crypto required
//     (RFC 8061 suite 6 ChaCha20-Poly1305, or suite 5 AES-128-GCM): keys from the real exchange;
//   wireguard-go — the userspace WireGuard users pick on kernels without WireGuard (wireguard.ts).
// The EID links have MTU 1450 (VXLAN's inner MTU), so the clear variants carry the same packets;
// the encrypted ones get the inner MTU their tunnel leaves (innerMtu), as a user would set it.
import { type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../api/client';
import { SEAL_OVERHEAD_MAX, type KeyStat } from '../dataplane/crypto';
import { ip, Netns, uniqueName } from '../testbed/netns';
import { startWireguardPair, WIREGUARD_MTU } from './wireguard';

export const VARIANTS = ['veth', 'vxlan', 'decent', 'decent-nooffload', 'decent-encrypted', 'decent-encrypted-aes', 'wireguard-go'] as const;
export type Variant = (typeof VARIANTS)[number];

/** Variants whose tunnel is a process of ours: its CPU is charged to the traffic it carries. */
export function hasTunnelProcess(v: Variant): boolean {
  return v !== 'veth' && v !== 'vxlan';
}

/** The LISP-crypto suite an encrypted variant runs (RFC 8061 §5), 0 for the others. */
export function suiteOf(v: Variant): 0 | 5 | 6 {
  return v === 'decent-encrypted' ? 6 : v === 'decent-encrypted-aes' ? 5 : 0;
}

export const UNDERLAY_A = '10.95.0.1', UNDERLAY_B = '10.95.0.2';
export const HOST_A = '10.91.1.2', HOST_B = '10.91.2.2';
const SITE_A = '10.91.1.0/24', SITE_B = '10.91.2.0/24';
const VX_A = '10.97.0.1', VX_B = '10.97.0.2';
/** Inner MTU of every variant: VXLAN over a 1500-byte underlay leaves 1450. */
export const EID_MTU = 1450;
/** decent's TUN: 1500 minus outer IPv4 (20), UDP (8) and LISP (8) headers. */
const DECENT_MTU = 1464;
/** With encryption decent answers ICMP too-big above this (its limit leaves room for any suite). */
const DECENT_SEALED_MTU = DECENT_MTU - SEAL_OVERHEAD_MAX;

/** The EID hosts' MTU for a variant: what fits its tunnel over the 1500-byte underlay. */
export function innerMtu(v: Variant): number {
  return suiteOf(v) ? Math.min(EID_MTU, DECENT_SEALED_MTU) : v === 'wireguard-go' ? Math.min(EID_MTU, WIREGUARD_MTU) : EID_MTU;
}

/** Child processes of a running benchmark, so CPU accounting can find them. */
export class Children {
  private readonly live = new Set<ChildProcess>();

  track(child: ChildProcess): ChildProcess {
    this.live.add(child);
    child.once('exit', () => this.live.delete(child));
    return child;
  }

  pids(): number[] {
    return [...this.live].map((c) => c.pid ?? 0).filter((p) => p > 0);
  }

  killAll(): void {
    for (const c of this.live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

export interface Xtr { readonly child: ChildProcess; readonly name: string; log: string }

export class BenchBed {
  readonly hostA: Netns;
  readonly xtrA: Netns;
  readonly xtrB: Netns;
  readonly hostB: Netns;
  readonly children = new Children();
  private readonly all: Netns[] = [];
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-bench-'));
  private readonly underA: string;
  private readonly underB: string;
  private xtrs: Xtr[] = [];
  /** The EID-side veth ends (hosts and xTRs), whose MTU follows the variant. */
  private readonly eidLinks: [Netns, string][] = [];

  constructor() {
    try {
      const mk = (p: string): Netns => { const n = new Netns(uniqueName(p)); this.all.push(n); return n; };
      this.hostA = mk('bha');
      this.xtrA = mk('bxa');
      this.xtrB = mk('bxb');
      this.hostB = mk('bhb');
      this.underA = this.link(this.xtrA, UNDERLAY_A, this.xtrB, UNDERLAY_B, 24, 1500)[0];
      this.underB = this.xtrB.links().find((l) => l !== 'lo') ?? '';
      const ea = this.link(this.hostA, HOST_A, this.xtrA, '10.91.1.1', 24, EID_MTU);
      const eb = this.link(this.hostB, HOST_B, this.xtrB, '10.91.2.1', 24, EID_MTU);
      this.eidLinks.push([this.hostA, ea[0]], [this.xtrA, ea[1]], [this.hostB, eb[0]], [this.xtrB, eb[1]]);
      this.hostA.ip(['route', 'add', 'default', 'via', '10.91.1.1']);
      this.hostB.ip(['route', 'add', 'default', 'via', '10.91.2.1']);
      for (const x of [this.xtrA, this.xtrB]) {
        // A fresh namespace does not forward; rp_filter off so decap'd packets from the TUN pass.
        x.exec(['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward; for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done']);
      }
      this.vxlanUp();
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** A veth pair between two namespaces with addresses and MTU; returns the two names. */
  private link(a: Netns, addrA: string, b: Netns, addrB: string, len: number, mtu: number): [string, string] {
    const na = uniqueName('bv'), nb = uniqueName('bv');
    ip(['link', 'add', na, 'netns', a.name, 'type', 'veth', 'peer', 'name', nb, 'netns', b.name]);
    a.ip(['addr', 'add', `${addrA}/${len}`, 'dev', na]);
    b.ip(['addr', 'add', `${addrB}/${len}`, 'dev', nb]);
    a.ip(['link', 'set', na, 'mtu', String(mtu), 'up']);
    b.ip(['link', 'set', nb, 'mtu', String(mtu), 'up']);
    return [na, nb];
  }

  private vxlanUp(): void {
    for (const [ns, local, remote, dev, addr] of [
      [this.xtrA, UNDERLAY_A, UNDERLAY_B, this.underA, VX_A],
      [this.xtrB, UNDERLAY_B, UNDERLAY_A, this.underB, VX_B],
    ] as const) {
      ns.ip(['link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'local', local, 'remote', remote, 'dstport', '4789', 'dev', dev]);
      ns.ip(['addr', 'add', `${addr}/24`, 'dev', 'vx0']);
      ns.ip(['link', 'set', 'vx0', 'mtu', String(EID_MTU), 'up']);
    }
  }

  /** Routes the far sites for `v` and, for decent, starts both nodes and waits for traffic. */
  async use(v: Variant): Promise<void> {
    await this.stopXtrs();
    for (const [ns, far] of [[this.xtrA, SITE_B], [this.xtrB, SITE_A]] as const) {
      try { ns.ip(['route', 'del', far]); } catch { /* not routed yet */ }
    }
    // The variant's inner MTU, and nothing learned under the previous variant: path MTUs and
    // TCP metrics (ssthresh, RTT) cached for the far host would carry over into this one.
    for (const [ns, dev] of this.eidLinks) ns.ip(['link', 'set', dev, 'mtu', String(innerMtu(v))]);
    for (const ns of [this.hostA, this.hostB]) {
      ns.ip(['route', 'flush', 'cache']);
      try { ns.ip(['tcp_metrics', 'flush', 'all']); } catch { /* nothing cached */ }
    }
    if (v === 'veth') {
      this.xtrA.ip(['route', 'add', SITE_B, 'via', UNDERLAY_B]);
      this.xtrB.ip(['route', 'add', SITE_A, 'via', UNDERLAY_A]);
    } else if (v === 'vxlan') {
      this.xtrA.ip(['route', 'add', SITE_B, 'via', VX_B, 'dev', 'vx0']);
      this.xtrB.ip(['route', 'add', SITE_A, 'via', VX_A, 'dev', 'vx0']);
    } else if (v === 'wireguard-go') {
      this.xtrs = await startWireguardPair(this.dir, this.children,
        { ns: this.xtrA, rloc: UNDERLAY_A, site: SITE_A }, { ns: this.xtrB, rloc: UNDERLAY_B, site: SITE_B });
    } else {
      const suite = suiteOf(v);
      this.xtrs = [
        this.startDecent(this.xtrA, 'bench-a', SITE_A, UNDERLAY_A, SITE_B, UNDERLAY_B, v !== 'decent-nooffload', suite),
        this.startDecent(this.xtrB, 'bench-b', SITE_B, UNDERLAY_B, SITE_A, UNDERLAY_A, v !== 'decent-nooffload', suite),
      ];
      // encrypted: the far site is routed once the other member's registration arrived
      await this.waitRoute(suite ? 30_000 : 20_000);
    }
  }

  /** The tunnel processes of the current variant: decent or wireguard-go (none for veth and vxlan). */
  tunnelPids(): number[] {
    return this.xtrs.map((x) => x.child.pid ?? 0).filter((p) => p > 0);
  }

  /**
   * Encrypted variants: xTR A's send key to xTR B, from its API, once traffic crossed; throws
   * unless it is of the variant's suite and has sealed packets (the run measured what it says).
   */
  async sendKey(v: Variant): Promise<KeyStat> {
    const keys = await apiRequest<KeyStat[]>(path.join(this.dir, 'bench-a.sock'), 'GET', '/api/crypto', 2000);
    const k = keys.find((s) => s.direction === 'encap' && s.sending && s.peerRloc === UNDERLAY_B);
    if (!k || k.suite !== suiteOf(v) || k.encrypted === 0) {
      throw new Error(`${v}: expected a suite ${suiteOf(v)} send key with sealed packets, xTR A has ${JSON.stringify(keys)}`);
    }
    return k;
  }

  private startDecent(ns: Netns, name: string, eid: string, rloc: string, far: string, farRloc: string, offloads: boolean, suite: number): Xtr {
    const cfg = path.join(this.dir, `${name}.yaml`);
    const mapping = suite
      ? [
        // A group of two: each seeds the other, the far site comes from its registration and
        // the data plane seals with the keys of the RFC 8061 exchange (bound to the group).
        `decent: { group: 224.0.1.99, seeds: [${farRloc}] }`,
        'auth: { key: bench-group-key }',
        `crypto: { suites: [${suite}] }`,
        'dataplane:',
        '  encryption: required',
      ]
      : [
        // The control plane runs (alone in its group) but the static map-cache needs no lookups.
        'decent: { group: 224.0.1.99 }',
        'auth: { key: bench-not-used }',
        'dataplane:',
        `  routes: [${far}]`,
        `  static-map-cache: [{ eid: ${far}, rlocs: [${farRloc}] }]`,
        // static mode has no key exchange; this variant measures decent unencrypted
        '  encryption: off',
      ];
    fs.writeFileSync(cfg, [
      `name: ${name}`,
      `eids: [${eid}]`,
      `rlocs: { addresses: [${rloc}] }`,
      ...mapping,
      '  tun: decent0',
      `  mtu: ${DECENT_MTU}`,
      `  offloads: ${offloads}`,
      `api: { socket: ${path.join(this.dir, `${name}.sock`)} }`,
      'log: { level: warn }',
      '',
    ].join('\n'));
    const bin = path.resolve(__dirname, '../../../bin/decent');
    const child = this.children.track(ns.spawn([process.execPath, bin, 'run', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] }));
    const x: Xtr = { child, name, log: '' };
    child.stderr?.on('data', (d: Buffer) => { x.log = (x.log + d.toString()).slice(-4000); });
    return x;
  }

  /** Waits until both decent nodes have their TUN route in place (they add it once started). */
  private async waitRoute(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const dead = this.xtrs.find((x) => x.child.exitCode !== null || x.child.signalCode !== null);
      if (dead) throw new Error(`decent ${dead.name} exited: ${dead.log.trim().split('\n').slice(-3).join(' | ')}`);
      const ok = [[this.xtrA, SITE_B], [this.xtrB, SITE_A]].every(([ns, far]) => {
        try { return (ns as Netns).ip(['route', 'show', far as string]).includes('decent0'); } catch { return false; }
      });
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`decent did not install its routes within ${ms / 1000} s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stopXtrs(): Promise<void> {
    const xs = this.xtrs;
    this.xtrs = [];
    await Promise.all(xs.map((x) => new Promise<void>((resolve) => {
      if (x.child.exitCode !== null || x.child.signalCode !== null) { resolve(); return; }
      const t = setTimeout(() => x.child.kill('SIGKILL'), 5000);
      x.child.once('exit', () => { clearTimeout(t); resolve(); });
      x.child.kill('SIGTERM');
    })));
  }

  destroy(): void {
    this.children.killAll();
    for (const n of this.all.reverse()) n.destroy();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
