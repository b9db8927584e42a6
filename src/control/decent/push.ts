// LISP-Decent push mode (RFC 9962 §4): every member is a Map-Server of the whole group. Our
// registrations go "to the group": to our own Map-Server in-process, as one head-end replicated
// copy (instance-id 0xFFFFFF, §4.2) or one underlay multicast packet to every other member, and
// unicast to the seeds while bootstrapping (§4.4). When the group entry's member list changes, our
// Map-Server notifies every member, so a node that joined through one seed learns the others.
import { isIPv4 } from 'node:net';
import { encodeInnerUdp, type EidRecord } from '../../wire';
import { eidToWire, type Eid } from '../../mapping/eid';
import type { MapCacheEntry } from '../../mapping/entry';
import type { NodeContext } from '../context';
import type { Etr } from '../etr';
import type { Itr } from '../itr';
import { locatorIp, rleEntries } from '../locators';
import type { MapServer } from '../map-server';
import { CONTROL_PORT } from '../ports';
import { msToRecordTtl } from '../ttl';
import type { MappingSystem } from './mapping-system';

const REGISTER_DEBOUNCE_MS = 20;
const NOTIFY_DEBOUNCE_MS = 30;
/**
 * Members learned from a Map-Notify only bootstrap us: we register to them at once, they
 * register back, and from then on our own site cache lists them. Kept this long at most, so a
 * stale notify cannot keep a departed or roamed-away RLOC in the replication list.
 */
const NOTIFIED_MEMBER_MS = 10_000;
/** The IP TTL lispers.net gives group-addressed Map-Registers. */
const GROUP_IP_TTL = 32;
/** Rounds (start, bootstrap retries, periodic) before silence from the group is reported. */
const DIAGNOSE_AFTER_ROUNDS = 4;

export class PushMappingSystem implements MappingSystem {
  readonly mode = 'push';
  /** Members learned from (authenticated) Map-Notifys, with their expiry. */
  private readonly notifiedMembers = new Map<string, number>();
  /** Replication targets at the last registration round. */
  private lastTargets = new Set<string>();
  /** The member RLOC set last given to memberRlocsChanged, sorted and joined. */
  private lastMemberRlocs = '';
  private registerTimer: unknown;
  /** Registration rounds sent, and the diagnostics already logged. */
  private rounds = 0;
  private readonly reported = new Set<string>();
  /** Members that joined since the last flush, and the timer that flushes them. */
  private readonly joined = new Set<string>();
  private joinTimer: unknown;
  private notifyTimer: unknown;
  private bootstrapTimer: unknown;

  constructor(
    private readonly ctx: NodeContext, private readonly etr: Etr, private readonly mapServer: MapServer, private readonly itr: Itr,
  ) {}

  start(): void {
    const { config, env } = this.ctx;
    if (!config.group.seeds.length) return;
    // Bootstrap: until some other member is known, a seed that was not listening yet would
    // leave us alone for a whole period; retry at 250 ms, doubling (RFC 9301 §8.2 allows quick
    // registration after a restart).
    let retryMs = 250;
    const bootstrap = (): void => {
      this.bootstrapTimer = undefined;
      if (!this.ctx.running || this.replicationTargets().length > 0 || retryMs >= config.timers.registerIntervalMs) return;
      this.register(config.timers.registrationTtlMs, config.eids, 'bootstrap');
      retryMs *= 2;
      this.bootstrapTimer = env.setTimeout(bootstrap, retryMs);
    };
    this.bootstrapTimer = env.setTimeout(bootstrap, retryMs);
  }

  stop(): void {
    for (const t of [this.registerTimer, this.notifyTimer, this.bootstrapTimer, this.joinTimer]) if (t !== undefined) this.ctx.env.clearTimeout(t);
    this.registerTimer = this.notifyTimer = this.bootstrapTimer = this.joinTimer = undefined;
  }

  register(ttlMs: number, eids: readonly Eid[], reason: string, withGroup = true): void {
    if (ttlMs > 0 && withGroup) {
      this.rounds++;
      if (this.rounds >= DIAGNOSE_AFTER_ROUNDS) this.diagnostics();
    }
    const registers = this.etr.buildRegisters({ ttlMs, eids, withGroup, wantMapNotify: false });
    const { ctx } = this;
    const targets = this.replicationTargets();
    this.lastTargets = new Set(targets);
    const group = ctx.config.group;
    for (const bytes of registers) {
      ctx.deliverLocally(bytes);
      ctx.count('register.sent');
      if (group.replication === 'multicast' && ctx.env.sendMulticast) {
        ctx.env.sendMulticast(group.address, bytes);
      } else {
        const inner = this.groupPacket(bytes);
        for (const rloc of targets) {
          ctx.env.sendEncapsulated(rloc, inner);
          ctx.count('her.sent');
        }
      }
      for (const seed of group.seeds) {
        if (!targets.includes(seed) && !ctx.rlocs.includes(seed)) ctx.env.sendControl(seed, CONTROL_PORT, bytes);
      }
    }
    ctx.env.log('debug', 'registered to the group', { reason, targets, messages: registers.length });
  }

