// A LISP-Decent node's control plane (RFC 9962): dispatch and life cycle. Each role lives in its
// own file — the ETR's registrations (etr.ts), the Map-Server (map-server.ts, policy.ts), the
// Map-Resolver (map-resolver.ts), the ITR's map-cache (itr.ts), RLOC reachability (probing.ts) —
// and the mode-specific part of the mapping system behind one interface (decent/push.ts,
// decent/pull.ts). The node does no I/O of its own: the environment sends datagrams, runs timers
// and receives map-cache changes, so the same code runs in the control worker and in SimNet tests.
import { isIPv4 } from 'node:net';
import { WireError, decodeControl, decodeData, decodeInnerUdp, type ControlMessage } from '../wire';
import type { ControlConfig } from './config';
import type { ControlEnv, LigResult, NodeContext, Via } from './context';
import { COUNTER_NAMES, type CounterName } from './counters';
import { LigTimeoutError } from './errors';
import { PullMappingSystem } from './decent/pull';
import { PushMappingSystem } from './decent/push';
import type { MappingSystem } from './decent/mapping-system';
import { Etr } from './etr';
import { Itr } from './itr';
import { Jitter } from './jitter';
import { KeyExchange } from './keys';
import { MapCache } from './map-cache';
import { MapResolver } from './map-resolver';
import { MapServer } from './map-server';
import { DirectPaths, dataPortMessage } from './direct';
import { NatTraversal, type NatStatus } from './nat';
import { RTR_PRIORITY, RtrRole, withRelayTargets } from './rtr';
import { CONTROL_PORT, HER_IID } from './ports';
import { Probing } from './probing';
import { Admission } from './admission';
import { SiteCache } from './site-cache';
import { eidKey, isMulticastAddress, type Eid } from '../mapping/eid';
import type { MapCacheEntry, MapCacheRloc } from '../mapping/entry';
import type { LocatorRecord } from '../wire';

export { CONTROL_PORT, DATA_PORT, HER_IID } from './ports';
export { COUNTER_NAMES, type CounterName } from './counters';
export type { ControlEnv, LigResult, LogLevel, Via } from './context';

/** Site-cache changes within this window make one relay-peer publication to the data plane. */
const RELAY_PEERS_DEBOUNCE_MS = 50;

export class ControlNode implements NodeContext {
  readonly siteCache = new SiteCache();
  readonly mapCache: MapCache;
  readonly counters = new Map<CounterName, number>(COUNTER_NAMES.map((n) => [n, 0]));
  readonly groupEid: Eid;
  readonly groupKey: string;
  readonly startedAt: number;

  private readonly admission: Admission;
  private readonly probing: Probing;
  readonly keys: KeyExchange;
  private readonly itr: Itr;
  private readonly etr: Etr;
  private readonly mapServer: MapServer;
  private readonly mapResolver: MapResolver;
  private readonly mapping: MappingSystem;
  private readonly nat: NatTraversal;
  private readonly rtr: RtrRole;
  private readonly direct: DirectPaths;
  private rlocList: string[];
  private periodicTimer: unknown;
  private readonly jitter: Jitter;
  private expiryTimer: unknown;
  private isRunning = false;
  private lastRelayPeers = '';
  private relayPeersTimer: unknown;

  readonly env: ControlEnv;

