// LISP-Decent push mode (RFC 9962 §4): every member is a Map-Server of the whole group. Our
// registrations go "to the group": to our own Map-Server in-process, as one head-end replicated
// copy (instance-id 0xFFFFFF, §4.2) or one underlay multicast packet to every other member, and
// unicast to the seeds while bootstrapping (§4.4).
//
// Membership is incremental, so a join costs O(N) messages in the group, not a notify from every
// member to every member (O(N²)):
// - a newcomer registers to its seeds directly (UDP) until one of them has listed it back in a
//   Map-Notify (it retries, and asks again at once when a seed that was down registers to it);
// - a seed answers each direct group registration with its member list (paged Map-Notifys) and
//   its registrations, and tells every other member about the newcomer once, in a small
//   Map-Notify naming only it (a delta);
// - whoever learns of a member it did not know (from a registration or a Map-Notify) sends it our
//   registrations; a seed also names to every member new to it the members that joined through it
//   in the last RECENT_JOIN_MS and nobody named to that member yet (a member joining at the same
//   time through another seed was in neither list); a newcomer that had members of its own before
//   its seed listed it (its seed started later) merges the two the same way;
// - every registration period each member sends its list to one other member (anti-entropy), so
//   two members that missed each other still meet within a few periods.
// With `lispers-compat` the Map-Server notifies every member of the whole list whenever it
// changes, as lispers.net does (README, "Interoperating with lispers.net").
import { isIPv4 } from 'node:net';
import { encodeInnerUdp, type LocatorRecord, type RleEntry } from '../../wire';
import type { Eid } from '../../mapping/eid';
import type { MapCacheEntry } from '../../mapping/entry';
import type { NodeContext, Via } from '../context';
import type { Etr } from '../etr';
import type { Itr } from '../itr';
import { rleEntries, rleEntry } from '../locators';
import type { MapServer } from '../map-server';
import { CONTROL_PORT } from '../ports';
import type { MappingSystem } from './mapping-system';
import { FanOutPacer, PACE_SPREAD } from './pacer';
import { ListAnswers } from './list-answers';
import { groupEntryMembers, hasAddress, memberListRecords, mergeByAddress, rleEntryIp } from './member-lists';

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
/**
 * Members that joined through us this recently are named to every member new to us: one that
 * joined at the same time through another seed was not in the list we sent them, nor they in its.
 */
const RECENT_JOIN_MS = 10_000;
/** How long after the first page of the member list that listed us its other pages may come. */
const SEED_LIST_WINDOW_MS = 100;
/** A member we sent our registrations this recently does not get them again when it registers. */
const SENT_RECENTLY_MS = 5_000;

/** A member that joined through us: when, and the members told about it since (itself included). */
interface RecentJoin {
  readonly at: number;
  readonly told: Set<string>;
}

export class PushMappingSystem implements MappingSystem {
  readonly mode = 'push';
  /** Members learned from (authenticated) Map-Notifys, with their expiry; the version counts additions. */
  private readonly notifiedMembers = new Map<string, number>();
  private notifiedVersion = 0;
  /** replicationTargets(), every member, and membersFromSiteCache() as last computed, and from what (never mutated). */
  private targetsCache?: {
    readonly locators?: readonly LocatorRecord[]; readonly own: string; readonly notified: number; readonly validUntil: number;
    readonly targets: string[]; readonly all: string[];
  };
  private membersCache?: { readonly locators?: readonly LocatorRecord[]; readonly members: string[] };
  /** Replication targets at the last registration round. */
  private lastTargets = new Set<string>();
  /** The member RLOCs last given to memberRlocsChanged (in address order). */
  private lastMemberRlocs: readonly string[] = [];
  /**
   * The group changed since the last flush: the members new to us and the data plane's member set
   * are worked out there, once per burst. Per change, that O(N) work made building a group of N
   * cost O(N³) and a join O(N²) across the group (issue 17).
   */
  private membersDirty = false;
  private registerTimer: unknown;
  /** Rounds sent, and the diagnostics already logged. */
  private rounds = 0;
  private readonly reported = new Set<string>();
  /**
   * Whether one of our seeds has named us in a member list: until then we are bootstrapping and
   * register to the seeds directly, which asks them for the list. A node without seeds founds the
   * group and needs none.
   */
  private listed: boolean;
  /** At the next flush: members that get our registrations, the whole list, the recent joins. */
  private readonly pendingRegs = new Set<string>();
  private readonly pendingLists = new Set<string>();
  private readonly pendingRecent = new Set<string>();
  /** Register to our seeds at the next flush (a seed came up while we were bootstrapping). */
  private pendingSeedRegister = false;
  /** Members that joined through us since the last flush: the others are told about them. */
  private readonly pendingDeltas = new Set<string>();
  private sendTimer: unknown;
  /** Members that registered to us directly (joined through us) in the last RECENT_JOIN_MS. */
  private readonly joinedThroughUs = new Map<string, RecentJoin>();
  /** When we last sent a member our registrations outside a round. */
  private readonly sentAt = new Map<string, number>();
  /** Periodic rounds so far: picks the member our list goes to (anti-entropy). */
  private gossipRound = 0;
  private notifyTimer: unknown;
  private bootstrapTimer: unknown;
  /** What a seed named while we were not listed, and the pages after the one that listed us. */
  private seedList?: { readonly src: string; readonly named: Set<string> };
  private clusterTimer: unknown;
  /** Periodic rounds' replicated copies, paced (pacer.ts). */
  private readonly pacer: FanOutPacer;
  private readonly listAnswers: ListAnswers; // a whole list from a member is answered with what it lacked

