// The ITR's side of the control plane (RFC 9301 §6): the map-cache the data plane forwards with,
// filled from our own Map-Resolver ("always local" in push mode, RFC 9962 §4.1) or from Map-Replies
// (pull mode, lig); it follows every site-cache change at once, so no SMR is needed locally.
import { LigTimeoutError } from './errors';
import { isIPv4 } from 'node:net';
import type { LocatorRecord, MapReply } from '../wire';
import { eidKey, routableEid, type Eid } from '../mapping/eid';
import type { MapCacheEntry, MapCacheRloc } from '../mapping/entry';
import type { LigResult, NodeContext } from './context';
import { rlocsOf } from './map-cache';
import { ecmMapRequest, randomNonce } from './messages';
import type { Probing } from './probing';
import { CONTROL_PORT } from './ports';
import { recordTtlToMs } from './ttl';

/** Negative map-cache entries live a minute (RFC 9301 §8: the TTL of negative replies). */
export const NEGATIVE_TTL_MS = 60_000;
/** Site-cache changes within this window make one EID-space publication to the data plane. */
const EID_SPACE_DEBOUNCE_MS = 50;

interface PendingLig {
  resolve(r: LigResult): void;
  reject(e: Error): void;
  sentAt: number;
  timer: unknown;
  readonly resolver: string;
}

export class Itr {
  private readonly pendingLigs = new Map<bigint, PendingLig>();
  /** What the data plane was last told (publishEidSpace); undefined before the first publication. */
  private publishedEidSpace: Map<string, Eid> | undefined;
  private publishTimer: unknown;

  /** `view`: what to forward with for a registered RLOC-set (NAT traversal, node.ts); default as registered. */
  constructor(
    private readonly ctx: NodeContext, private readonly probing: Probing,
    private readonly view: (locators: readonly LocatorRecord[], rlocs: readonly MapCacheRloc[]) => MapCacheRloc[] = (_, r) => [...r],
  ) {}

  stop(): void {
    if (this.publishTimer !== undefined) this.ctx.env.clearTimeout(this.publishTimer);
    this.publishTimer = undefined;
    for (const p of this.pendingLigs.values()) {
      this.ctx.env.clearTimeout(p.timer);
      p.reject(new Error('control plane stopped'));
    }
    this.pendingLigs.clear();
  }

  /** The site-cache entry's RLOC-set, or a negative entry for the EID asked. */
  resolveLocally(eid: Eid): MapCacheEntry {
    const now = this.ctx.env.now();
    const entry = this.ctx.siteCache.lookup(eid);
    let mc: MapCacheEntry;
    if (entry && entry.locators.length) {
      const ttlMs = this.ctx.config.timers.mapReplyTtlMin * 60_000;
      mc = {
        eid: entry.eid, key: entry.key, rlocs: this.view(entry.locators, rlocsOf(entry.locators, this.probing.downRlocs)), action: 0, negative: false, ttlMs,
        createdAt: now, updatedAt: now, expiresAt: now + ttlMs, source: 'local-mr',
      };
    } else {
      mc = {
        eid, key: eidKey(eid), rlocs: [], action: 1, negative: true, ttlMs: NEGATIVE_TTL_MS,
        createdAt: now, updatedAt: now, expiresAt: now + NEGATIVE_TTL_MS, source: 'local-mr',
      };
    }
    this.ctx.mapCache.set(mc);
    return mc;
  }

  /** Installs the records of a Map-Reply to one of our resolution requests. */
  install(m: MapReply): void {
    const now = this.ctx.env.now();
    for (const rec of m.records) {
      const eid = routableEid(rec);
      if (!eid) {
        this.ctx.count('control.malformed');
        continue;
      }
      const ttlMs = recordTtlToMs(rec.ttl, NEGATIVE_TTL_MS);
      const negative = rec.locators.length === 0;
      this.ctx.mapCache.set({
        eid, key: eidKey(eid), rlocs: this.view(rec.locators, rlocsOf(rec.locators, this.probing.downRlocs)), action: negative ? rec.action : 0, negative,
        ttlMs, createdAt: now, updatedAt: now, expiresAt: now + ttlMs, source: 'map-reply',
      });
    }
  }