  /** Push mode resolves through our own Map-Resolver: the site cache has every mapping. */
  resolve(eid: Eid): MapCacheEntry {
    return this.itr.resolveLocally(eid);
  }

  registerAcked(): boolean {
    return false;
  }

  replyArrived(): boolean {
    return false;
  }

  isMember(ip: string): boolean {
    return this.replicationTargets().includes(ip) || this.ctx.config.group.seeds.includes(ip);
  }

  membersNotified(ips: readonly string[]): void {
    const until = this.ctx.env.now() + Math.min(NOTIFIED_MEMBER_MS, this.ctx.config.timers.registrationTtlMs);
    for (const ip of ips) this.notifiedMembers.set(ip, until);
    this.membersMaybeChanged();
  }

  /**
   * A registration from a member under an xTR-ID we did not hold: a new member, or one restarted
   * on the same RLOC, whose site cache is empty. For the others nothing changed in the member list,
   * so without this it would wait for our next periodic round (up to a minute).
   */
  memberJoined(rloc: string): void {
    if (this.ctx.rlocs.includes(rloc) || !this.ctx.running) return;
    if (this.ctx.config.group.replication === 'multicast' && this.ctx.env.sendMulticast) {
      // One multicast round reaches it like everyone else.
      this.registerSoon(`member ${rloc} joined`);
      return;
    }
    this.joined.add(rloc);
    if (this.joinTimer !== undefined) return;
    this.joinTimer = this.ctx.env.setTimeout(() => {
      this.joinTimer = undefined;
      const to = [...this.joined];
      this.joined.clear();
      if (!this.ctx.running) return;
      // It may know only its seed: the group entry tells it every member (its RLE need not have
      // changed, so the others would not notify it).
      this.notifyMembers(to);
      // Only to the members that joined: the others have our registrations already.
      const inner = this.etr.buildRegisters({ ttlMs: this.ctx.config.timers.registrationTtlMs, eids: this.ctx.config.eids, withGroup: true, wantMapNotify: false });
      for (const bytes of inner) {
        const packet = this.groupPacket(bytes);
        for (const rloc of to) {
          this.ctx.env.sendEncapsulated(rloc, packet);
          this.ctx.count('her.sent');
        }
      }
      this.ctx.env.log('debug', 'registered to joining members', { to });
    }, REGISTER_DEBOUNCE_MS);
  }

  /** The group entry's RLE changed: notify every member (debounced) so they learn each other. */
  groupChanged(): void {
    this.membersMaybeChanged();
    if (this.notifyTimer !== undefined || !this.ctx.running) return;
    this.notifyTimer = this.ctx.env.setTimeout(() => {
      this.notifyTimer = undefined;
      this.notifyMembers();
    }, NOTIFY_DEBOUNCE_MS);
  }

  expireMapCache(now: number): void {
    const before = this.replicationTargets().length;
    this.ctx.mapCache.expire(now);
    if (this.replicationTargets().length !== before) this.refreshGroupMapCache();
  }

  resolversFor(): Promise<string[]> {
    return Promise.resolve([]);
  }

  peers(): string[] {
    return this.replicationTargets();
  }

  /**
   * After DIAGNOSE_AFTER_ROUNDS registration rounds: nobody accepted us (every member rejects our
   * key, or no seed runs), or a seed never answered. Each new finding is logged once.
   */
  diagnostics(): string[] {
    const out: string[] = [];
    const seeds = this.ctx.config.group.seeds.filter((s) => !this.ctx.rlocs.includes(s));
    if (this.rounds < DIAGNOSE_AFTER_ROUNDS || seeds.length === 0) return out;
    const members = this.replicationTargets();
    if (members.length === 0) {
      const rejected = this.ctx.counters.get('register.rejected.auth') ?? 0;
      out.push(`no member accepted our registrations after ${this.rounds} rounds: check auth.key (seeds ${seeds.join(', ')})` +
        (rejected ? `; ${rejected} registrations from others failed our authentication` : ''));
    }
    for (const s of seeds) if (!members.includes(s)) out.push(`seed ${s} did not answer (${this.rounds} tries)`);
    for (const d of out) {
      const kind = d.replace(/\d+/g, 'N');
      if (!this.reported.has(kind)) {
        this.reported.add(kind);
        this.ctx.env.log('warn', d);
      }
    }
    return out;
  }