  constructor(
    private readonly ctx: NodeContext, private readonly etr: Etr, private readonly mapServer: MapServer, private readonly itr: Itr,
  ) {
    this.listed = this.seeds().length === 0;
    this.pacer = new FanOutPacer(ctx.env, (dst, packets) => this.sendReplicated(dst, packets),
      (what, n) => ctx.count(what === 'paced' ? 'register.paced' : 'register.pace.superseded', n));
    this.listAnswers = new ListAnswers(ctx.env, () => this.membersFromSiteCache(), (ip) => this.isOwn(ip),
      (dst, named) => ctx.running && this.sendList(dst, named) && (ctx.count('members.gossip.answered'), true));
  }

  start(): void {
    const { config, env } = this.ctx;
    if (!this.seeds().length) return;
    // Bootstrap: until a seed has listed us back, a seed that was not listening yet would leave
    // us alone for a whole period; retry at 250 ms, doubling (RFC 9301 §8.2 allows quick
    // registration after a restart).
    let retryMs = 250;
    const bootstrap = (): void => {
      this.bootstrapTimer = undefined;
      if (!this.ctx.running || this.listed || retryMs >= config.timers.registerIntervalMs) return;
      this.registerToSeeds('bootstrap');
      retryMs *= 2;
      this.bootstrapTimer = env.setTimeout(bootstrap, retryMs);
    };
    this.bootstrapTimer = env.setTimeout(bootstrap, retryMs);
  }

  stop(): void {
    for (const t of [this.registerTimer, this.notifyTimer, this.bootstrapTimer, this.sendTimer, this.clusterTimer]) if (t !== undefined) this.ctx.env.clearTimeout(t);
    this.registerTimer = this.notifyTimer = this.bootstrapTimer = this.sendTimer = this.clusterTimer = undefined;
    this.pacer.stop();
    this.listAnswers.clear();
    for (const set of [this.pendingRegs, this.pendingLists, this.pendingRecent, this.pendingDeltas]) set.clear();
  }

  /** `paced`: a periodic refresh, whose replicated copies may be spread over part of the period (pacer.ts). */
  register(ttlMs: number, eids: readonly Eid[], reason: string, withGroup = true, paced = false): void {
    if (ttlMs > 0 && withGroup) {
      this.rounds++;
      if (this.rounds >= DIAGNOSE_AFTER_ROUNDS) this.diagnostics();
    }
    const registers = this.etr.buildRegisters({ ttlMs, eids, withGroup, wantMapNotify: false });
    const { ctx } = this;
    const targets = this.replicationTargets();
    this.lastTargets = new Set(targets);
    const group = ctx.config.group;
    const seeds = this.seeds();
    // Not listed yet: the seeds get it directly (that asks them for the list), not replicated.
    const direct = this.listed ? seeds.filter((s) => !targets.includes(s)) : seeds;
    const replicated = this.listed ? targets : targets.filter((t) => !seeds.includes(t));
    const multicast = group.replication === 'multicast' && ctx.env.sendMulticast !== undefined;
    for (const bytes of registers) {
      ctx.deliverLocally(bytes);
      ctx.count('register.sent');
      if (multicast) ctx.env.sendMulticast?.(group.address, bytes);
    }
    if (!multicast) {
      const packets = registers.map((b) => this.groupPacket(b));
      if (paced && ttlMs > 0) {
        this.pacer.round(replicated, packets, ctx.config.timers.registerIntervalMs * PACE_SPREAD);
      } else {
        for (const rloc of replicated) this.sendReplicated(rloc, packets);
      }
    }
    // A multicast copy reaches the seeds too: theirs must be other messages (a nonce is taken once).
    const toSeeds = multicast && direct.length ? this.etr.buildRegisters({ ttlMs, eids, withGroup, wantMapNotify: false }) : registers;
    for (const bytes of toSeeds) for (const seed of direct) ctx.env.sendControl(seed, CONTROL_PORT, bytes);
    ctx.env.log('debug', 'registered to the group', { reason, targets, seeds: direct, messages: registers.length });
  }

