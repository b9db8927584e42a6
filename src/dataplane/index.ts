// The data plane (issue 4): TUN <-> LISP/UDP 4341 forwarding on the main thread with the
// native addon, the map-cache FIB, miss handling, ICMP too-big, and host routing.
//
//   const dp = createDataPlane(config, hooks);
//   await dp.start();                  // TUN up, EIDs on it, routes in, UDP 4341 bound, static FIB
//   dp.applyMapCache(event);           // from the control plane's MapCache listener
//   await dp.stop();                   // routes removed, TUN gone, sockets closed
//
// When the hooks fire (all on the main thread, never re-entrantly inside a packet loop):
// - onMiss(eid): after a TUN batch in which packets had no usable FIB entry (or a negative
//   send-map-request one); eid is the inner destination as a host EID ([iid]a.b.c.d/32 or /128),
//   at most once per second per EID. Up to 8 packets per EID (64 EIDs) wait ~1 s; an
//   applyMapCache('set') that resolves them sends them at once. Multicast/link-local never asks.
// - onEncapsulatedControl(packets, sources): LISP packets with instance-id 0xFFFFFF reached UDP
//   4341, each the whole UDP payload (LISP header + inner IP packet), with its outer source IP;
//   queued (bounded, ControlQueue) and handed over in batches after a receive batch, on
//   controlReady() and on the tick; returning false keeps them queued.
// - log(level, msg, fields): start/stop, route errors, rejected map-cache entries, loop errors.
// applyMapCache() and setRoutedEids() may be called before start() resolves (the FIB exists
// from construction; routed EIDs given before the TUN exists are installed by start()).
import { eidKey, type Eid } from '../mapping/eid';
import type { EidSpaceChange, MapCacheEntry, MapCacheEvent } from '../mapping/entry';
import { FibAction, FibWriter, formatIpv4, formatIpv6 } from '../mapping/fib';
import { DataPlaneCounters } from './counters';
import { ControlQueue } from './control-queue';
import { Decapsulator, RlocFilter } from './decap';
import { SourceFilter } from './sources';
import { AddressIndex } from './address-index';
import { Encapsulator } from './encap';
import { DataPlaneCrypto, SEAL_OVERHEAD_MAX, type KeyStat } from './crypto';
import type { KeyEvent } from '../crypto';
import { FibSync } from './fib-sync';
import { IcmpTooBig } from './icmp';
import { NATIVE_IO, type DataPlaneIo, type DatagramEndpoint, type RoutedDevice } from './io';
import { MissQueue } from './miss';
import { ADDR_STRIDE, AddressTable, Pool } from '../native';
import { DATA_PORT, DESC, D_ADDR, D_LEN, D_OFF } from './packet';
import { HostRoutes, hostAddresses, prefixText } from './routes';
import type { DataPlane, DataPlaneConfig, DataPlaneHooks, RelayPeers } from './types';

export type { DataPlane, DataPlaneConfig, DataPlaneHooks } from './types';
export { DataPlaneCounters } from './counters';
export type { DataPlaneIo, DatagramEndpoint, PacketDevice, RoutedDevice } from './io';

/**
 * Sending sockets per outer family, each on its own ephemeral port, chosen by the inner flow
 * hash (the outer UDP source port follows the flow, RFC 9300 §5.3).
 */
const SENDERS = 8;

/** Housekeeping period: miss-queue timeouts (the hold time is ~1 s, so 100 ms is precise enough). */
const TICK_MS = 100;

/** `io`: where the TUN and the UDP sockets come from (the addon; tests pass in-memory doubles). */
export function createDataPlane(config: DataPlaneConfig, hooks: DataPlaneHooks, io: DataPlaneIo = NATIVE_IO): DataPlane {
  return new LispDataPlane(config, hooks, io);
}

