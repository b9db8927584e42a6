// A LISP-Decent push-mode node's control plane (RFC 9962 §4): ETR, Map-Server, Map-Resolver and
// the ITR's map-cache in one object. It does no I/O of its own: the environment sends datagrams,
// runs timers and receives map-cache changes, so the same code runs in the control worker and,
// with a simulated network and clock, in tests.
import { randomBytes } from 'node:crypto';
import { isIPv4 } from 'node:net';
import {
  WireError, decodeControl, decodeData, decodeInnerUdp, encodeControl, encodeInnerUdp, encodeSigned, verifyControl,
  type ControlMessage, type EidRecord, type LocatorRecord, type MapNotify, type MapRegister, type MapReply, type MapRequest,
} from '../wire';
import type { ControlConfig } from './config';
import { EidError, eidCovers, eidFromWire, eidKey, eidToWire, isMulticastAddress, type Eid } from '../mapping/eid';
import { lookupKey, mapServerName } from './decent/pull';
import { ipAddress, locatorIp, rleEntries, rleEntry, rleLocator, unicastLocator } from './locators';
import { MapCache, rlocsOf, type MapCacheEntry, type MapCacheEvent } from './map-cache';
import { SiteCache, type Registration } from './site-cache';
import { msToRecordTtl, recordTtlToMs } from './ttl';