  /** After any site-cache change, entries resolved from it follow at once. */
  followSiteCache(): void {
    this.publishEidSpaceSoon();
    for (const mc of this.ctx.mapCache.all()) {
      if (mc.source !== 'local-mr') continue;
      const entry = this.ctx.siteCache.lookup(mc.eid);
      if (!entry || !entry.locators.length) {
        if (!mc.negative) this.ctx.mapCache.remove(mc.key);
        continue;
      }
      if (entry.key !== mc.key) {
        // A more specific registration now covers a negative entry (or a broader one replaced it).
        if (mc.negative) this.ctx.mapCache.remove(mc.key);
        this.resolveLocally(entry.eid);
        continue;
      }
      this.resolveLocally(mc.eid);
    }
  }

  /**
   * A burst of registrations (a member with many EIDs, a group forming) makes one publication:
   * building the list is O(EIDs), so one per registration would be O(EIDs²) (issue: a member
   * registering 100k EIDs took a node's API down for minutes).
   */
  private publishEidSpaceSoon(): void {
    if (this.publishTimer !== undefined) return;
    this.publishTimer = this.ctx.env.setTimeout(() => {
      this.publishTimer = undefined;
      this.publishEidSpace();
    }, EID_SPACE_DEBOUNCE_MS);
  }

  /**
   * The unicast EID space others registered: what the data plane routes into the TUN. Only the
   * difference to the last publication crosses to the main thread (issue 17: a registration in a
   * group of N re-posted and re-sorted all N EIDs there, next to the packet loop); the first
   * publication of this worker replaces whatever an earlier worker published.
   */
  private publishEidSpace(): void {
    const { env, config, siteCache } = this.ctx;
    if (!env.eidSpaceChanged) return;
    const own = new Set(config.eids.map(eidKey));
    const current = new Map<string, Eid>();
    for (const e of siteCache.all()) {
      if ((e.eid.kind === 'ipv4' || e.eid.kind === 'ipv6') && !own.has(e.key) && e.locators.length > 0) current.set(e.key, e.eid);
    }
    const replace = this.publishedEidSpace === undefined;
    const before = this.publishedEidSpace ?? new Map<string, Eid>();
    const added: Eid[] = [];
    const removed: Eid[] = [];
    for (const [k, e] of current) if (replace || !before.has(k)) added.push(e);
    for (const [k, e] of before) if (!current.has(k)) removed.push(e);
    this.publishedEidSpace = current;
    if (!replace && added.length === 0 && removed.length === 0) return;
    env.eidSpaceChanged({ replace, added, removed });
  }

  /** Asks a Map-Resolver (ECM-encapsulated Map-Request, RFC 9301 §5.8) and waits for the reply. */
  lig(eid: Eid, resolver: string, timeoutMs = 2000): Promise<LigResult> {
    const nonce = randomNonce();
    if (this.ctx.rlocs.length === 0) return Promise.reject(new Error('no RLOC to ask from'));
    return new Promise<LigResult>((resolve, reject) => {
      const timer = this.ctx.env.setTimeout(() => {
        this.pendingLigs.delete(nonce);
        reject(new LigTimeoutError(`no Map-Reply from ${resolver} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingLigs.set(nonce, { resolve, reject, sentAt: this.ctx.env.now(), timer, resolver });
      this.sendMapRequest(eid, resolver, nonce);
    });
  }

  /** An ECM-encapsulated Map-Request to a Map-Resolver; the reply comes to our 4342. */
  sendMapRequest(eid: Eid, resolver: string, nonce: bigint): void {
    const rlocs = this.ctx.rlocs;
    const own = rlocs.find((ip) => isIPv4(ip) === isIPv4(resolver)) ?? rlocs[0];
    if (!own) return;
    this.ctx.env.sendControl(resolver, CONTROL_PORT, ecmMapRequest({ nonce, itrRloc: own, eid, lispersPad: this.ctx.config.lispers }));
    this.ctx.count('request.sent');
  }

  /** A Map-Reply answering one of our lig requests, if it is one. */
  ligAnswered(m: MapReply, src: string): void {
    const p = this.pendingLigs.get(m.nonce);
    if (!p) return;
    this.pendingLigs.delete(m.nonce);
    this.ctx.env.clearTimeout(p.timer);
    p.resolve({ reply: m, rttMs: this.ctx.env.now() - p.sentAt, from: src, resolver: p.resolver, unanswered: [] });
  }
}
