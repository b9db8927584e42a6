// A simulated underlay for control-plane tests: a virtual clock and in-memory delivery between
// ControlNodes, addressed by RLOC. Deterministic and fast; the netns tests cover real sockets.
import { DEFAULT_TIMERS, type ControlConfig } from '../../src/control/config';
import { parseEid } from '../../src/mapping/eid';
import type { MapCacheEvent } from '../../src/control/map-cache';
import type { EidSpaceChange } from '../../src/mapping/entry';
import { ControlNode, type ControlEnv } from '../../src/control/node';
import type { CryptoConfig, KeyEvent } from '../../src/control/keys';
import type { RelayPeers } from '../../src/control/protocol';
import { decodeControl, decodeData, encodeData } from '../../src/wire';
import { MessageTally } from './message-tally';

interface Timer { at: number; seq: number; fn: () => void; cancelled: boolean }

const earlier = (a: Timer, b: Timer): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/** A binary min-heap of timers by (time, creation order): large groups keep 10⁵ timers pending. */
class TimerHeap {
  private readonly items: Timer[] = [];

  get size(): number {
    return this.items.length;
  }

  push(t: Timer): void {
    const h = this.items;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  peek(): Timer | undefined {
    return this.items[0];
  }

  pop(): Timer | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && earlier(h[l], h[m])) m = l;
        if (r < h.length && earlier(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

export interface SimNetOptions {
  /** Keep every datagram in `wire` (codec checks); off for large groups, where `tally` counts them. */
  readonly keepWire?: boolean;
  /** Extra delay per datagram in ms (default none): with varying values, datagrams overtake each other. */
  readonly jitterMs?: () => number;
}

export class SimNet {
  now = 0;
  private seq = 0;
  private readonly timers = new TimerHeap();
  readonly nodes = new Map<string, ControlNode>();
  readonly latencyMs = 1;
  /** Every datagram put on the simulated wire, for codec checks (unless keepWire is false). */
  readonly wire: { from: string; to: string; port: number; bytes: Buffer; at: number; data?: boolean }[] = [];
  /** Counts of every datagram sent: per node, per type, the largest. */
  readonly tally = new MessageTally();
  private readonly keepWire: boolean;
  private readonly jitterMs: () => number;

  constructor(opts: SimNetOptions = {}) {
    this.keepWire = opts.keepWire ?? true;
    this.jitterMs = opts.jitterMs ?? (() => 0);
  }

  private put(from: string, to: string, port: number, bytes: Buffer, data = port === 4341): void {
    this.tally.record(from, to, port, bytes);
    if (this.keepWire) this.wire.push({ from, to, port, bytes, at: this.now, data });
  }
  readonly mapCacheEvents = new Map<string, MapCacheEvent[]>();
  /** The data plane's relay peers (RTRs, relay targets) per node name, as last published. */
  readonly relayPeers = new Map<string, RelayPeers>();
  /** LISP-crypto key-table events per node name. */
  readonly keyEvents = new Map<string, KeyEvent[]>();
  /** Names for pull mode's Map-Server sets. */
  readonly dns = new Map<string, string[]>();
  /** How long a DNS answer takes (simulated ms), and how many queries were made per name. */
  dnsDelayMs = 0;
  readonly dnsQueries = new Map<string, number>();
  /** Nodes behind a NAT: private RLOC → the address and port their control packets leave with. */
  readonly nat = new Map<string, { address: string; port: number }>();

  /** Like until(), but lets promises (DNS lookups) settle between steps. */
  async untilAsync(done: () => boolean, maxMs: number, stepMs = 10): Promise<number> {
    const start = this.now;
    while (this.now - start <= maxMs) {
      await new Promise((r) => setImmediate(r));
      if (done()) return this.now - start;
      this.advance(stepMs);
    }
    return done() ? this.now - start : -1;
  }

  schedule(fn: () => void, ms: number): Timer {
    const t = { at: this.now + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(t);
    return t;
  }

  /** Timers not yet run (cancelled ones included until they come due). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Runs timers in time order until `ms` of virtual time have passed. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const next = this.timers.peek();
      if (!next || next.at > end) break;
      this.timers.pop();
      if (next.cancelled) continue;
      this.now = next.at;
      next.fn();
    }
    this.now = end;
  }

  /** Advances in small steps until `done()` holds; returns the virtual time it took, or -1. */
  until(done: () => boolean, maxMs: number, stepMs = 10): number {
    const start = this.now;
    while (this.now - start <= maxMs) {
      if (done()) return this.now - start;
      this.advance(stepMs);
    }
    return done() ? this.now - start : -1;
  }

  /** Datagrams this returns true for are sent (and counted) but never arrive: a lossy or cut path. */
  dropIf?: (from: string, to: string) => boolean;

  private lost(from: string, to: string): boolean {
    return this.dropIf?.(from, to) ?? false;
  }

  private deliver(to: string, fn: (n: ControlNode) => void): void {
    this.schedule(() => {
      const node = this.nodes.get(to);
      if (node) fn(node);
    }, this.latencyMs + this.jitterMs());
  }

  /** The EID-space changes each node gave its data plane (ControlEnv.eidSpaceChanged), in order. */
  readonly eidSpaceChanges = new Map<string, EidSpaceChange[]>();

  /**
   * NATs let in control messages only at the translated port their member's own messages left
   * from (a real NAT's behaviour; the default model lets everything to the address through).
   */
  strictNat = false;
  /** Control messages a strict NAT dropped. */
  natDropped = 0;

  /** The last natChanged(behind) each node told its data plane. */
  readonly natChanges = new Map<string, boolean>();
  /** The last member RLOC set each node gave its data plane (ControlEnv.memberRlocsChanged). */
  readonly memberRlocs = new Map<string, readonly string[]>();

  envFor(name: string, rloc: () => string): ControlEnv {
    const events: MapCacheEvent[] = [];
    this.mapCacheEvents.set(name, events);
    const keyEvents: KeyEvent[] = [];
    this.keyEvents.set(name, keyEvents);
    const eidSpace: EidSpaceChange[] = [];
    this.eidSpaceChanges.set(name, eidSpace);
    return {
      now: () => this.now,
      setTimeout: (fn, ms) => this.schedule(fn, ms),
      clearTimeout: (h) => {
        (h as Timer).cancelled = true;
      },
      sendControl: (dst, port, bytes) => {
        const translated = this.nat.get(rloc());
        const from = translated?.address ?? rloc();
        this.put(from, dst, port, bytes);
        if (this.strictNat && [...this.nat.values()].some((m) => m.address === dst && m.port !== port)) {
          this.natDropped++;
          return;
        }
        if (!this.lost(from, dst)) this.deliver(dst, (n) => n.receiveControl(bytes, from, translated?.port ?? 4342));
      },
      sendEncapsulated: (dst, inner) => {
        const from = rloc();
        const bytes = encodeData({
          type: 'data',
          header: { noncepresent: true, lsbEnabled: false, echoNonce: false, mapVersioning: false, iidPresent: true, keyId: 0, nonce: 0xc0de, iid: 0xffffff, lsb: 0 },
          payload: inner,
        });
        this.put(from, dst, 4341, bytes);
        if (!this.lost(from, dst)) this.deliver(dst, (n) => n.receiveEncapsulated(bytes, from));
      },
      // Behind a NAT the data socket has a binding of its own: the control port's + 1 here.
      sendFromDataPort: (dst, port, bytes) => {
        const translated = this.nat.get(rloc());
        const from = translated?.address ?? rloc();
        this.put(from, dst, port, bytes, true);
        if (!this.lost(from, dst)) this.deliver(dst, (n) => n.receiveEncapsulated(bytes, from, translated ? translated.port + 1 : 4341));
      },
      natChanged: (behind) => this.natChanges.set(name, behind),
      relayPeersChanged: (peers) => this.relayPeers.set(name, peers),
      mapCacheChanged: (e) => events.push(e),
      cryptoKeysChanged: (e) => keyEvents.push(e),
      eidSpaceChanged: (c) => eidSpace.push(c),
      memberRlocsChanged: (rlocs) => this.memberRlocs.set(name, rlocs),
      resolveName: async (name) => {
        this.dnsQueries.set(name, (this.dnsQueries.get(name) ?? 0) + 1);
        if (this.dnsDelayMs > 0) await new Promise<void>((r) => this.schedule(r, this.dnsDelayMs));
        const a = this.dns.get(name);
        if (!a) throw new Error(`NXDOMAIN ${name}`);
        return a;
      },
      log: () => undefined,
    };
  }

  addNode(config: ControlConfig): ControlNode {
    const holder: { node?: ControlNode } = {};
    const node = new ControlNode(config, this.envFor(config.name, () => holder.node?.rlocs[0] ?? config.rlocs[0]));
    holder.node = node;
    for (const r of config.rlocs) this.nodes.set(r, node);
    return node;
  }

  /** Moves a node to a new RLOC on the simulated underlay and tells it (roaming). */
  move(node: ControlNode, to: string): void {
    for (const [addr, n] of this.nodes) if (n === node) this.nodes.delete(addr);
    this.nodes.set(to, node);
    node.setRlocs([to]);
  }

  /**
   * Puts a node behind a NAT: its control packets leave from `address`:`port`, and what is sent
   * to `address` reaches it (an endpoint-independent mapping). Called again, it rebinds.
   */
  behindNat(node: ControlNode, address: string, port: number): void {
    const old = this.nat.get(node.rlocs[0]);
    if (old) this.nodes.delete(old.address);
    this.nat.set(node.rlocs[0], { address, port });
    this.nodes.set(address, node);
  }

  /** Takes a node off the wire without a goodbye (SIGKILL). */
  kill(node: ControlNode): void {
    for (const [addr, n] of this.nodes) if (n === node) this.nodes.delete(addr);
    node.stop(false);
  }

  /** Checks every datagram sent so far decodes with our codec; returns the failures. */
  undecodable(): string[] {
    const bad: string[] = [];
    for (const w of this.wire) {
      try {
        if (w.data ?? w.port === 4341) decodeData(w.bytes);
        else decodeControl(w.bytes);
      } catch (e) {
        bad.push(`${w.from}->${w.to}:${w.port} ${(e as Error).message}`);
      }
    }
    return bad;
  }
}

export interface SimNodeOptions {
  name: string;
  rloc: string;
  eids: string[];
  seeds: string[];
  key?: string;
  group?: string;
  ttlMs?: number;
  registerIntervalMs?: number;
  lispers?: boolean;
  allowed?: string[];
  crypto?: CryptoConfig;
}

export function simConfig(o: SimNodeOptions): ControlConfig {
  return {
    name: o.name,
    eids: o.eids.map((e) => parseEid(e)),
    rlocs: [o.rloc],
    group: { address: o.group ?? '224.1.1.1', replication: 'her', seeds: o.seeds, instanceId: 0 },
    auth: { key: o.key ?? 'decent-password', keyId: 0, algorithm: 2 },
    policy: { allowed: (o.allowed ?? []).map((e) => parseEid(e)), acceptUnauthenticatedGroupJoins: false },
    timers: {
      ...DEFAULT_TIMERS,
      registerIntervalMs: o.registerIntervalMs ?? DEFAULT_TIMERS.registerIntervalMs,
      registrationTtlMs: o.ttlMs ?? DEFAULT_TIMERS.registrationTtlMs,
      probeIntervalMs: 0,
    },
    xtrId: BigInt(`0x${Buffer.from(o.name).toString('hex')}`),
    siteId: 0n,
    lispers: o.lispers ?? false,
    ...(o.crypto ? { crypto: o.crypto } : {}),
  };
}
