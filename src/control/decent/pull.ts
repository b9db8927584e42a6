// LISP-Decent pull mode (RFC 9962 §5): a hash of each EID picks one of `modulus` Map-Server sets,
// named `<index>.<suffix>` in the DNS. Map-Registers (M=1, retransmitted until acknowledged) go to
// every address of the set; the ITR asks one of them (round-robin) and holds the first packets
// until the Map-Reply installs the mapping.
import type { MapReply } from '../../wire';
import { eidKey, type Eid } from '../../mapping/eid';
import type { MapCacheEntry } from '../../mapping/entry';
import type { NodeContext } from '../context';
import type { Etr } from '../etr';
import type { Itr } from '../itr';
import { randomNonce } from '../messages';
import { CONTROL_PORT } from '../ports';
import type { MappingSystem } from './mapping-system';
import { lookupKey, mapServerName, type PullConfig } from './pull-hash';

/** How long the ITR waits for a Map-Reply before it asks the next Map-Resolver of the set. */
const RESOLUTION_TIMEOUT_MS = 2000;
/**
 * A Map-Resolver that let a request time out is skipped for this long (while another address
 * of its set is not marked down), so a dead set member costs one retry, not every other lookup.
 */
const RESOLVER_DOWN_MS = 30_000;
/** Bound on Map-Resolver addresses remembered as down. */
const MAX_DOWN_RESOLVERS = 1024;

interface PendingResolution {
  readonly key: string;
  readonly resolver: string;
  /** The set's addresses already asked for this lookup. */
  readonly tried: ReadonlySet<string>;
  timer: unknown;
}
/** M=1 retransmissions: 1 s, doubling, given up after 60 s (RFC 9301 §8.2). */
const FIRST_RETRANSMIT_MS = 1000;
const LAST_RETRANSMIT_MS = 60_000;

export class PullMappingSystem implements MappingSystem {
  readonly mode = 'pull';
  /** Map-Requests in flight for the ITR, by nonce, and the EID keys they serve. */
  private readonly pendingResolutions = new Map<bigint, PendingResolution>();
  private readonly resolvingKeys = new Set<string>();
  /** Map-Server set addresses per DNS name, and when they were looked up. */
  private readonly msAddresses = new Map<string, { addresses: string[]; at: number }>();
  /** DNS queries in flight, per name: one at a time. */
  private readonly dnsInFlight = new Map<string, Promise<string[]>>();
  /** Round-robin position; random, so ITRs that start together do not all ask the same address first. */
  private resolverTurn = Math.floor(Math.random() * 0x10000);
  /** Map-Resolvers that did not answer in time, until when they are skipped. */
  private readonly resolverDownUntil = new Map<string, number>();
  /** Map-Registers awaiting their Map-Notify, by `nonce|map-server`. */
  private readonly unacked = new Map<string, unknown>();

  constructor(private readonly ctx: NodeContext, private readonly pull: PullConfig, private readonly etr: Etr, private readonly itr: Itr) {}

  start(): void {}

  stop(): void {
    for (const h of this.unacked.values()) this.ctx.env.clearTimeout(h);
    this.unacked.clear();
    for (const r of this.pendingResolutions.values()) this.ctx.env.clearTimeout(r.timer);
    this.pendingResolutions.clear();
  }

  register(ttlMs: number, eids: readonly Eid[]): void {
    void this.registerToSets(ttlMs, eids);
  }

  resolve(eid: Eid): MapCacheEntry | undefined {
    void this.ask(eid);
    return this.ctx.mapCache.lookup(eid);
  }

  registerAcked(nonce: bigint, src: string): boolean {
    const key = `${nonce}|${src}`;
    if (!this.unacked.has(key)) return false;
    this.ctx.env.clearTimeout(this.unacked.get(key));
    this.unacked.delete(key);
    return true;
  }

  replyArrived(m: MapReply): boolean {
    const r = this.pendingResolutions.get(m.nonce);
    if (!r) return false;
    this.pendingResolutions.delete(m.nonce);
    this.ctx.env.clearTimeout(r.timer);
    this.resolverDownUntil.delete(r.resolver);
    this.itr.install(m);
    return true;
  }