  /** A bootstrap retry: our registrations to the seeds only (the members we know have them). */
  private registerToSeeds(reason: string): void {
    const { ctx } = this;
    if (++this.rounds >= DIAGNOSE_AFTER_ROUNDS) this.diagnostics();
    const registers = this.etr.buildRegisters({ ttlMs: ctx.config.timers.registrationTtlMs, eids: ctx.config.eids, withGroup: true, wantMapNotify: false });
    for (const bytes of registers) {
      ctx.count('register.sent');
      for (const seed of this.seeds()) ctx.env.sendControl(seed, CONTROL_PORT, bytes);
    }
    ctx.env.log('debug', 'registered to the seeds', { reason, seeds: this.seeds() });
  }

  /**
   * Every registration period our list goes to one member (round-robin from a start of our own):
   * anti-entropy, so two members that missed each other's join meet within a few periods at the
   * cost of one list per member per period. lispers' notify-all needs none.
   */
  periodic(): void {
    const { ctx } = this;
    if (ctx.config.lispers || !ctx.running) return;
    const members = this.membersFromSiteCache().filter((ip) => !this.isOwn(ip));
    if (members.length === 0) return;
    const own = ctx.rlocs[0] ?? '';
    let offset = 0;
    for (let i = 0; i < own.length; i++) offset = (offset * 31 + own.charCodeAt(i)) >>> 0;
    const dst = members[(offset + this.gossipRound++) % members.length];
    if (this.sendList(dst, groupEntryMembers(ctx))) ctx.count('members.gossip.sent');
  }