class LispDataPlane implements DataPlane {
  private readonly c = new DataPlaneCounters();
  private readonly sync: FibSync;
  private readonly local: FibWriter;
  private readonly miss = new MissQueue();
  private readonly controlQueue = new ControlQueue(this.c);
  private readonly handOver = (packets: readonly Uint8Array[], sources: readonly string[], ports: readonly number[]): boolean =>
    this.hooks.onEncapsulatedControl(packets, sources, ports);
  private readonly icmp: IcmpTooBig;
  private readonly rlocFilter = new RlocFilter();
  private readonly sourceFilter = new SourceFilter();
  /** As an RTR: the data port of each member behind NAT we relay for (sealed relaying, decap.ts). */
  private readonly relayTargets = new AddressIndex();
  /** The group members' RLOCs from the control plane; null = not told (accept any outer source). */
  private memberRlocs: readonly string[] | null = null;
  private tun: (RoutedDevice & { readonly stats: Readonly<Record<string, number>> }) | undefined;
  private udp4: DatagramEndpoint | undefined;
  private udp6: DatagramEndpoint | undefined;
  private tx4: DatagramEndpoint[] = [];
  private tx6: DatagramEndpoint[] = [];
  private txFrag4: DatagramEndpoint | undefined;
  private encap: Encapsulator | undefined;
  private routes: HostRoutes | undefined;
  private timer: NodeJS.Timeout | undefined;
  private flushQueued = false;
  /** The overlay's EID space to route into the TUN, by EID key (also before start()). */
  private readonly routedEids = new Map<string, Eid>();
  private lastFibExpire = 0;
  private rlocs: readonly string[];
  private readonly crypto: DataPlaneCrypto | undefined;
  private startedAt = Date.now();
  private behindNat = false;
  /** One slot and address entry for sendFromDataPort (a few datagrams per keepalive). */
  private readonly oneSlot = new Pool({ slots: 1, slotSize: 2048 + 64, headroom: 64 });
  private readonly oneAddr = new AddressTable(1);
  private readonly relay = { enabled: false, packet: (b: Buffer, at: number, len: number): void => this.encap?.stage(b, at, len, 0, 0), done: (): void => this.encap?.flushStaged() };