  isMember(ip: string): boolean {
    return this.ctx.config.group.seeds.includes(ip);
  }

  membersNotified(): void {}

  memberRegistered(): void {}

  periodic(): void {}

  groupChanged(): void {}

  expireMapCache(now: number): void {
    this.ctx.mapCache.expire(now);
  }

  peers(): string[] {
    return [];
  }

  diagnostics(): string[] {
    return [];
  }

  /**
   * The EID's Map-Server set from DNS (RFC 9962 §5), the addresses not marked down first; our own
   * RLOC when we are in that set.
   */
  async resolversFor(eid: Eid): Promise<string[]> {
    const servers = await this.mapServers(mapServerName(lookupKey(eid, this.pull.lookupLengths), this.pull));
    const own = servers.find((s) => this.ctx.rlocs.includes(s));
    if (own) return [own];
    const now = this.ctx.env.now();
    const isDown = (s: string): boolean => (this.resolverDownUntil.get(s) ?? 0) > now;
    return [...servers.filter((s) => !isDown(s)), ...servers.filter(isDown)];
  }

  /**
   * Addresses of a Map-Server set's DNS name, re-resolved every dnsRefreshMs (RFC 9962 §5). Only a
   * name never resolved makes a lookup wait for DNS: an expired answer is used at once while one
   * query refreshes it behind (a lost DNS datagram costs the resolver library 5 s, and lookups that
   * waited for it missed their first 12 s in CI), and concurrent lookups share one query per name.
   */
  private mapServers(name: string): Promise<string[]> {
    const cached = this.msAddresses.get(name);
    if (cached && this.ctx.env.now() - cached.at < this.pull.dnsRefreshMs) return Promise.resolve(cached.addresses);
    const refresh = this.resolveSet(name);
    return cached ? Promise.resolve(cached.addresses) : refresh;
  }

  private resolveSet(name: string): Promise<string[]> {
    const { env } = this.ctx;
    const inFlight = this.dnsInFlight.get(name);
    if (inFlight) return inFlight;
    const cached = this.msAddresses.get(name);
    if (!env.resolveName) return Promise.resolve(cached?.addresses ?? []);
    const query = (async (): Promise<string[]> => {
      try {
        const addresses = [...new Set(await env.resolveName?.(name) ?? [])].sort();
        this.msAddresses.set(name, { addresses, at: env.now() });
        return addresses;
      } catch (e) {
        env.log('warn', 'cannot resolve the Map-Server set', { name, error: (e as Error).message });
        return cached?.addresses ?? [];
      } finally {
        this.dnsInFlight.delete(name);
      }
    })();
    this.dnsInFlight.set(name, query);
    return query;
  }

  /** Map-Registers to every address of each EID's Map-Server set (RFC 9962 §5: all A/AAAA records). */
  private async registerToSets(ttlMs: number, eids: readonly Eid[]): Promise<void> {
    const { ctx } = this;
    const byName = new Map<string, Eid[]>();
    for (const e of eids) {
      const name = mapServerName(e, this.pull);
      byName.set(name, [...(byName.get(name) ?? []), e]);
    }
    for (const [name, group] of byName) {
      const servers = await this.mapServers(name);
      if (servers.length === 0) ctx.env.log('warn', 'no Map-Server address for a hashed name', { name });
      for (const bytes of this.etr.buildRegisters({ ttlMs, eids: group, withGroup: false, wantMapNotify: ttlMs > 0 })) {
        const nonce = bytes.readBigUInt64BE(4);
        for (const ms of servers) {
          ctx.count('register.sent');
          if (ctx.rlocs.includes(ms)) {
            ctx.deliverLocally(bytes);
            continue;
          }
          ctx.env.sendControl(ms, CONTROL_PORT, bytes);
          if (ttlMs > 0) this.retransmitUntilAcked(`${nonce}|${ms}`, ms, bytes);
        }
      }
    }
  }