  /** One of our RLOCs, or (behind a NAT) the translated one the group knows us by. */
  private isOwn(ip: string): boolean {
    return this.ctx.rlocs.includes(ip) || this.ctx.registeredRlocs.includes(ip);
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

  /** A member of our group entry, one a member's Map-Notify named (not yet expired), or a seed. */
  isMember(ip: string): boolean {
    const until = this.notifiedMembers.get(ip);
    if (until !== undefined && until > this.ctx.env.now()) return true;
    return hasAddress(this.membersFromSiteCache(), ip) || this.ctx.config.group.seeds.includes(ip);
  }

  membersNotified(ips: readonly string[], src: string): void {
    const until = this.ctx.env.now() + Math.min(NOTIFIED_MEMBER_MS, this.ctx.config.timers.registrationTtlMs);
    const listedNow = !this.listed && this.seeds().includes(src) && ips.some((ip) => this.isOwn(ip));
    if (!this.listed && this.seeds().includes(src)) {
      // Pages of a seed's list may come in any order: keep what it named until one names us.
      const named = this.seedList?.src === src ? this.seedList.named : new Set<string>();
      for (const ip of ips) named.add(ip);
      this.seedList = { src, named };
    } else if (this.seedList?.src === src) {
      for (const ip of ips) this.seedList.named.add(ip);
    }
    if (listedNow) {
      // A seed holds our registration and told us its members: bootstrapping is over. Its other
      // pages arrive with this one; the members none of them names are looked at after them.
      this.listed = true;
      this.ctx.env.log('debug', 'listed as a member', { members: ips.length });
      const seedList = this.seedList ?? { src, named: new Set(ips) };
      this.clusterTimer = this.ctx.env.setTimeout(() => {
        this.clusterTimer = this.seedList = undefined;
        if (this.ctx.running) this.mergeCluster(seedList);
      }, SEED_LIST_WINDOW_MS);
    }
    for (const ip of ips) this.notifiedMembers.set(ip, until);
    if (!this.ctx.config.lispers) this.listAnswers.heard(ips, src);
    this.notifiedVersion++;
    this.membersMaybeChanged();
  }

  /**
   * Members that joined through us, or found us, while we were bootstrapping ourselves (our seed
   * was not up yet) form a cluster our seed's members do not know, nor it theirs: each of them is
   * sent the seed's list, and every member of it that registers to us is told about them (as if
   * they had just joined through us).
   */
  private mergeCluster(seedList: { readonly src: string; readonly named: ReadonlySet<string> }): void {
    const { ctx } = this;
    const inList = seedList.named;
    const named = [...inList];
    const cluster = this.membersFromSiteCache().filter((ip) => !inList.has(ip) && ip !== seedList.src && !this.isOwn(ip));
    if (cluster.length === 0) return;
    const now = ctx.env.now();
    for (const ip of cluster) if (!this.joinedThroughUs.has(ip)) this.joinedThroughUs.set(ip, { at: now, told: new Set([ip]) });
    const seedMembers = named.filter((ip) => !this.isOwn(ip)).map((ip) => rleEntry(ip));
    for (const ip of cluster) if (this.sendList(ip, seedMembers)) ctx.count('members.recent.sent');
    for (const ip of this.membersFromSiteCache()) if (inList.has(ip)) this.pendingRecent.add(ip);
    this.flushSoon();
    ctx.env.log('debug', 'bootstrapped with members our seed did not list', { cluster });
  }

  /**
   * An accepted group registration from another member. Directly to us (UDP), it is
   * bootstrapping through us: it gets every member and our registrations, and the others are
   * told about it once. Replicated, under an xTR-ID we did not hold (a new member, or one
   * restarted on the same RLOC), it gets our registrations at once rather than at our next round;
   * and any member gets the members that joined through us lately and were not named to it yet.
   */
  memberRegistered(rloc: string, via: Via, newRegistrant: boolean): void {
    const { ctx } = this;
    if (this.isOwn(rloc) || !ctx.running) return;
    const now = ctx.env.now();
    // Our seed is up (it registers to us) but has not listed us: ask it now, not at the next retry.
    if (!this.listed && this.seeds().includes(rloc)) this.pendingSeedRegister = true;
    if (ctx.config.lispers) {
      if (newRegistrant) {
        this.pendingLists.add(rloc);
        this.pendingRegs.add(rloc);
      }
    } else if (via === 'udp') {
      this.pendingLists.add(rloc);
      this.pendingRegs.add(rloc);
      const joined = this.joinedThroughUs.get(rloc);
      if (!joined || now - joined.at > RECENT_JOIN_MS) {
        this.joinedThroughUs.set(rloc, { at: now, told: new Set([rloc]) });
        this.pendingDeltas.add(rloc);
      }
    } else {
      if (newRegistrant && !this.sentRecently(rloc, now)) this.pendingRegs.add(rloc);
      if (this.joinedThroughUs.size) this.pendingRecent.add(rloc);
    }
    if (this.pendingRegs.size || this.pendingLists.size || this.pendingRecent.size || this.pendingSeedRegister) this.flushSoon();
  }

  /**
   * The group entry's RLE changed. Members we did not replicate to yet get our registrations. With
   * lispers.net peers our Map-Server also notifies every member of the whole list, as lispers does.
   */
  groupChanged(): void {
    this.membersMaybeChanged();
    if (!this.ctx.config.lispers || this.notifyTimer !== undefined || !this.ctx.running) return;
    this.notifyTimer = this.ctx.env.setTimeout(() => {
      this.notifyTimer = undefined;
      if (!this.ctx.running) return;
      const members = groupEntryMembers(this.ctx);
      for (const dst of this.membersFromSiteCache()) this.sendList(dst, members);
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
    return this.memberLists().targets;
  }

  /** The replication targets, and every member (them and us when the site cache lists us), in address order. */
  private memberLists(): { readonly targets: string[]; readonly all: string[] } {
    const now = this.ctx.env.now();
    const locators = this.ctx.siteCache.get(this.ctx.groupKey)?.locators;
    const own = [...this.ctx.rlocs, ...this.ctx.registeredRlocs];
    const ownKey = own.join(',');
    const c = this.targetsCache;
    // Asked for at every registration and Map-Notify: recomputed only when an input changed.
    if (c && c.locators === locators && c.own === ownKey && c.notified === this.notifiedVersion && now < c.validUntil) return c;
    // The site cache keeps its members in address order: the notified ones are merged in, no sort.
    const members = this.membersFromSiteCache();
    const notified: string[] = [];
    let validUntil = Infinity;
    for (const [ip, until] of this.notifiedMembers) {
      if (until <= now || hasAddress(members, ip)) {
        this.notifiedMembers.delete(ip);
      } else if (!own.includes(ip)) {
        notified.push(ip);
        validUntil = Math.min(validUntil, until);
      }
    }
    const all = notified.length ? mergeByAddress(members, notified) : members;
    const targets = all.filter((ip) => !own.includes(ip));
    const cache = { locators, own: ownKey, notified: this.notifiedVersion, validUntil, targets, all };
    this.targetsCache = cache;
    return cache;
  }

  /** The RLE of our group entry: its members' RLOCs (kept while the entry's locators stay the same). */
  private membersFromSiteCache(): string[] {
    const locators = this.ctx.siteCache.get(this.ctx.groupKey)?.locators;
    const c = this.membersCache;
    if (c && c.locators === locators) return c.members;
    const members: string[] = [];
    for (const l of locators ?? []) {
      for (const e of rleEntries(l.address) ?? []) if (e.address.kind === 'ipv4' || e.address.kind === 'ipv6') members.push(e.address.ip);
    }
    this.membersCache = { locators, members };
    return members;
  }

  /** The seeds that are not ourselves. */
  private seeds(): string[] {
    return this.ctx.config.group.seeds.filter((s) => !this.ctx.rlocs.includes(s));
  }

  private sentRecently(rloc: string, now: number): boolean {
    return now - (this.sentAt.get(rloc) ?? -Infinity) < SENT_RECENTLY_MS;
  }

  /** The group changed: looked at in the next flush (once per burst), or now when we do not run. */
  private membersMaybeChanged(): void {
    this.membersDirty = true;
    if (this.ctx.running) this.flushSoon();
    else this.applyMemberChanges();
  }

  /** Members we did not replicate to yet get our registrations at once (only they: the others have them). */
  private applyMemberChanges(): void {
    if (!this.membersDirty) return;
    this.membersDirty = false;
    const fresh = this.replicationTargets().filter((ip) => !this.lastTargets.has(ip));
    this.refreshGroupMapCache();
    const now = this.ctx.env.now();
    for (const ip of fresh) {
      if (!this.sentRecently(ip, now)) this.pendingRegs.add(ip);
      if (this.joinedThroughUs.size && !this.ctx.config.lispers) this.pendingRecent.add(ip);
    }
  }

  /** One flush serves a burst of joins and notifies. */
  private flushSoon(): void {
    if (this.sendTimer !== undefined || !this.ctx.running) return;
    this.sendTimer = this.ctx.env.setTimeout(() => {
      this.sendTimer = undefined;
      if (this.ctx.running) this.flushSends();
    }, REGISTER_DEBOUNCE_MS);
  }

  private flushSends(): void {
    const { ctx } = this;
    const now = ctx.env.now();
    this.forgetOld(now);
    this.applyMemberChanges();
    const members = groupEntryMembers(ctx);
    const recentJoins = [...this.joinedThroughUs.values()];
    // Bootstrapping through us: every member.
    for (const rloc of this.pendingLists) {
      if (!this.sendList(rloc, members)) continue;
      ctx.count('members.list.sent');
      for (const j of recentJoins) j.told.add(rloc);
    }
    // Joined through us: every other member is told about them, once.
    const joiners = [...this.pendingDeltas].map((ip) => this.joinedThroughUs.get(ip)).filter((j): j is RecentJoin => j !== undefined);
    const delta = members.filter((e) => this.pendingDeltas.has(rleEntryIp(e) ?? ''));
    if (delta.length) {
      for (const dst of this.membersFromSiteCache()) {
        if (this.pendingDeltas.has(dst) || this.pendingLists.has(dst) || !this.sendList(dst, delta)) continue;
        ctx.count('members.delta.sent');
        for (const j of joiners) j.told.add(dst);
      }
    }
    // Members new to us since: those who joined through us lately that nobody named to them.
    for (const rloc of this.pendingRecent) {
      const untold = members.filter((e) => {
        const j = this.joinedThroughUs.get(rleEntryIp(e) ?? '');
        return j !== undefined && !j.told.has(rloc);
      });
      if (!this.sendList(rloc, untold)) continue;
      ctx.count('members.recent.sent');
      for (const e of untold) this.joinedThroughUs.get(rleEntryIp(e) ?? '')?.told.add(rloc);
    }
    if (this.pendingSeedRegister && !this.listed) this.registerToSeeds('a seed came up');
    this.pendingSeedRegister = false;
    const to = [...new Set([...this.pendingLists, ...this.pendingRegs])].filter((rloc) => !this.isOwn(rloc));
    for (const set of [this.pendingRegs, this.pendingLists, this.pendingRecent, this.pendingDeltas]) set.clear();
    if (to.length === 0) return;
    if (ctx.config.group.replication === 'multicast' && ctx.env.sendMulticast) {
      // One multicast round reaches them like everyone else.
      this.registerSoon(`members ${to.join(', ')} joined`);
    } else {
      const packets = this.etr.buildRegisters({ ttlMs: ctx.config.timers.registrationTtlMs, eids: ctx.config.eids, withGroup: true, wantMapNotify: false })
        .map((b) => this.groupPacket(b));
      for (const rloc of to) this.sendReplicated(rloc, packets);
    }
    for (const rloc of to) {
      this.sentAt.set(rloc, now);
      this.lastTargets.add(rloc);
    }
    ctx.env.log('debug', 'registered to new members', { to, told: delta.length ? delta.map(rleEntryIp) : undefined });
  }

  /** Bounds the join and send records: older ones no longer change what we send. */
  private forgetOld(now: number): void {
    for (const [ip, j] of this.joinedThroughUs) if (now - j.at > RECENT_JOIN_MS) this.joinedThroughUs.delete(ip);
    for (const [ip, at] of this.sentAt) if (now - at >= SENT_RECENTLY_MS) this.sentAt.delete(ip);
  }

  /**
   * Our Map-Server tells `dst` the members `named` (the group entry, paged; RFC 9962 §4). Each
   * page is retransmitted until acknowledged; decent-to-decent a page never supersedes another
   * list still pending for `dst` (each names other members). Returns whether anything was sent.
   */
  private sendList(dst: string, named: readonly RleEntry[]): boolean {
    if (this.isOwn(dst) || named.length === 0) return false;
    const lispers = this.ctx.config.lispers;
    for (const record of memberListRecords(this.ctx, named)) this.mapServer.notify(dst, record, !lispers);
    return true;
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

  /** The (0/0,G) map-cache entry: its members are the replication list (RFC 9962 §4). */
  private refreshGroupMapCache(): void {
    const { ctx } = this;
    const members = this.memberLists().all;
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
    const rlocs = mergeByAddress(members, [...ctx.config.group.seeds, ...ctx.siteCache.rlocs()]);
    const last = this.lastMemberRlocs;
    if (rlocs.length === last.length && rlocs.every((ip, i) => ip === last[i])) return;
    this.lastMemberRlocs = rlocs;
    ctx.env.memberRlocsChanged(rlocs);
  }

  /** Head-end replicated copies to one member; it leaves the paced queue (it has the newest). */
  private sendReplicated(rloc: string, packets: readonly Buffer[]): void {
    this.pacer.reached(rloc);
    for (const p of packets) {
      this.ctx.env.sendEncapsulated(rloc, p);
      this.ctx.count('her.sent');
    }
  }

  /** The inner IP+UDP packet of a head-end replicated registration: our RLOC → G, 4342 → 4342. */
  private groupPacket(payload: Buffer): Buffer {
    const g = this.ctx.config.group.address;
    const v4 = isIPv4(g);
    // behind a NAT, the translated RLOC: Map-Servers take this source as the member's RLOC
    const src = this.ctx.registeredRlocs.find((ip) => isIPv4(ip) === v4) ?? (v4 ? '0.0.0.0' : '::');
    return encodeInnerUdp({
      version: v4 ? 4 : 6, source: src, destination: g, ttl: GROUP_IP_TTL, tos: 0, id: 0, fragment: v4 ? 0x4000 : 0,
      flowLabel: 0, sourcePort: CONTROL_PORT, destinationPort: CONTROL_PORT,
    }, payload);
  }
}