  constructor(private readonly config: DataPlaneConfig, private readonly hooks: DataPlaneHooks, private readonly io: DataPlaneIo) {
    const log = (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void => hooks.log(level, msg, fields);
    this.sync = new FibSync(log);
    this.local = new FibWriter({ maxEntries: 4096, maxInstances: 2, reclaimDelayMs: 0 });
    this.icmp = new IcmpTooBig(this.c);
    this.rlocFilter.set(config.rlocs);
    this.rlocs = config.rlocs;
    this.relay.enabled = config.rtr === true;
    const mode = config.encryption ?? 'off';
    this.crypto = mode === 'off' ? undefined : new DataPlaneCrypto(mode, 256, this.miss);
  }

  async start(): Promise<void> {
    if (this.tun) throw new Error('data plane already started');
    this.startedAt = Date.now();
    const cfg = this.config, log = this.hooks.log;
    for (const e of cfg.localEids) {
      const p = prefixText(e);
      if (p !== undefined) this.local.upsert({ iid: e.iid, prefix: p, ttlSeconds: 0, action: FibAction.NoAction });
    }
    for (const s of cfg.staticMapCache) this.sync.setStatic(s.eid, s.rlocs);
    // Forwarding looks up in config.instanceId only (one instance per node): say so when an EID
    // from the configuration was parsed into another instance and will never match.
    for (const [what, list] of [['localEids', cfg.localEids], ['staticMapCache', cfg.staticMapCache.map((x) => x.eid)]] as const) {
      for (const e of list) {
        if (e.iid !== cfg.instanceId) log('warn', `${what} entry is in instance-id ${e.iid} but the data plane forwards in ${cfg.instanceId}`, { eid: eidKey(e) });
      }
    }
    const tun = this.io.openDevice({ name: cfg.tun, mtu: cfg.mtu, addresses: hostAddresses(cfg.localEids), offloads: cfg.offloads });
    this.tun = tun;
    try {
      // One socket per family on the wildcard address, so every RLOC (and roaming to new ones)
      // receives without rebinding; the destination check uses IP_PKTINFO (RlocFilter).
      for (const family of [4, 6] as const) {
        try {
          const u = this.io.openEndpoint({ address: family === 4 ? '0.0.0.0' : '::', port: DATA_PORT, gso: cfg.offloads, gro: cfg.offloads });
          if (family === 4) this.udp4 = u; else this.udp6 = u;
        } catch (e) {
          log('warn', `no IPv${family} LISP data socket`, { error: (e as Error).message });
        }
      }
      if (!this.udp4 && !this.udp6) throw new Error(`cannot bind UDP port ${DATA_PORT} for LISP data on IPv4 or IPv6`);
      const gso = cfg.offloads && cfg.udpGso !== false;
      for (let k = 0; k < SENDERS; k++) {
        // send-only: no GRO, a small receive batch; the wildcard address lets the kernel pick
        // the outer source by route
        if (this.udp4) this.tx4.push(this.io.openEndpoint({ address: '0.0.0.0', port: 0, gso, gro: false, maxBatch: 1 }));
        if (this.udp6) this.tx6.push(this.io.openEndpoint({ address: '::', port: 0, gso, gro: false, maxBatch: 1 }));
      }
      // DF=0 for inner IPv4 packets without DF that do not fit (the senders above set DF=1)
      if (this.udp4) this.txFrag4 = this.io.openEndpoint({ address: '0.0.0.0', port: 0, gso: false, gro: false, maxBatch: 1, fragment: true });
      this.routes = new HostRoutes(tun, log);
      // Static mode: the static map-cache's EIDs are overlay EIDs like the learned ones, so
      // they are routed into the TUN by default (without a route the replies to packets we
      // decapsulated from those EIDs would never come back to us).
      this.routes.addStatic([...cfg.routes, ...cfg.staticMapCache.map((s) => s.eid)]);
      this.routes.setDynamic([...this.routedEids.values()]);
      const crypto = this.crypto;
      // the data sockets seal too: behind a NAT every datagram leaves from them (setSingleSource),
      // sealed for the member behind an RTR (relay shim) like any other
      if (crypto) for (const u of [...this.tx4, ...this.tx6, this.txFrag4, this.udp4, this.udp6]) u?.setKeys?.(crypto.table);
      const encap = new Encapsulator({
        tun, tx4: this.tx4, tx6: this.tx6, txFrag4: this.txFrag4, fib: this.sync.fib, miss: this.miss, icmp: this.icmp,
        counters: this.c, instanceId: cfg.instanceId, onMissDue: () => this.reportMisses(),
        afterClassify: crypto ? (b, n, now) => crypto.tag(b, n, now) : undefined,
        shimOwnToBindings: crypto !== undefined && cfg.rtr === true,
        sealOverhead: crypto ? SEAL_OVERHEAD_MAX : 0,
      });
      this.encap = encap;
      encap.setSources(this.rlocs);
      encap.setDataSockets(this.udp4, this.udp6);
      encap.setSingleSource(this.behindNat);
      // closures made once here, so a readiness event allocates nothing
      const drainEncap = (): void => encap.drain();
      tun.onReadable(() => this.guard(drainEncap), (m) => log('error', 'TUN readiness error', { error: m }));
      for (const udp of [this.udp4, this.udp6]) {
        if (!udp) continue;
        const decap = new Decapsulator({
          tun, udp, local: this.local, rlocs: this.rlocFilter, sources: this.sourceFilter, counters: this.c, instanceId: cfg.instanceId,
          mtu: cfg.mtu, onControl: (b, at, len, src, sport) => this.controlQueue.push(b, at, len, src, sport),
          open: crypto ? (p, n) => crypto.open(p, n) : undefined,
          relay: this.relay, relayFib: this.sync.fib, relayTargets: this.relayTargets, family: udp === this.udp6 ? 6 : 4,
        });
        const drainDecap = (): void => {
          decap.drain();
          this.controlReady();
        };
        udp.onReadable(() => this.guard(drainDecap), (m) => log('error', 'UDP readiness error', { error: m }));
      }
      this.timer = setInterval(() => this.tick(), TICK_MS);
      this.timer.unref();
      log('info', 'data plane started', {
        tun: tun.name, mtu: cfg.mtu, offloads: tun.offloads, instanceId: cfg.instanceId,
        udp4: this.udp4 !== undefined, udp6: this.udp6 !== undefined, staticEntries: this.sync.size, routes: this.routes.routes,
      });
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** A throw in a readiness callback would take the process down: count it, log it, go on. */
  private guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.c.ioErrors++;
      this.hooks.log('error', 'data plane loop error', { error: (e as Error).message });
    }
  }

  controlReady(): void {
    if (this.controlQueue.length > 0) this.controlQueue.drain(this.handOver);
  }

  private reportMisses(): void {
    const m = this.miss;
    m.report((s) => {
      const iid = m.slotIid(s);
      const eid: Eid = m.slotV4(s)
        ? { iid, kind: 'ipv4', address: formatIpv4(m.slotWord(s, 0)), maskLen: 32 }
        : { iid, kind: 'ipv6', address: formatIpv6([m.slotWord(s, 0), m.slotWord(s, 1), m.slotWord(s, 2), m.slotWord(s, 3)]), maskLen: 128 };
      this.c.missReported++;
      try {
        this.hooks.onMiss(eid);
      } catch (e) {
        this.hooks.log('warn', 'onMiss threw', { error: (e as Error).message });
      }
    });
  }

  /** Held packets whose EID now resolves go out; old ones are dropped. */
  private flushMisses(): void {
    const encap = this.encap;
    if (!encap || this.miss.pending === 0) return;
    if (encap.isBusy) {
      // applyMapCache called from inside a hook during a batch: the pool is in use, go next tick
      if (!this.flushQueued) {
        this.flushQueued = true;
        setImmediate(() => { this.flushQueued = false; this.flushMisses(); });
      }
      return;
    }
    const fib = this.sync.fib, m = this.miss, nowSec = Math.floor(Date.now() / 1000), crypto = this.crypto;
    const r = m.drain(Date.now(), (s) => {
      // a packet held for a LISP-crypto key: released once its RLOC has one (it is classified again)
      if (m.slotWaitsForKey(s)) return crypto !== undefined && crypto.hasSendKey(m.rlocEntries, s * ADDR_STRIDE);
      const iid = m.slotIid(s);
      const entry = m.slotV4(s) ? fib.lookup4(iid, m.slotWord(s, 0))
        : fib.lookup6(iid, m.slotWord(s, 0), m.slotWord(s, 1), m.slotWord(s, 2), m.slotWord(s, 3));
      if (entry < 0 || fib.entryExpired(entry, nowSec)) return false;
      const route = fib.route(entry);
      return fib.routeRlocCount(route) > 0 || fib.routeAction(route) !== FibAction.SendMapRequest;
    }, (arena, off, len, flags, gso) => encap.stage(arena, off, len, flags, gso));
    encap.flushStaged();
    this.c.missFlushed += r.delivered;
    this.c.missDropped += r.expired;
    if (crypto) {
      crypto.heldSent += r.keyDelivered;
      crypto.dropNoKey += r.keyExpired;
    }
  }

  private tick(): void {
    this.guard(() => {
      this.flushMisses();
      this.controlReady();
      const now = Date.now();
      if (now - this.lastFibExpire >= 1000) {
        this.lastFibExpire = now;
        this.sync.expire();
      }
    });
  }

  applyMapCache(event: MapCacheEvent): void {
    this.sync.apply(event);
    if (event.op === 'set' && this.miss.pending > 0) this.flushMisses();
  }

  setRoutedEids(eids: readonly Eid[]): void {
    this.changeRoutedEids({ replace: true, added: eids, removed: [] });
  }

  changeRoutedEids(change: EidSpaceChange): void {
    if (change.replace) {
      this.routedEids.clear();
      for (const e of change.added) this.routedEids.set(eidKey(e), e);
      this.routes?.setDynamic(change.added);
      return;
    }
    for (const e of change.removed) this.routedEids.delete(eidKey(e));
    for (const e of change.added) this.routedEids.set(eidKey(e), e);
    this.routes?.changeDynamic(change.added, change.removed);
  }

  setRlocs(rlocs: readonly string[]): void {
    this.rlocFilter.set(rlocs);
    this.rlocs = rlocs;
    this.encap?.setSources(rlocs);
    this.updateSources();
  }

  setBehindNat(behind: boolean): void {
    if (behind !== this.behindNat) this.hooks.log('info', behind ? 'behind NAT: all data leaves from the data socket (UDP 4341)' : 'not behind NAT: per-flow source ports again');
    this.behindNat = behind;
    this.encap?.setSingleSource(behind);
  }

  sendFromDataPort(dst: string, port: number, bytes: Uint8Array): void {
    const u = dst.includes(':') ? this.udp6 : this.udp4, p = this.oneSlot;
    if (!u || bytes.length > p.slotSize - p.headroom || port < 1 || port > 65535) {
      this.c.ioErrors++;
      return;
    }
    p.desc.fill(0, 0, DESC);
    p.desc[D_LEN] = bytes.length;
    p.desc[D_OFF] = p.headroom;
    p.desc[D_ADDR] = 0;
    p.data.set(bytes, p.headroom);
    this.oneAddr.set(0, dst, port);
    u.send(p, 1, this.oneAddr);
  }

  setRelayPeers(peers: RelayPeers): void {
    this.crypto?.setRtrs(peers.rtrs);
    this.relayTargets.replace(peers.targets.map((t) => [t.address, t.port] as const));
  }

  setMemberRlocs(rlocs: readonly string[] | null): void {
    this.memberRlocs = rlocs;
    this.updateSources();
  }

  private updateSources(): void {
    const m = this.memberRlocs;
    this.sourceFilter.set(m === null ? null : [...m, ...this.config.staticMapCache.flatMap((s) => s.rlocs), ...this.rlocs]);
  }

  applyKeyEvent(e: KeyEvent): string | undefined {
    const err = this.crypto?.apply(e);
    // packets held for this RLOC's key go now (sealed), not at the next tick
    if (e.action === 'install' && e.direction === 'encap' && this.miss.pending > 0) this.flushMisses();
    return err;
  }

  keyStats(): KeyStat[] {
    return this.crypto?.keyStats() ?? [];
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = this.c.snapshot();
    if (this.crypto) Object.assign(out, this.crypto.counters());
    out.fibEntries = this.sync.size;
    out.localEids = this.local.size;
    out.missPending = this.miss.pending;
    out.missHeldNow = this.miss.heldPackets;
    out.controlQueued = this.controlQueue.length;
    out.routes = this.routes?.routes.length ?? 0;
    out.allowedSources = this.sourceFilter.size;
    const io = (prefix: string, stats: Record<string, number> | undefined): void => {
      if (stats) for (const [k, v] of Object.entries(stats)) out[`${prefix}.${k}`] = v;
    };
    io('tun', this.tun?.stats);
    io('udp4', this.udp4?.stats);
    io('udp6', this.udp6?.stats);
    for (const [name, list] of [['tx4', this.tx4], ['tx6', this.tx6], ['txFrag4', this.txFrag4 ? [this.txFrag4] : []]] as const) {
      for (const u of list) for (const [k, v] of Object.entries(u.stats)) out[`${name}.${k}`] = (out[`${name}.${k}`] ?? 0) + v;
    }
    return out;
  }

  staticEntries(): MapCacheEntry[] {
    return this.config.staticMapCache.map((s) => ({
      eid: s.eid, key: eidKey(s.eid), rlocs: s.rlocs.map((address) => ({ address, priority: 1, weight: 1, up: true })),
      action: 0, negative: false, ttlMs: 0, createdAt: this.startedAt, updatedAt: this.startedAt, expiresAt: 0, source: 'static',
    }));
  }

  entryCounters(): Record<string, { packets: number; bytes: number }> {
    return this.sync.entryCounters();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.routes?.removeAll();
    this.routes = undefined;
    this.udp4?.close();
    this.udp6?.close();
    this.udp4 = this.udp6 = undefined;
    for (const u of [...this.tx4, ...this.tx6]) u.close();
    this.txFrag4?.close();
    this.tx4 = [];
    this.tx6 = [];
    this.txFrag4 = undefined;
    // a non-persistent TUN disappears with its fd, taking its addresses along
    this.tun?.close();
    this.tun = undefined;
    this.encap = undefined;
    this.controlQueue.clear();
  }
}