  /**
   * Everyone a registration to G goes to (RFC 9962 §4.2): the RLE of the group entry in our own
   * site cache, members learned from Map-Notifys that have not expired, minus ourselves.
   */
  replicationTargets(): string[] {
    const now = this.ctx.env.now();
    const set = new Set<string>(this.membersFromSiteCache());
    for (const [ip, until] of this.notifiedMembers) {
      if (until <= now || set.has(ip)) this.notifiedMembers.delete(ip);
      else set.add(ip);
    }
    for (const own of this.ctx.rlocs) set.delete(own);
    return [...set].sort();
  }

  private membersFromSiteCache(): string[] {
    const entry = this.ctx.siteCache.get(this.ctx.groupKey);
    const out: string[] = [];
    for (const l of entry?.locators ?? []) {
      for (const e of rleEntries(l.address) ?? []) if (e.address.kind === 'ipv4' || e.address.kind === 'ipv6') out.push(e.address.ip);
    }
    return out;
  }

  /** New members get our registrations at once, rather than at the next 60 s round. */
  private membersMaybeChanged(): void {
    const fresh = this.replicationTargets().filter((ip) => !this.lastTargets.has(ip));
    this.refreshGroupMapCache();
    if (fresh.length) this.registerSoon(`new members ${fresh.join(', ')}`);
  }

  /** Schedules a registration round soon; several triggers in a burst make one round. */
  private registerSoon(reason: string): void {
    if (!this.ctx.running || this.registerTimer !== undefined) return;
    this.registerTimer = this.ctx.env.setTimeout(() => {
      this.registerTimer = undefined;
      if (!this.ctx.running) return;
      this.register(this.ctx.config.timers.registrationTtlMs, this.ctx.config.eids, reason);
    }, REGISTER_DEBOUNCE_MS);
  }

  /** Our Map-Server tells the members (default: every member) the group entry (its merged RLE). */
  private notifyMembers(only?: readonly string[]): void {
    const { ctx } = this;
    const entry = ctx.siteCache.get(ctx.groupKey);
    if (!entry) return;
    const record: EidRecord = {
      ttl: msToRecordTtl(ctx.config.timers.registrationTtlMs), ...eidToWire(ctx.groupEid, { lispersPad: ctx.config.lispers }),
      action: 0, authoritative: false, mapVersion: 0, locators: entry.locators,
    };
    for (const dst of only ?? this.membersFromSiteCache()) if (!ctx.rlocs.includes(dst)) this.mapServer.notify(dst, record);
  }

  /** The (0/0,G) map-cache entry: its members are the replication list (RFC 9962 §4). */
  private refreshGroupMapCache(): void {
    const { ctx } = this;
    const members = [...new Set([...this.membersFromSiteCache(), ...this.replicationTargets()])].sort();
    this.publishMemberRlocs(members);
    if (members.length === 0) {
      ctx.mapCache.remove(ctx.groupKey);
      return;
    }
    const now = ctx.env.now();
    const ttlMs = ctx.config.timers.registrationTtlMs;
    ctx.mapCache.set({
      eid: ctx.groupEid, key: ctx.groupKey, rlocs: [], action: 0, negative: false, ttlMs, createdAt: now,
      updatedAt: now, expiresAt: now + ttlMs, source: 'group', members,
    });
  }

  /**
   * The outer sources the data plane accepts LISP data from: the members, the seeds, and every
   * RLOC of an (authenticated) registration in our site cache, which covers a multihomed
   * member's other uplinks.
   */
  private publishMemberRlocs(members: readonly string[]): void {
    const { ctx } = this;
    if (!ctx.env.memberRlocsChanged) return;
    const set = new Set<string>([...members, ...ctx.config.group.seeds]);
    for (const e of ctx.siteCache.all()) {
      for (const l of e.locators) {
        const ip = locatorIp(l.address);
        if (ip !== undefined) set.add(ip);
      }
    }
    const rlocs = [...set].sort();
    const sig = rlocs.join(',');
    if (sig === this.lastMemberRlocs) return;
    this.lastMemberRlocs = sig;
    ctx.env.memberRlocsChanged(rlocs);
  }

  /** The inner IP+UDP packet of a head-end replicated registration: our RLOC → G, 4342 → 4342. */
  private groupPacket(payload: Buffer): Buffer {
    const g = this.ctx.config.group.address;
    const v4 = isIPv4(g);
    const src = this.ctx.rlocs.find((ip) => isIPv4(ip) === v4) ?? (v4 ? '0.0.0.0' : '::');
    return encodeInnerUdp({
      version: v4 ? 4 : 6, source: src, destination: g, ttl: GROUP_IP_TTL, tos: 0, id: 0, fragment: v4 ? 0x4000 : 0,
      flowLabel: 0, sourcePort: CONTROL_PORT, destinationPort: CONTROL_PORT,
    }, payload);
  }
}