  constructor(public config: ControlConfig, env: ControlEnv) {
    this.jitter = new Jitter(config.xtrId);
    // As an RTR, a Map-Notify (member lists, acknowledgements) to a member behind NAT goes to the
    // port its NAT lets our 4342 in (rtr.ts): its 4342 is unreachable from outside.
    this.env = {
      ...env,
      sendControl: (dst, port, bytes) => env.sendControl(dst, port === CONTROL_PORT && (bytes[0] >> 4 === 4 || bytes[0] >> 4 === 1) ? this.rtr.controlPortFor(dst) ?? port : port, bytes),
    };
    this.rlocList = [...config.rlocs];
    this.mapCache = new MapCache((e) => env.mapCacheChanged(e));
    const g = config.group.address;
    this.groupEid = {
      iid: config.group.instanceId, kind: 'group',
      source: isIPv4(g) ? '0.0.0.0' : '::', sourceMaskLen: 0, group: g, groupMaskLen: isIPv4(g) ? 32 : 128,
    };
    this.groupKey = eidKey(this.groupEid);
    this.startedAt = env.now();
    this.admission = new Admission(this, (ip) => this.mapping.isMember(ip));
    this.probing = new Probing(this);
    this.keys = new KeyExchange(this, config.crypto ?? { mode: 'off' });
    this.nat = new NatTraversal(this, () => this.natChanged());
    this.rtr = new RtrRole(this);
    this.direct = new DirectPaths(this, () => this.nat.registration(), () => this.itr.followSiteCache());
    this.itr = new Itr(this, this.probing, (locators, rlocs) => this.forwardingRlocs(locators, rlocs));
    this.etr = new Etr(this, () => this.mapping, this.keys, () => this.nat.registration());
    this.mapServer = new MapServer(this);
    this.mapResolver = new MapResolver(this, (eid) => this.resolve(eid), this.keys);
    this.mapping = config.mode === 'pull' && config.pull
      ? new PullMappingSystem(this, config.pull, this.etr, this.itr)
      : new PushMappingSystem(this, this.etr, this.mapServer, this.itr);
  }

  get rlocs(): readonly string[] {
    return this.rlocList;
  }

  get running(): boolean {
    return this.isRunning;
  }

  get registeredRlocs(): readonly string[] {
    const nat = this.nat.registration();
    return nat ? [nat.global] : this.rlocList;
  }