  /** No Map-Notify within the wait → send again, waiting twice as long each time (RFC 9301 §8.2). */
  private retransmitUntilAcked(key: string, ms: string, bytes: Buffer, waitMs = FIRST_RETRANSMIT_MS): void {
    const { ctx } = this;
    const old = this.unacked.get(key);
    if (old !== undefined) ctx.env.clearTimeout(old);
    this.unacked.set(key, ctx.env.setTimeout(() => {
      if (!this.unacked.has(key) || !ctx.running) return;
      ctx.env.sendControl(ms, CONTROL_PORT, bytes);
      ctx.count('register.retransmitted');
      if (waitMs * 2 <= LAST_RETRANSMIT_MS) this.retransmitUntilAcked(key, ms, bytes, waitMs * 2);
      else this.unacked.delete(key);
    }, waitMs));
  }

  /**
   * The ITR asks a Map-Resolver of the set its hash picks (round-robin over the addresses not
   * marked down, RFC 9962 §5); the answer is installed when it comes. No answer in time marks that
   * address down and asks the next one (each address once per lookup).
   */
  private async ask(eid: Eid): Promise<void> {
    const key = eidKey(eid);
    if (this.resolvingKeys.has(key)) return;
    this.resolvingKeys.add(key);
    try {
      const servers = await this.mapServers(mapServerName(lookupKey(eid, this.pull.lookupLengths), this.pull));
      if (servers.length === 0) return;
      if (servers.some((s) => this.ctx.rlocs.includes(s))) {
        // We are in that Map-Server set ourselves: our site cache has the answer.
        this.itr.resolveLocally(eid);
        return;
      }
      this.askNext(eid, key, servers, new Set());
    } finally {
      this.resolvingKeys.delete(key);
    }
  }

  private askNext(eid: Eid, key: string, servers: readonly string[], tried: ReadonlySet<string>): void {
    const { env } = this.ctx;
    const now = env.now();
    const untried = servers.filter((s) => !tried.has(s));
    if (untried.length === 0) return;
    const up = untried.filter((s) => (this.resolverDownUntil.get(s) ?? 0) <= now);
    // All of them down: ask anyway, one may be back.
    const choices = up.length ? up : untried;
    const resolver = choices[this.resolverTurn++ % choices.length];
    // A resolver whose down period has ended gets one trial request at a time: until it answers
    // (the mark is cleared) or times out (marked down again), concurrent lookups go to the others,
    // so a dead set member costs one retry per down period, not one per lookup in flight when it
    // expired. A resolver still marked down (asked because all are) keeps its mark as it is.
    const downUntil = this.resolverDownUntil.get(resolver);
    if (downUntil !== undefined && downUntil <= now) this.resolverDownUntil.set(resolver, now + RESOLUTION_TIMEOUT_MS);
    const nonce = randomNonce();
    const pending: PendingResolution = { key, resolver, tried: new Set([...tried, resolver]), timer: undefined };
    pending.timer = env.setTimeout(() => {
      if (this.pendingResolutions.get(nonce) !== pending) return;
      this.pendingResolutions.delete(nonce);
      this.ctx.count('request.timed-out');
      this.markDown(resolver);
      if (!this.ctx.running) return;
      env.log('debug', 'no Map-Reply in time, asking another Map-Resolver of the set', { eid: key, resolver });
      this.askNext(eid, key, servers, pending.tried);
    }, RESOLUTION_TIMEOUT_MS);
    this.pendingResolutions.set(nonce, pending);
    this.itr.sendMapRequest(eid, resolver, nonce);
  }

  private markDown(resolver: string): void {
    const now = this.ctx.env.now();
    if (this.resolverDownUntil.size >= MAX_DOWN_RESOLVERS) {
      for (const [ip, until] of this.resolverDownUntil) if (until <= now) this.resolverDownUntil.delete(ip);
      if (this.resolverDownUntil.size >= MAX_DOWN_RESOLVERS) return;
    }
    this.resolverDownUntil.set(resolver, now + RESOLVER_DOWN_MS);
  }
}