export const CONTROL_PORT = 4342;
export const DATA_PORT = 4341;
/** Instance-id that marks head-end replicated control packets (RFC 9962 §4.2, lisp-decent.md §2.3). */
export const HER_IID = 0xffffff;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ControlEnv {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** A UDP datagram from our control port (4342) to dst:port. */
  sendControl(dst: string, port: number, bytes: Buffer): void;
  /** A LISP data packet to dst:4341 with instance-id 0xFFFFFF around the IP packet `inner`. */
  sendEncapsulated(dst: string, inner: Buffer): void;
  /** Resolves a DNS name to addresses (pull mode, RFC 9962 §5). */
  resolveName?(name: string): Promise<string[]>;
  /** Underlay multicast to G:4342, not looped back to us. */
  sendMulticast?(group: string, bytes: Buffer): void;
  mapCacheChanged(event: MapCacheEvent): void;
  /** The registered unicast EID space (site cache, less our own EIDs) changed: what to route into the TUN. */
  eidSpaceChanged?(eids: readonly Eid[]): void;
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

export type Via = Registration['via'];

export interface LigResult {
  readonly reply: MapReply;
  readonly rttMs: number;
  readonly from: string;
}

interface PendingRequest {
  resolve(r: LigResult): void;
  reject(e: Error): void;
  sentAt: number;
  timer: unknown;
}

interface PendingNotify {
  bytes: Buffer;
  dst: string;
  triesLeft: number;
  timer: unknown;
}

/** Names of the counters a node keeps (exported for metrics). */
export const COUNTER_NAMES = [
  'register.sent', 'register.received', 'register.accepted', 'register.rejected.auth', 'register.rejected.policy',
  'register.rejected.malformed', 'register.deregistered', 'notify.sent', 'notify.received', 'notify.rejected.auth',
  'notify.retransmitted', 'notify-ack.sent', 'notify-ack.received', 'request.received', 'request.sent',
  'reply.sent', 'reply.received', 'reply.negative.sent', 'probe.sent', 'probe.received', 'smr.received',
  'her.sent', 'her.received', 'her.rejected', 'control.malformed', 'control.unexpected', 'request.rate-limited', 'smr.sent',
  'register.retransmitted', 'register.acked',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

const REGISTER_DEBOUNCE_MS = 20;
const NOTIFY_DEBOUNCE_MS = 30;
const NEGATIVE_TTL_MS = 60_000;
/**
 * Map-Requests answered per requesting RLOC: a burst of 20, refilled at 10/s. RFC 9301 §5.3
 * asks ITRs for ≤ 1/s per EID-prefix; this bounds what a misbehaving or spoofed source costs.
 */
const REQUEST_BURST = 20;
const REQUEST_REFILL_PER_S = 10;
/** SMRs go to ITRs that asked us in the last minute, ≤ 1 per 3 s each (RFC 9301 §6.1, §5.3). */
const SMR_RECENT_MS = 60_000;
const SMR_MIN_INTERVAL_MS = 3_000;
/**
 * Members learned from a Map-Notify only bootstrap us: we register to them at once, they
 * register back, and from then on our own site cache lists them. Kept this long at most, so a
 * stale notify cannot keep a departed or roamed-away RLOC in the replication list.
 */
const NOTIFIED_MEMBER_MS = 10_000;
/** lispers' IP TTL for group-addressed Map-Registers (lispers-net-notes.md §2.1). */
const GROUP_IP_TTL = 32;

export class ControlNode {
  readonly siteCache = new SiteCache();
  readonly mapCache: MapCache;
  readonly counters = new Map<CounterName, number>(COUNTER_NAMES.map((n) => [n, 0]));

  private rlocList: string[];
  private readonly groupEid: Eid;
  private readonly groupKey: string;
  /** Members learned from (authenticated) Map-Notifys, with their expiry. */
  private readonly notifiedMembers = new Map<string, number>();
  /** Replication targets at the last registration round. */
  private lastTargets = new Set<string>();
  private readonly pendingRequests = new Map<bigint, PendingRequest>();
  /** Pull mode: Map-Requests in flight for the ITR, by nonce, and the EID keys they serve. */
  private readonly pendingResolutions = new Map<bigint, { key: string; timer: unknown }>();
  private readonly resolvingKeys = new Set<string>();
  /** Pull mode: Map-Server set addresses per DNS name, and when they were looked up. */
  private readonly msAddresses = new Map<string, { addresses: string[]; at: number }>();
  private resolverTurn = 0;
  /** Pull mode: Map-Registers awaiting their Map-Notify, by `nonce|map-server`. */
  private readonly unacked = new Map<string, unknown>();
  private readonly pendingNotifies = new Map<bigint, PendingNotify>();
  private readonly downRlocs = new Set<string>();
  private readonly probeReplies = new Map<string, number>();
  private readonly requestBuckets = new Map<string, { tokens: number; at: number }>();
  /** ITR-RLOCs that sent us Map-Requests: last request time, last SMR time. */
  private readonly requesters = new Map<string, { lastRequest: number; lastSmr: number }>();
  private registerTimer: unknown;
  private periodicTimer: unknown;
  private expiryTimer: unknown;
  private probeTimer: unknown;
  private notifyTimer: unknown;
  private bootstrapTimer: unknown;
  private running = false;
  readonly startedAt: number;

  constructor(public config: ControlConfig, private readonly env: ControlEnv) {
    this.rlocList = [...config.rlocs];
    this.mapCache = new MapCache((e) => env.mapCacheChanged(e));
    const g = config.group.address;
    this.groupEid = {
      iid: config.group.instanceId, kind: 'group',
      source: isIPv4(g) ? '0.0.0.0' : '::', sourceMaskLen: 0, group: g, groupMaskLen: isIPv4(g) ? 32 : 128,
    };
    this.groupKey = eidKey(this.groupEid);
    this.startedAt = env.now();
  }

  get rlocs(): readonly string[] {
    return this.rlocList;
  }

  private get pullMode(): boolean {
    return this.config.mode === 'pull' && this.config.pull !== undefined;
  }

  count(name: CounterName, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  // -------------------------------------------------------------------------------------------
  // Life cycle

  start(): void {
    if (this.running) return;
    this.running = true;
    this.registerRound('start');
    const t = this.config.timers;
    // Bootstrap: until some other member is known, a seed that was not listening yet would
    // leave us alone for a whole period; retry at 250 ms, doubling (RFC 9301 §8.2 allows quick
    // registration after a restart).
    let retryMs = 250;
    const bootstrap = (): void => {
      this.bootstrapTimer = undefined;
      if (!this.running || this.replicationTargets().length > 0 || retryMs >= t.registerIntervalMs) return;
      this.registerRound('bootstrap');
      retryMs *= 2;
      this.bootstrapTimer = this.env.setTimeout(bootstrap, retryMs);
    };
    if (this.config.group.seeds.length && !this.pullMode) this.bootstrapTimer = this.env.setTimeout(bootstrap, retryMs);
    const periodic = (): void => {
      this.registerRound('periodic');
      this.periodicTimer = this.env.setTimeout(periodic, t.registerIntervalMs);
    };
    this.periodicTimer = this.env.setTimeout(periodic, t.registerIntervalMs);
    const scan = (): void => {
      this.expire();
      this.expiryTimer = this.env.setTimeout(scan, t.expiryScanMs);
    };
    this.expiryTimer = this.env.setTimeout(scan, t.expiryScanMs);
    if (t.probeIntervalMs > 0) {
      const probe = (): void => {
        this.probeRound();
        this.probeTimer = this.env.setTimeout(probe, t.probeIntervalMs);
      };
      this.probeTimer = this.env.setTimeout(probe, t.probeIntervalMs);
    }
  }

  /** Stops timers; with `withdraw`, tells every member first (Record TTL 0) so they drop us at once. */
  stop(withdraw = true): void {
    if (!this.running) return;
    if (withdraw && this.pullMode) void this.pullRegister(0, this.config.eids);
    else if (withdraw) this.sendToGroup(this.buildRegisters(0), 'withdraw');
    this.running = false;
    for (const t of [this.registerTimer, this.periodicTimer, this.expiryTimer, this.probeTimer, this.notifyTimer, this.bootstrapTimer]) {
      if (t !== undefined) this.env.clearTimeout(t);
    }
    for (const p of this.pendingNotifies.values()) this.env.clearTimeout(p.timer);
    for (const h of this.unacked.values()) this.env.clearTimeout(h);
    this.unacked.clear();
    this.pendingNotifies.clear();
    for (const p of this.pendingRequests.values()) {
      this.env.clearTimeout(p.timer);
      p.reject(new Error('control plane stopped'));
    }
    this.pendingRequests.clear();
  }

  /**
   * A new configuration (SIGHUP): EIDs no longer configured are withdrawn at once (Record TTL 0),
   * then everything is registered again under the new settings. RLOCs and the xTR-ID stay.
   */
  reconfigure(next: ControlConfig): void {
    const keep = new Set(next.eids.map(eidKey));
    const removed = this.config.eids.filter((e) => !keep.has(eidKey(e)));
    if (removed.length && this.running) {
      if (this.pullMode) void this.pullRegister(0, removed);
      else this.sendToGroup(this.buildRegisters(0, removed, false), 'withdraw removed EIDs');
    }
    this.config = { ...next, xtrId: this.config.xtrId, rlocs: this.rlocList };
    this.env.log('info', 'configuration reloaded', { eids: next.eids.map(eidKey), withdrawn: removed.map(eidKey) });
    this.registerRound('reconfigure');
    this.sendSmrs();
  }

  /**
   * Roaming and multihoming (lisp-decent.md §5): new RLOCs re-register at once, so every member's
   * Map-Server replaces this xTR-ID's RLOC-set and RLE entry, and their ITRs follow.
   */
  setRlocs(rlocs: readonly string[]): void {
    const next = [...rlocs];
    if (next.join(',') === this.rlocList.join(',')) return;
    this.env.log('info', 'RLOCs changed, re-registering', { from: this.rlocList, to: next });
    this.rlocList = next;
    this.registerRound('rloc change');
    this.sendSmrs();
  }

  // -------------------------------------------------------------------------------------------
  // ETR: building and sending registrations

  private recordTtl(ttlMs: number): number {
    return msToRecordTtl(ttlMs);
  }

  /** Our EID Map-Register and our group-membership Map-Register, signed. `ttlMs` 0 withdraws. */
  buildRegisters(ttlMs = this.config.timers.registrationTtlMs, eids: readonly Eid[] = this.config.eids, withGroup = true): Buffer[] {
    const c = this.config;
    const ttl = this.recordTtl(ttlMs);
    const name = c.lispers ? c.name : undefined;
    const locators: LocatorRecord[] = this.rlocList.map((ip) => unicastLocator(ip, { name, local: true }));
    const out: Buffer[] = [];
    const eidRecords: EidRecord[] = eids.map((e) => ({
      ttl, ...eidToWire(e), action: 0, authoritative: true, mapVersion: 0, locators,
    }));
    // lispers splits Map-Registers at 20 records (lispers-net-notes.md §2.1).
    for (let i = 0; i < eidRecords.length; i += 20) {
      out.push(this.signRegister({
        // Pull mode registers unicast and wants an acknowledgement (RFC 9301 §8.2); push mode sends
        // to the whole group, where M=1 would make every member ack (lisp-decent.md §2.4).
        type: 'map-register', proxyReply: true, security: false, useTtl: true, merge: true, wantMapNotify: this.pullMode && ttlMs > 0,
        nonce: randomNonce(), keyId: c.auth.keyId, algorithm: c.auth.algorithm, authData: new Uint8Array(0),
        records: eidRecords.slice(i, i + 20), xtrId: c.xtrId, siteId: c.siteId,
      }));
    }
    if (!withGroup) return out;
    // Group membership (RFC 9962 §2, RFC 8378 §5.1.2): (0/0,G) with an RLE of our RLOC,
    // level 128, P=1, a=1, M=0 (lisp-decent.md §2.2).
    const rle = this.rlocList.filter((ip) => isIPv4(ip) === isIPv4(c.group.address)).map((ip) => rleEntry(ip, name));
    out.push(this.signRegister({
      type: 'map-register', proxyReply: true, security: false, useTtl: true, merge: true, wantMapNotify: false,
      nonce: randomNonce(), keyId: c.auth.keyId, algorithm: c.auth.algorithm, authData: new Uint8Array(0),
      records: [{
        ttl, ...eidToWire(this.groupEid, { lispersPad: c.lispers }), action: 0, authoritative: true, mapVersion: 0,
        locators: rle.length ? [rleLocator(rle, true, c.lispers)] : [],
      }],
      xtrId: c.xtrId, siteId: c.siteId,
    }));
    return out;
  }

  private signRegister(m: MapRegister): Buffer {
    return encodeSigned(m, this.config.auth.key, { keyId: this.config.auth.keyId, algorithm: this.config.auth.algorithm });
  }

  /** Schedules a registration round soon; several triggers in a burst make one round. */
  private registerSoon(reason: string): void {
    if (!this.running || this.registerTimer !== undefined) return;
    this.registerTimer = this.env.setTimeout(() => {
      this.registerTimer = undefined;
      this.registerRound(reason);
    }, REGISTER_DEBOUNCE_MS);
  }

  private registerRound(reason: string): void {
    if (!this.running) return;
    if (this.pullMode) {
      void this.pullRegister(this.config.timers.registrationTtlMs, this.config.eids);
      return;
    }
    this.sendToGroup(this.buildRegisters(), reason);
  }

  // -------------------------------------------------------------------------------------------
  // Pull mode (RFC 9962 §5): EID hash → DNS name → Map-Server set

  /** Addresses of a Map-Server set's DNS name, reused for dnsRefreshMs (RFC 9962 §5: re-resolve periodically). */
  private async mapServers(name: string): Promise<string[]> {
    const pull = this.config.pull;
    const cached = this.msAddresses.get(name);
    const now = this.env.now();
    if (cached && pull && now - cached.at < pull.dnsRefreshMs) return cached.addresses;
    if (!this.env.resolveName) return cached?.addresses ?? [];
    try {
      const addresses = [...new Set(await this.env.resolveName(name))].sort();
      this.msAddresses.set(name, { addresses, at: now });
      return addresses;
    } catch (e) {
      this.env.log('warn', 'cannot resolve the Map-Server set', { name, error: (e as Error).message });
      return cached?.addresses ?? [];
    }
  }

  /** Map-Registers to every address of each EID's Map-Server set (RFC 9962 §5: all A/AAAA records). */
  private async pullRegister(ttlMs: number, eids: readonly Eid[]): Promise<void> {
    const pull = this.config.pull;
    if (!pull) return;
    const byName = new Map<string, Eid[]>();
    for (const e of eids) {
      const name = mapServerName(e, pull);
      byName.set(name, [...(byName.get(name) ?? []), e]);
    }
    const self = this.rlocList[0] ?? '127.0.0.1';
    for (const [name, group] of byName) {
      const servers = await this.mapServers(name);
      if (servers.length === 0) this.env.log('warn', 'no Map-Server address for a hashed name', { name });
      for (const bytes of this.buildRegisters(ttlMs, group, false)) {
        const nonce = bytes.readBigUInt64BE(4);
        for (const ms of servers) {
          this.count('register.sent');
          if (this.rlocList.includes(ms)) {
            this.handleControl(bytes, self, CONTROL_PORT, 'local');
            continue;
          }
          this.env.sendControl(ms, CONTROL_PORT, bytes);
          if (ttlMs > 0) this.retransmitUntilAcked(`${nonce}|${ms}`, ms, bytes);
        }
      }
    }
  }

  /**
   * The ITR asks the Map-Resolver its hash picks (round-robin within the set, RFC 9962 §5) and
   * installs the answer when it comes; the data plane holds the first packets meanwhile.
   */
  private async pullResolve(eid: Eid): Promise<void> {
    const pull = this.config.pull;
    if (!pull) return;
    const key = eidKey(eid);
    if (this.resolvingKeys.has(key)) return;
    this.resolvingKeys.add(key);
    try {
      const servers = await this.mapServers(mapServerName(lookupKey(eid, pull.lookupLengths), pull));
      if (servers.length === 0) return;
      const own = servers.find((s) => this.rlocList.includes(s));
      if (own) {
        // We are in that Map-Server set ourselves: our site cache has the answer.
        this.resolveLocally(eid);
        return;
      }
      const resolver = servers[this.resolverTurn++ % servers.length];
      const nonce = randomNonce();
      const timer = this.env.setTimeout(() => this.pendingResolutions.delete(nonce), 2000);
      this.pendingResolutions.set(nonce, { key, timer });
      this.sendMapRequest(eid, resolver, nonce);
    } finally {
      this.resolvingKeys.delete(key);
    }
  }

  /** M=1: no Map-Notify within 1 s → send again, waiting twice as long each time, up to 60 s (RFC 9301 §8.2). */
  private retransmitUntilAcked(key: string, ms: string, bytes: Buffer, waitMs = 1000): void {
    const old = this.unacked.get(key);
    if (old !== undefined) this.env.clearTimeout(old);
    this.unacked.set(key, this.env.setTimeout(() => {
      if (!this.unacked.has(key) || !this.running) return;
      this.env.sendControl(ms, CONTROL_PORT, bytes);
      this.count('register.retransmitted');
      if (waitMs * 2 <= 60_000) this.retransmitUntilAcked(key, ms, bytes, waitMs * 2);
      else this.unacked.delete(key);
    }, waitMs));
  }

  /** Installs the records of a Map-Reply to one of our pull-mode requests. */
  private installReply(m: MapReply): void {
    const now = this.env.now();
    for (const rec of m.records) {
      let eid: Eid;
      try {
        eid = eidFromWire(rec.eid, rec.eidMaskLen);
      } catch {
        continue;
      }
      const ttlMs = recordTtlToMs(rec.ttl, NEGATIVE_TTL_MS);
      const negative = rec.locators.length === 0;
      this.mapCache.set({
        eid, key: eidKey(eid), rlocs: rlocsOf(rec.locators, this.downRlocs), action: negative ? rec.action : 0, negative,
        ttlMs, createdAt: now, updatedAt: now, expiresAt: now + ttlMs, source: 'map-reply',
      });
    }
  }

  /**
   * Sends Map-Registers "to the group" (lisp-decent.md §2.3): our own Map-Server gets them
   * in-process (RFC 9962 §4: members include themselves), every other member one head-end
   * replicated copy (or one underlay multicast packet), and the seeds a unicast copy.
   */
  private sendToGroup(registers: Buffer[], reason: string): void {
    const self = this.rlocList[0] ?? '127.0.0.1';
    const targets = this.replicationTargets();
    this.lastTargets = new Set(targets);
    for (const bytes of registers) {
      this.handleControl(bytes, self, CONTROL_PORT, 'local');
      this.count('register.sent');
      if (this.config.group.replication === 'multicast' && this.env.sendMulticast) {
        this.env.sendMulticast(this.config.group.address, bytes);
      } else {
        const inner = this.groupPacket(bytes);
        for (const rloc of targets) {
          this.env.sendEncapsulated(rloc, inner);
          this.count('her.sent');
        }
      }
      for (const seed of this.config.group.seeds) {
        if (!targets.includes(seed) && !this.rlocList.includes(seed)) this.env.sendControl(seed, CONTROL_PORT, bytes);
      }
    }
    this.env.log('debug', 'registered to the group', { reason, targets, messages: registers.length });
  }

  /** The inner IP+UDP packet of a head-end replicated registration: our RLOC → G, 4342 → 4342. */
  private groupPacket(payload: Buffer): Buffer {
    const g = this.config.group.address;
    const v4 = isIPv4(g);
    const src = this.rlocList.find((ip) => isIPv4(ip) === v4) ?? (v4 ? '0.0.0.0' : '::');
    return encodeInnerUdp({
      version: v4 ? 4 : 6, source: src, destination: g, ttl: GROUP_IP_TTL, tos: 0, id: 0, fragment: v4 ? 0x4000 : 0,
      flowLabel: 0, sourcePort: CONTROL_PORT, destinationPort: CONTROL_PORT,
    }, payload);
  }

  /**
   * Everyone a registration to G goes to (RFC 9962 §4.2): the RLE of the group entry in our own
   * site cache, members learned from Map-Notifys that have not expired, minus ourselves.
   */
  replicationTargets(): string[] {
    const now = this.env.now();
    const set = new Set<string>(this.groupMembersFromSiteCache());
    for (const [ip, until] of this.notifiedMembers) {
      if (until <= now || set.has(ip)) this.notifiedMembers.delete(ip);
      else set.add(ip);
    }
    for (const own of this.rlocList) set.delete(own);
    return [...set].sort();
  }

  private groupMembersFromSiteCache(): string[] {
    const entry = this.siteCache.get(this.groupKey);
    const out: string[] = [];
    for (const l of entry?.locators ?? []) {
      for (const e of rleEntries(l.address) ?? []) if (e.address.kind === 'ipv4' || e.address.kind === 'ipv6') out.push(e.address.ip);
    }
    return out;
  }

  /** New members get our registrations at once, rather than at the next 60 s round. */
  private membersMaybeChanged(): void {
    const now = this.replicationTargets();
    const fresh = now.filter((ip) => !this.lastTargets.has(ip));
    this.refreshGroupMapCache();
    if (fresh.length) this.registerSoon(`new members ${fresh.join(', ')}`);
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  /** A UDP datagram that arrived on the control port (or the registration source port). */
  receiveControl(bytes: Uint8Array, src: string, sport: number): void {
    this.handleControl(bytes, src, sport, isMulticastAddress(src) ? 'multicast' : 'udp');
  }

  /**
   * A LISP data packet handed over by the data plane (or our own 4341 socket in control-only
   * mode). Only instance-id 0xFFFFFF with a multicast inner destination on port 4342 is ours
   * (lisp-decent.md §2.3 step 4); the rest is not control traffic.
   */
  receiveEncapsulated(bytes: Uint8Array, outerSrc: string): boolean {
    let inner: ReturnType<typeof decodeInnerUdp>;
    try {
      const d = decodeData(bytes);
      if (!d.header.iidPresent || d.header.iid !== HER_IID) return false;
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
        this.onMapRegister(m, bytes, src, sport, via);
        return;
      case 'map-notify':
        this.onMapNotify(m, bytes, src);
        return;
      case 'map-notify-ack':
        this.onMapNotifyAck(m, bytes);
        return;
      case 'map-request':
        this.onMapRequest(m, src, sport);
        return;
      case 'map-reply':
        this.onMapReply(m, src);
        return;
      case 'ecm':
        if (m.message?.type === 'map-request' && m.inner) {
          // We are the Map-Resolver: answer to the inner source port (RFC 9301 §5.8).
          this.onMapRequest(m.message, m.inner.source, m.inner.sourcePort);
        } else {
          this.count('control.unexpected');
        }
        return;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Map-Server

  private onMapRegister(m: MapRegister, bytes: Uint8Array, src: string, sport: number, via: Via): void {
    this.count('register.received');
    // RFC 9301 §5.6/§8.2: verify before touching any state; failures are dropped (and counted).
    const verdict = verifyControl(bytes, this.config.auth.key);
    const groupOnly = m.records.every((r) => isGroupRecord(r));
    if (verdict === 'bad' || (verdict === 'none' && !(groupOnly && this.config.policy.acceptUnauthenticatedGroupJoins))) {
      this.count('register.rejected.auth');
      this.env.log('warn', 'Map-Register failed authentication', { from: `${src}:${sport}`, via, verdict });
      return;
    }
    if (m.keyId !== this.config.auth.keyId && verdict === 'ok') {
      // The key matched, so the key-id is only a label; still worth seeing when configs drift.
      this.env.log('debug', 'Map-Register key-id differs from ours', { keyId: m.keyId });
    }
    const now = this.env.now();
    let groupChanged = false;
    let anyChange = false;
    for (const rec of m.records) {
      let eid: Eid;
      try {
        eid = eidFromWire(rec.eid, rec.eidMaskLen);
      } catch (e) {
        if (!(e instanceof EidError)) throw e;
        this.count('register.rejected.malformed');
        continue;
      }
      if (!this.allowed(eid)) {
        this.count('register.rejected.policy');
        this.env.log('warn', 'Map-Register for an EID outside the allowed prefixes', { eid: eidKey(eid), from: src });
        continue;
      }
      const ttlMs = m.useTtl ? recordTtlToMs(rec.ttl, this.config.timers.registrationTtlMs) : this.config.timers.registrationTtlMs;
      const outcome = this.siteCache.register({
        eid, record: rec, xtrId: m.xtrId, siteId: m.siteId, source: src, sourcePort: sport, via, ttlMs, now,
        proxyReply: m.proxyReply, merge: m.merge, wantMapNotify: m.wantMapNotify, authenticated: verdict === 'ok',
        lispersForm: this.config.lispers,
      });
      if (outcome === 'deregistered') this.count('register.deregistered');
      if (outcome !== 'ignored') this.count('register.accepted');
      if (outcome === 'created' || outcome === 'changed' || outcome === 'deregistered') {
        anyChange = true;
        if (eidKey(eid) === this.groupKey) groupChanged = true;
      }
    }
    if (m.wantMapNotify) this.ackRegister(m, src);
    if (anyChange) this.siteCacheChanged();
    if (groupChanged) this.groupChanged();
  }

  private allowed(eid: Eid): boolean {
    const allowed = this.config.policy.allowed;
    // Our own group's membership entry is always admissible: without it there is no group.
    if (allowed.length === 0 || eidKey(eid) === this.groupKey) return true;
    return allowed.some((p) => coversForPolicy(p, eid));
  }

  /** M=1: a Map-Notify with the same nonce and records, to UDP 4342 of the registerer (RFC 9301 §5.7). */
  private ackRegister(m: MapRegister, src: string): void {
    const notify: MapNotify = {
      type: 'map-notify', nonce: m.nonce, keyId: m.keyId, algorithm: this.config.auth.algorithm,
      authData: new Uint8Array(0), records: m.records,
    };
    this.env.sendControl(src, CONTROL_PORT, encodeSigned(notify, this.config.auth.key, { keyId: m.keyId, algorithm: this.config.auth.algorithm }));
    this.count('notify.sent');
  }

  /**
   * The group entry's RLE changed: Map-Notify every RLE node (lisp-decent.md §2.4) so members
   * that bootstrapped through us learn the others; retransmitted until acked.
   */
  private groupChanged(): void {
    this.membersMaybeChanged();
    if (this.notifyTimer !== undefined || !this.running) return;
    this.notifyTimer = this.env.setTimeout(() => {
      this.notifyTimer = undefined;
      this.sendGroupNotify();
    }, NOTIFY_DEBOUNCE_MS);
  }

  private sendGroupNotify(): void {
    const entry = this.siteCache.get(this.groupKey);
    if (!entry) return;
    const rec: EidRecord = {
      ttl: msToRecordTtl(this.config.timers.registrationTtlMs), ...eidToWire(this.groupEid, { lispersPad: this.config.lispers }),
      action: 0, authoritative: false, mapVersion: 0, locators: entry.locators,
    };
    for (const dst of this.groupMembersFromSiteCache()) {
      if (this.rlocList.includes(dst)) continue;
      const nonce = randomNonce();
      const bytes = encodeSigned({ type: 'map-notify', nonce, keyId: this.config.auth.keyId, algorithm: this.config.auth.algorithm, authData: new Uint8Array(0), records: [rec] },
        this.config.auth.key, { keyId: this.config.auth.keyId, algorithm: this.config.auth.algorithm });
      // A newer notify to the same member supersedes the pending one (as lispers does).
      for (const [n, p] of this.pendingNotifies) {
        if (p.dst === dst) {
          this.env.clearTimeout(p.timer);
          this.pendingNotifies.delete(n);
        }
      }
      const pending: PendingNotify = { bytes, dst, triesLeft: this.config.timers.notifyRetries, timer: undefined };
      let waitMs = this.config.timers.notifyRetransmitMs;
      const send = (): void => {
        this.env.sendControl(dst, CONTROL_PORT, bytes);
        this.count('notify.sent');
        if (pending.triesLeft-- > 0) {
          // Back off (RFC 9301 §5.7): each retransmission waits twice as long as the last.
          const wait = waitMs;
          waitMs *= 2;
          pending.timer = this.env.setTimeout(() => {
            this.count('notify.retransmitted');
            send();
          }, wait);
        } else {
          this.pendingNotifies.delete(nonce);
        }
      };
      this.pendingNotifies.set(nonce, pending);
      send();
    }
  }

  private onMapNotifyAck(m: MapNotify, bytes: Uint8Array): void {
    this.count('notify-ack.received');
    const verdict = verifyControl(bytes, this.config.auth.key);
    if (verdict === 'bad') {
      this.count('notify.rejected.auth');
      return;
    }
    // lispers acks with 0 records (Q7): matching by nonce is enough.
    const p = this.pendingNotifies.get(m.nonce);
    if (p) {
      this.env.clearTimeout(p.timer);
      this.pendingNotifies.delete(m.nonce);
    }
  }

  // -------------------------------------------------------------------------------------------
  // ETR receiving Map-Notify

  private onMapNotify(m: MapNotify, bytes: Uint8Array, src: string): void {
    this.count('notify.received');
    const verdict = verifyControl(bytes, this.config.auth.key);
    const ackKey = `${m.nonce}|${src}`;
    if (verdict === 'ok' && this.unacked.has(ackKey)) {
      // The acknowledgement of an M=1 Map-Register: nothing to answer (RFC 9301 §5.7).
      this.env.clearTimeout(this.unacked.get(ackKey));
      this.unacked.delete(ackKey);
      this.count('register.acked');
      return;
    }
    const fromMember = this.replicationTargets().includes(src) || this.config.group.seeds.includes(src);
    const acceptable = verdict === 'ok' ||
      (verdict === 'none' && this.config.policy.acceptUnauthenticatedGroupJoins && fromMember && m.records.every(isGroupRecord));
    if (!acceptable) {
      this.count('notify.rejected.auth');
      this.env.log('warn', 'Map-Notify failed authentication', { from: src, verdict });
      return;
    }
    const until = this.env.now() + Math.min(NOTIFIED_MEMBER_MS, this.config.timers.registrationTtlMs);
    let learned = false;
    for (const rec of m.records) {
      let eid: Eid;
      try {
        eid = eidFromWire(rec.eid, rec.eidMaskLen);
      } catch {
        continue;
      }
      if (eidKey(eid) !== this.groupKey) continue;
      for (const l of rec.locators) {
        for (const e of rleEntries(l.address) ?? []) {
          if (e.address.kind !== 'ipv4' && e.address.kind !== 'ipv6') continue;
          this.notifiedMembers.set(e.address.ip, until);
          learned = true;
        }
      }
    }
    // Always ack, with the same nonce and records (lisp-decent.md checklist 29, 38).
    const ack: MapNotify = { ...m, type: 'map-notify-ack', authData: new Uint8Array(0), keyId: this.config.auth.keyId, algorithm: this.config.auth.algorithm };
    const ackBytes = verdict === 'ok'
      ? encodeSigned(ack, this.config.auth.key, { keyId: this.config.auth.keyId, algorithm: this.config.auth.algorithm })
      : encodeControl({ ...ack, keyId: 0, algorithm: 0 });
    this.env.sendControl(src, CONTROL_PORT, ackBytes);
    this.count('notify-ack.sent');
    if (learned) this.membersMaybeChanged();
  }

  // -------------------------------------------------------------------------------------------
  // Map-Resolver / ETR answering Map-Requests

  private admitRequest(src: string): boolean {
    const now = this.env.now();
    const b = this.requestBuckets.get(src) ?? { tokens: REQUEST_BURST, at: now };
    b.tokens = Math.min(REQUEST_BURST, b.tokens + ((now - b.at) / 1000) * REQUEST_REFILL_PER_S);
    b.at = now;
    this.requestBuckets.set(src, b);
    if (this.requestBuckets.size > 4096) {
      for (const [k, v] of this.requestBuckets) if (v.tokens >= REQUEST_BURST) this.requestBuckets.delete(k);
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /**
   * Our mapping changed: Solicit-Map-Request (S=1) to the ITRs that asked us recently, so they
   * re-resolve (RFC 9301 §6.1). Group members follow through the push itself.
   */
  private sendSmrs(): void {
    const now = this.env.now();
    const own = this.rlocList.find((ip) => isIPv4(ip)) ?? this.rlocList[0];
    if (!own) return;
    for (const [itr, r] of this.requesters) {
      if (now - r.lastRequest > SMR_RECENT_MS) {
        this.requesters.delete(itr);
        continue;
      }
      if (now - r.lastSmr < SMR_MIN_INTERVAL_MS || this.rlocList.includes(itr)) continue;
      r.lastSmr = now;
      const src = this.rlocList.find((ip) => isIPv4(ip) === isIPv4(itr)) ?? own;
      for (const e of this.config.eids) {
        const { eid, eidMaskLen } = eidToWire(e, { lispersPad: this.config.lispers });
        const smr: MapRequest = {
          type: 'map-request', authoritative: false, mapDataPresent: false, probe: false, smr: true, pitr: false,
          smrInvoked: false, dontReply: true, nonce: randomNonce(), sourceEid: { kind: 'none' }, itrRlocs: [ipAddress(src)],
          records: [{ eid, eidMaskLen }],
        };
        this.env.sendControl(itr, CONTROL_PORT, encodeControl(smr));
        this.count('smr.sent');
      }
    }
  }

  private onMapRequest(m: MapRequest, src: string, sport: number): void {
    this.count('request.received');
    if (!this.admitRequest(src)) {
      this.count('request.rate-limited');
      return;
    }
    if (m.probe) this.count('probe.received');
    if (m.smr) {
      this.count('smr.received');
      // An SMR asks us to refresh (RFC 9301 §6.1); in push mode our own site cache already has
      // the new mapping, so re-resolving locally is the SMR-invoked request.
      for (const r of m.records) {
        try {
          const eid = eidFromWire(r.eid, r.eidMaskLen);
          if (this.mapCache.lookup(eid)) this.resolve(eid);
        } catch {
          /* not a routable EID: nothing cached for it */
        }
      }
      if (m.dontReply) return;
    }
    const dst = m.itrRlocs.map((a) => locatorIp(a)).find((ip) => ip !== undefined && this.rlocList.some((own) => isIPv4(own) === isIPv4(ip))) ??
      (m.itrRlocs.map((a) => locatorIp(a)).find((ip) => ip !== undefined) ?? src);
    if (!m.smr && !this.rlocList.includes(dst)) {
      const r = this.requesters.get(dst);
      if (r) r.lastRequest = this.env.now();
      else this.requesters.set(dst, { lastRequest: this.env.now(), lastSmr: -Infinity });
    }
    const records: EidRecord[] = [];
    for (const r of m.records) {
      let eid: Eid;
      try {
        eid = eidFromWire(r.eid, r.eidMaskLen);
      } catch {
        continue;
      }
      records.push(m.probe ? this.probeReplyRecord(eid, dst) : this.answerRecord(eid));
    }
    if (records.length === 0) return;
    const reply: MapReply = { type: 'map-reply', probe: m.probe, echoNonceCapable: false, security: false, nonce: m.nonce, records };
    this.env.sendControl(dst, sport, encodeControl(reply));
    this.count('reply.sent');
    if (records.some((r) => r.locators.length === 0)) this.count('reply.negative.sent');
  }

  /** Our own mapping for a probe reply: A=1, and p set on the RLOC being probed (RFC 9301 §5.4). */
  private probeReplyRecord(eid: Eid, requester: string): EidRecord {
    const own = this.config.eids.find((e) => eidKey(e) === eidKey(eid)) ?? this.config.eids.find((e) => coversForPolicy(e, eid));
    if (!own) return this.negativeRecord(eid, 1);
    const probedFamily = isIPv4(requester);
    let marked = false;
    const locators = this.rlocList.map((ip) => {
      const probed = !marked && isIPv4(ip) === probedFamily;
      if (probed) marked = true;
      return { ...unicastLocator(ip, { local: true, name: this.config.lispers ? this.config.name : undefined }), probed };
    });
    return { ttl: this.config.timers.mapReplyTtlMin, ...eidToWire(own), action: 0, authoritative: true, mapVersion: 0, locators };
  }

  /** A proxy reply from the site cache (A=0, L=0 unless the RLOC is ours) or a negative reply. */
  private answerRecord(eid: Eid): EidRecord {
    const entry = this.siteCache.lookup(eid);
    if (!entry) return this.negativeRecord(eid, 1);
    const locators = entry.locators.map((l) => {
      const ip = locatorIp(l.address);
      return { ...l, local: ip !== undefined && this.rlocList.includes(ip) };
    });
    return {
      ttl: this.config.timers.mapReplyTtlMin, ...eidToWire(entry.eid, { lispersPad: this.config.lispers }),
      action: 0, authoritative: false, mapVersion: 0, locators,
    };
  }

  /**
   * Negative reply (RFC 9301 §8): nothing registered. Natively-Forward with TTL 1 min for unicast,
   * Drop for groups, as lispers does; the prefix is the host/EID asked for.
   */
  private negativeRecord(eid: Eid, ttlMin: number): EidRecord {
    return {
      ttl: ttlMin, ...eidToWire(eid, { lispersPad: this.config.lispers }), action: eid.kind === 'group' ? 3 : 1,
      authoritative: false, mapVersion: 0, locators: [],
    };
  }

  // -------------------------------------------------------------------------------------------
  // ITR: map-cache from the local Map-Resolver

  /**
   * Resolves an EID through our own Map-Resolver ("always local", RFC 9962 §4.1) and installs
   * the result: the site-cache entry's RLOC-set, or a negative entry for the EID asked.
   */
  resolve(eid: Eid): MapCacheEntry | undefined {
    if (this.pullMode) {
      void this.pullResolve(eid);
      return this.mapCache.lookup(eid);
    }
    return this.resolveLocally(eid);
  }

  private resolveLocally(eid: Eid): MapCacheEntry {
    const now = this.env.now();
    const entry = this.siteCache.lookup(eid);
    let mc: MapCacheEntry;
    if (entry && entry.locators.length) {
      const ttlMs = this.config.timers.mapReplyTtlMin * 60_000;
      mc = {
        eid: entry.eid, key: entry.key, rlocs: rlocsOf(entry.locators, this.downRlocs), action: 0, negative: false, ttlMs,
        createdAt: now, updatedAt: now, expiresAt: now + ttlMs, source: 'local-mr',
      };
    } else {
      mc = {
        eid, key: eidKey(eid), rlocs: [], action: 1, negative: true, ttlMs: NEGATIVE_TTL_MS,
        createdAt: now, updatedAt: now, expiresAt: now + NEGATIVE_TTL_MS, source: 'local-mr',
      };
    }
    this.mapCache.set(mc);
    return mc;
  }

  /** After any site-cache change, entries resolved from it follow at once (no SMR needed locally). */
  private siteCacheChanged(): void {
    this.publishEidSpace();
    for (const mc of this.mapCache.all()) {
      if (mc.source !== 'local-mr') continue;
      const entry = this.siteCache.lookup(mc.eid);
      if (!entry || !entry.locators.length) {
        if (!mc.negative) {
          this.mapCache.remove(mc.key);
        }
        continue;
      }
      if (entry.key !== mc.key) {
        // A more specific registration now covers a negative entry (or a broader one replaced it).
        if (mc.negative) this.mapCache.remove(mc.key);
        this.resolveLocally(entry.eid);
        continue;
      }
      this.resolveLocally(mc.eid);
    }
  }

  private lastEidSpace = '';

  private publishEidSpace(): void {
    if (!this.env.eidSpaceChanged) return;
    const own = new Set(this.config.eids.map(eidKey));
    const eids = this.siteCache.all()
      .filter((e) => (e.eid.kind === 'ipv4' || e.eid.kind === 'ipv6') && !own.has(e.key) && e.locators.length > 0)
      .map((e) => e.eid);
    const sig = eids.map(eidKey).sort().join(',');
    if (sig === this.lastEidSpace) return;
    this.lastEidSpace = sig;
    this.env.eidSpaceChanged(eids);
  }

  /** The (0/0,G) map-cache entry: its members are the replication list (RFC 9962 §4). */
  private refreshGroupMapCache(): void {
    const members = [...new Set([...this.groupMembersFromSiteCache(), ...this.replicationTargets()])].sort();
    if (members.length === 0) {
      this.mapCache.remove(this.groupKey);
      return;
    }
    const now = this.env.now();
    const ttlMs = this.config.timers.registrationTtlMs;
    this.mapCache.set({
      eid: this.groupEid, key: this.groupKey, rlocs: [], action: 0, negative: false, ttlMs, createdAt: now,
      updatedAt: now, expiresAt: now + ttlMs, source: 'group', members,
    });
  }

  private expire(): void {
    const now = this.env.now();
    const changed = this.siteCache.expire(now, this.config.lispers);
    if (changed.length) {
      this.siteCacheChanged();
      if (changed.includes(this.groupKey)) this.groupChanged();
    }
    const before = this.replicationTargets().length;
    this.mapCache.expire(now);
    if (this.replicationTargets().length !== before) this.refreshGroupMapCache();
  }

  // -------------------------------------------------------------------------------------------
  // Map-Requests we originate: lig and RLOC-probes

  /** Asks a Map-Resolver (ECM-encapsulated Map-Request, RFC 9301 §5.8) and waits for the reply. */
  lig(eid: Eid, resolver: string, timeoutMs = 2000): Promise<LigResult> {
    const nonce = randomNonce();
    if (this.rlocList.length === 0) return Promise.reject(new Error('no RLOC to ask from'));
    return new Promise<LigResult>((resolve, reject) => {
      const timer = this.env.setTimeout(() => {
        this.pendingRequests.delete(nonce);
        reject(new Error(`no Map-Reply from ${resolver} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingRequests.set(nonce, { resolve, reject, sentAt: this.env.now(), timer });
      this.sendMapRequest(eid, resolver, nonce);
    });
  }

  /** An ECM-encapsulated Map-Request to a Map-Resolver (RFC 9301 §5.8); the reply comes to 4342. */
  private sendMapRequest(eid: Eid, resolver: string, nonce: bigint): void {
    const own = this.rlocList.find((ip) => isIPv4(ip) === isIPv4(resolver)) ?? this.rlocList[0];
    if (!own) return;
    const { eid: wireEid, eidMaskLen } = eidToWire(eid, { lispersPad: this.config.lispers });
    const request: MapRequest = {
      type: 'map-request', authoritative: false, mapDataPresent: false, probe: false, smr: false, pitr: false,
      smrInvoked: false, nonce, sourceEid: { kind: 'none' }, itrRlocs: [ipAddress(own)], records: [{ eidMaskLen, eid: wireEid }],
    };
    const target = eid.kind === 'ipv4' || eid.kind === 'ipv6' ? eid.address : eid.kind === 'group' ? eid.group : own;
    const sameFamily = isIPv4(target) === isIPv4(own);
    const bytes = encodeControl({
      type: 'ecm', security: false, ddt: false, message: request,
      inner: {
        version: isIPv4(own) ? 4 : 6, source: own, destination: sameFamily ? target : own, ttl: 64, tos: 0, id: 0,
        fragment: 0, flowLabel: 0, sourcePort: CONTROL_PORT, destinationPort: CONTROL_PORT,
      },
    });
    this.env.sendControl(resolver, CONTROL_PORT, bytes);
    this.count('request.sent');
  }

  /** Another sign of life from an RLOC (an ICMP echo reply): counts like a probe reply. */
  rlocAnswered(rloc: string): void {
    this.probeReplies.set(rloc, this.env.now());
    if (this.downRlocs.delete(rloc)) this.siteCacheChanged();
  }

  private onMapReply(m: MapReply, src: string): void {
    this.count('reply.received');
    if (m.probe) {
      this.probeReplies.set(src, this.env.now());
      if (this.downRlocs.delete(src)) this.siteCacheChanged();
    }
    const r = this.pendingResolutions.get(m.nonce);
    if (r) {
      this.pendingResolutions.delete(m.nonce);
      this.env.clearTimeout(r.timer);
      this.installReply(m);
    }
    const p = this.pendingRequests.get(m.nonce);
    if (!p) return;
    this.pendingRequests.delete(m.nonce);
    this.env.clearTimeout(p.timer);
    p.resolve({ reply: m, rttMs: this.env.now() - p.sentAt, from: src });
  }

  /** RLOC-probing (RFC 9301 §7.1): direct P=1 Map-Requests; 3 missed rounds mark an RLOC down. */
  private probeRound(): void {
    const now = this.env.now();
    const interval = this.config.timers.probeIntervalMs;
    let changed = false;
    for (const mc of this.mapCache.all()) {
      if (mc.negative || mc.source === 'group') continue;
      for (const r of mc.rlocs) {
        if (this.rlocList.includes(r.address)) continue;
        const last = this.probeReplies.get(r.address) ?? this.startedAt;
        if (now - last > 3 * interval && !this.downRlocs.has(r.address)) {
          this.downRlocs.add(r.address);
          changed = true;
        }
        const own = this.rlocList.find((ip) => isIPv4(ip) === isIPv4(r.address));
        if (!own) continue;
        const { eid, eidMaskLen } = eidToWire(mc.eid);
        const probe: MapRequest = {
          type: 'map-request', authoritative: false, mapDataPresent: false, probe: true, smr: false, pitr: false,
          smrInvoked: false, nonce: randomNonce(), sourceEid: { kind: 'none' }, itrRlocs: [ipAddress(own)], records: [{ eid, eidMaskLen }],
        };
        this.env.sendControl(r.address, CONTROL_PORT, encodeControl(probe));
        this.count('probe.sent');
      }
    }
    if (changed) this.siteCacheChanged();
  }

  // -------------------------------------------------------------------------------------------
  // Views for the API and CLI

  database(): { eid: string; rlocs: string[] }[] {
    return this.config.eids.map((e) => ({ eid: eidKey(e), rlocs: [...this.rlocList] }));
  }

  peers(): string[] {
    return this.replicationTargets();
  }
}

function randomNonce(): bigint {
  return randomBytes(8).readBigUInt64BE(0);
}

function isGroupRecord(r: EidRecord): boolean {
  return r.eid.kind === 'lcaf' && r.eid.lcaf.type === 'multicast-info';
}

/** accept-more-specifics: `inner` is `outer` or lies inside it; a group prefix admits its (S,G)s. */
function coversForPolicy(outer: Eid, inner: Eid): boolean {
  if (outer.kind === 'group' && inner.kind === 'group') return outer.iid === inner.iid && outer.group === inner.group;
  return eidCovers(outer, inner);
}