  count(name: CounterName, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  // -------------------------------------------------------------------------------------------
  // Life cycle

  start(): void {
    if (this.isRunning) return;
    this.isRunning = true;
    const t = this.config.timers;
    this.registerRound('start');
    this.mapping.start();
    // Jittered (jitter.ts), and paced: a refresh need not reach every member in the same instant.
    const periodic = (): void => {
      this.registerRound('periodic', true);
      if (this.isRunning) this.mapping.periodic();
      this.periodicTimer = this.env.setTimeout(periodic, this.jitter.period(t.registerIntervalMs));
    };
    this.periodicTimer = this.env.setTimeout(periodic, this.jitter.period(t.registerIntervalMs));
    const scan = (): void => {
      this.expire();
      this.expiryTimer = this.env.setTimeout(scan, t.expiryScanMs);
    };
    this.expiryTimer = this.env.setTimeout(scan, t.expiryScanMs);
    this.probing.start();
    this.nat.start();
    this.direct.start();
    this.keys.start();
  }

  /** Stops timers; with `withdraw`, tells every member first (Record TTL 0) so they drop us at once. */
  stop(withdraw = true): void {
    if (!this.isRunning) return;
    if (withdraw) this.mapping.register(0, this.config.eids, 'withdraw');
    this.isRunning = false;
    for (const t of [this.periodicTimer, this.expiryTimer, this.relayPeersTimer]) if (t !== undefined) this.env.clearTimeout(t);
    this.relayPeersTimer = undefined;
    this.mapping.stop();
    this.probing.stop();
    this.nat.stop();
    this.direct.stop();
    this.keys.stop();
    this.mapServer.stop();
    this.itr.stop();
  }

  /**
   * A new configuration (SIGHUP): EIDs no longer configured are withdrawn at once (Record TTL 0),
   * then everything is registered again under the new settings. RLOCs and the xTR-ID stay.
   */
  reconfigure(next: ControlConfig): void {
    const keep = new Set(next.eids.map(eidKey));
    const removed = this.config.eids.filter((e) => !keep.has(eidKey(e)));
    if (removed.length && this.isRunning) this.mapping.register(0, removed, 'withdraw removed EIDs', false);
    this.config = { ...next, xtrId: this.config.xtrId, rlocs: this.rlocList };
    this.env.log('info', 'configuration reloaded', { eids: next.eids.map(eidKey), withdrawn: removed.map(eidKey) });
    this.registerRound('reconfigure');
    this.mapResolver.sendSmrs();
  }

  /**
   * Roaming and multihoming (RFC 9962 §4): new RLOCs re-register at once, so every member's
   * Map-Server replaces this xTR-ID's RLOC-set and RLE entry, and their ITRs follow.
   */
  setRlocs(rlocs: readonly string[]): void {
    const next = [...rlocs];
    if (next.join(',') === this.rlocList.join(',')) return;
    this.env.log('info', 'RLOCs changed, re-registering', { from: this.rlocList, to: next });
    this.rlocList = next;
    this.registerRound('rloc change');
    this.mapResolver.sendSmrs();
  }

  private registerRound(reason: string, paced = false): void {
    if (!this.isRunning) return;
    this.mapping.register(this.config.timers.registrationTtlMs, this.config.eids, reason, true, paced);
  }

  private expire(): void {
    const now = this.env.now();
    const changed = this.siteCache.expire(now, this.config.lispers);
    if (changed.length) {
      this.siteCacheChanged();
      if (changed.includes(this.groupKey)) this.groupChanged();
    }
    this.mapping.expireMapCache(now);
  }

  // -------------------------------------------------------------------------------------------
  // Events between roles (NodeContext)

  siteCacheChanged(): void {
    this.rtr.siteCacheChanged();
    this.direct.siteCacheChanged();
    this.itr.followSiteCache();
    this.publishRelayPeersSoon();
  }

  /**
   * Site-cache changes within RELAY_PEERS_DEBOUNCE_MS make one relay-peer publication: relayPeers
   * scans the whole site cache, and once per registration it made building a group of N cost O(N³)
   * (issue 17; two thirds of the CPU building 300 simulated members).
   */
  private publishRelayPeersSoon(): void {
    if (this.relayPeersTimer !== undefined || !this.env.relayPeersChanged) return;
    this.relayPeersTimer = this.env.setTimeout(() => {
      this.relayPeersTimer = undefined;
      this.publishRelayPeers();
    }, RELAY_PEERS_DEBOUNCE_MS);
  }

  /** The data plane's relay peers (rtr.ts relayPeers), when they changed. */
  private publishRelayPeers(): void {
    if (!this.env.relayPeersChanged) return;
    const peers = this.rtr.relayPeers(this.nat.outboundRtrs());
    const text = JSON.stringify(peers);
    if (text === this.lastRelayPeers) return;
    this.lastRelayPeers = text;
    this.env.relayPeersChanged(peers);
  }

  /**
   * What the ITR forwards with for a registered RLOC-set: behind a NAT, straight to a member behind
   * NAT whose probes we answered (direct.ts), else through our RTRs; as an RTR, to a member behind
   * NAT at its translated port; else to its RTRs only (rtr.ts).
   */
  private forwardingRlocs(locators: readonly LocatorRecord[], rlocs: readonly MapCacheRloc[]): MapCacheRloc[] {
    const via = this.nat.outboundRtrs();
    if (via.length > 0 && rlocs.length > 0) {
      const direct = this.direct.forwarding(locators);
      if (direct) return direct;
      return withRelayTargets(via.map((address) => ({ address, priority: RTR_PRIORITY, weight: 100, up: !this.probing.downRlocs.has(address) })), rlocs);
    }
    return this.rtr.forwardingRlocs(locators, rlocs);
  }

  /** Behind a NAT or no longer, another translated address, other RTRs: register and forward accordingly. */
  private natChanged(): void {
    this.env.natChanged?.(this.nat.registration() !== undefined);
    this.registerRound('NAT change');
    this.siteCacheChanged();
  }

  groupChanged(): void {
    this.mapping.groupChanged();
  }

  memberRegistered(rloc: string, via: Via, newRegistrant: boolean): void {
    this.mapping.memberRegistered(rloc, via, newRegistrant);
  }

  isRegisteredRloc(ip: string): boolean {
    return this.admission.isRegistered(ip);
  }

  rlocReachable(rloc: string): void {
    this.probing.answered(rloc);
  }

  deliverLocally(bytes: Uint8Array): void {
    this.handleControl(bytes, this.rlocList[0] ?? '127.0.0.1', CONTROL_PORT, 'local');
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  /** A UDP datagram that arrived on the control port (or the registration source port). */
  receiveControl(bytes: Uint8Array, src: string, sport: number): void {
    if (!this.admission.admit(src)) return;
    this.handleControl(bytes, src, sport, isMulticastAddress(src) ? 'multicast' : 'udp');
  }

  /**
   * A LISP data packet handed over by the data plane (or our own 4341 socket in control-only
   * mode). Only instance-id 0xFFFFFF with a multicast inner destination on port 4342 is ours
   * (RFC 9962 §4.2: head-end replication); the rest is not control traffic.
   */
  receiveEncapsulated(bytes: Uint8Array, outerSrc: string, outerPort = 0): boolean {
    let inner: ReturnType<typeof decodeInnerUdp>;
    try {
      const d = decodeData(bytes);
      if (!d.header.iidPresent || d.header.iid !== HER_IID) return false;
      // The budget keys on the outer source: the inner one is the sender's choice.
      if (!this.admission.admit(outerSrc)) return true;
      // lispers' form for control messages on a data port (draft-farinacci-lisp-lispers-net-nat):
      // the message right after the data header, no inner IP; its outer port is the NAT's
      // translation. Info-Requests to an RTR and its answers (nat.ts, rtr.ts), direct-path
      // RLOC-probes and their replies (direct.ts).
      const m = dataPortMessage(d.payload);
      if (m !== undefined) {
        if (m.type === 'info-request' && this.config.nat?.rtr === true) {
          this.rtr.learn(m, outerSrc, outerPort, true);
          this.nat.onDataPortInfoRequest(m, outerSrc, outerPort);
        } else if (m.type === 'info-reply') this.nat.onInfoReply(m, outerSrc, true);
        else if (m.type === 'map-request') this.direct.onProbe(m, outerSrc, outerPort);
        else if (m.type === 'map-reply') this.direct.onProbeReply(m, outerSrc, outerPort);
        else this.count('her.rejected');
        return true;
      }
      inner = decodeInnerUdp(d.payload);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      this.count('her.rejected');
      this.env.log('debug', 'malformed replicated packet', { from: outerSrc, error: e.message });
      return true;
    }
    if (inner.header.destinationPort !== CONTROL_PORT || !isMulticastAddress(inner.header.destination)) {
      this.count('her.rejected');
      return true;
    }
    this.count('her.received');
    this.handleControl(inner.payload, inner.header.source, inner.header.sourcePort, 'her');
    return true;
  }

  private handleControl(bytes: Uint8Array, src: string, sport: number, via: Via): void {
    let m: ControlMessage;
    try {
      m = decodeControl(bytes);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      this.count('control.malformed');
      this.env.log('debug', 'malformed control message', { from: `${src}:${sport}`, error: e.message });
      return;
    }
    switch (m.type) {
      case 'map-register':
        if (this.mapServer.onMapRegister(m, bytes, src, sport, via)) this.rtr.registerAccepted(m, bytes);
        return;
      case 'map-notify':
        this.etr.onMapNotify(m, bytes, src);
        return;
      case 'map-notify-ack':
        this.mapServer.onMapNotifyAck(m, bytes);
        return;
      case 'map-request':
        this.mapResolver.onMapRequest(m, src, sport, { outerSource: src, requestBytes: bytes.length });
        return;
      case 'map-reply':
        this.count('reply.received');
        if (this.keys.onReply(m, src)) {
          this.probing.answered(src);
          return;
        }
        if (m.probe) this.probing.probeReplied(m.nonce, src);
        this.mapping.replyArrived(m);
        this.itr.ligAnswered(m, src);
        return;
      case 'info-request':
        this.nat.onInfoRequest(m, src, sport);
        if (via === 'udp') this.rtr.learn(m, src, sport, false);
        return;
      case 'info-reply':
        this.nat.onInfoReply(m, src);
        return;
      case 'ecm':
        if (this.rtr.relayRequest(m, src, bytes)) return;
        if (m.message?.type === 'map-request' && m.inner) {
          // We are the Map-Resolver: answer to the inner source port (RFC 9301 §5.8).
          this.mapResolver.onMapRequest(m.message, m.inner.source, m.inner.sourcePort, { outerSource: src, requestBytes: bytes.length });
        } else if (m.message?.type === 'map-reply' && m.inner && this.nat.outboundRtrs().includes(src)) {
          // Behind NAT: a LISP-crypto reply from a member behind another NAT, relayed by our RTR
          // (keys.ts); the inner source is the ETR (its key must still match its registration).
          this.count('reply.received');
          if (!this.keys.onReply(m.message, m.inner.source)) this.count('control.unexpected');
        } else {
          this.count('control.unexpected');
        }
        return;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Requests from the operator and the data plane

  /** What the ITR forwards with for `eid` (pull mode may install it later). */
  resolve(eid: Eid): MapCacheEntry | undefined {
    return this.mapping.resolve(eid);
  }

  /**
   * An operator's lookup. Without a resolver: the ones the mapping system names (pull mode: the
   * EID's Map-Server set, each in turn after a timeout), else our own RLOC.
   */
  async lig(eid: Eid, resolver: string | undefined, timeoutMs = 2000): Promise<LigResult> {
    if (resolver) return this.itr.lig(eid, resolver, timeoutMs);
    const chosen = await this.mapping.resolversFor(eid);
    const candidates = chosen.length ? chosen : this.rlocList.slice(0, 1);
    if (candidates.length === 0) throw new Error('no RLOC to ask from');
    const unanswered: string[] = [];
    for (const r of candidates) {
      try {
        return { ...(await this.itr.lig(eid, r, timeoutMs)), unanswered };
      } catch (e) {
        if (!(e instanceof LigTimeoutError)) throw e;
        unanswered.push(r);
      }
    }
    throw new LigTimeoutError(unanswered.length > 1
      ? `no Map-Reply from any Map-Resolver of the EID's set (${unanswered.join(', ')}) within ${timeoutMs} ms each`
      : `no Map-Reply from ${unanswered[0]} within ${timeoutMs} ms`);
  }

  /** Another sign of life from an RLOC (an ICMP echo reply): counts like a probe reply. */
  rlocAnswered(rloc: string): void {
    this.probing.answered(rloc);
  }

  replicationTargets(): string[] {
    return this.mapping.peers();
  }

  database(): { eid: string; rlocs: string[] }[] {
    return this.config.eids.map((e) => ({ eid: eidKey(e), rlocs: [...this.rlocList] }));
  }

  peers(): string[] {
    return this.mapping.peers();
  }

  /** Registrations our Map-Server refused (EIDs owned by another member, limits), newest last. */
  conflicts(): { at: number; from: string; xtrId: string; message: string }[] {
    return [...this.mapServer.refusals];
  }

  /** What is wrong, for the operator (`decent show`, the web UI, the log). */
  diagnostics(): string[] {
    return this.mapping.diagnostics();
  }

  /** For `decent show peers`: our RTRs behind a NAT, the members we relay for as an RTR. */
  natPaths(): { outbound: readonly string[]; relaying: { address: string; dataPort?: number }[]; direct: ReturnType<DirectPaths['status']>; now: number } {
    return {
      outbound: this.nat.outboundRtrs(), relaying: this.rtr.servedMembers().map((s) => ({ address: s.binding.address, dataPort: s.binding.dataPort })),
      direct: this.direct.status(), now: this.env.now(),
    };
  }

  /** NAT detection's latest answer (nat.ts), and as an RTR the members we relay for (rtr.ts). */
  natStatus(): NatStatus & { relaying: { name: string; address: string; dataPort?: number; controlPort?: number; xtrId: string }[]; direct: ReturnType<DirectPaths['status']> } {
    const relaying = this.rtr.servedMembers().map((s) => ({
      name: s.binding.name, address: s.binding.address, dataPort: s.binding.dataPort, controlPort: s.binding.controlPort, xtrId: s.xtrId,
    }));
    return { ...this.nat.status(), relaying, direct: this.direct.status() };
  }
}
