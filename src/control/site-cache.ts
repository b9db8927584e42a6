// The Map-Server's site cache (RFC 9301 §8.2): every registration received, per EID and per
// xTR-ID, with the merged set that is published in proxy Map-Replies and Map-Notifies.
//
// Merge rules (RFC 9301 §8.2 merge semantics with the M bit of the xTR-ID trailer, RFC 8378 §5.1.3):
// - with the merge bit, each xTR-ID's registration is kept apart and the published RLOC-set is
//   their union, without duplicates; for group entries the RLEs are merged into one list, and an
//   xTR's re-registration replaces its own entries;
// - without it, a registration replaces the whole set.
import { eidKey, lookupEid, type Eid } from '../mapping/eid';
import { locatorIp, rleEntries, rleLocator } from './locators';
import type { EidRecord, LocatorRecord, RleEntry } from '../wire';
import type { LimitsConfig } from './config';

export interface Registration {
  readonly xtrId?: bigint;
  readonly siteId?: bigint;
  readonly locators: readonly LocatorRecord[];
  /** Where it came from, `ip:port`, and how (direct UDP, head-end replicated, local). */
  readonly registerer: string;
  readonly via: 'udp' | 'her' | 'local' | 'multicast';
  readonly firstRegistered: number;
  readonly lastRegistered: number;
  readonly expiresAt: number;
  readonly proxyReply: boolean;
  readonly merge: boolean;
  readonly wantMapNotify: boolean;
  readonly authenticated: boolean;
}

export interface SiteEntry {
  readonly eid: Eid;
  readonly key: string;
  readonly registrations: ReadonlyMap<string, Registration>;
  readonly firstRegistered: number;
  readonly lastRegistered: number;
  readonly lastRegisterer: string;
  /** The published RLOC-set (merged). */
  readonly locators: readonly LocatorRecord[];
}

interface MutableEntry {
  eid: Eid;
  key: string;
  registrations: Map<string, Registration>;
  firstRegistered: number;
  lastRegistered: number;
  lastRegisterer: string;
  locators: LocatorRecord[];
  signature: string;
  /** Group entries: the merged RLE entries, sorted by address, with their sort keys (same order). */
  rle?: { entries: RleEntry[]; keys: string[] };
}

export interface RegisterInput {
  readonly eid: Eid;
  readonly record: EidRecord;
  readonly xtrId?: bigint;
  readonly siteId?: bigint;
  readonly source: string;
  readonly sourcePort: number;
  readonly via: Registration['via'];
  readonly ttlMs: number;
  readonly now: number;
  readonly proxyReply: boolean;
  readonly merge: boolean;
  readonly wantMapNotify: boolean;
  readonly authenticated: boolean;
  /** Encode merged RLEs in lispers' AFI-List form. */
  readonly lispersForm: boolean;
  readonly limits: LimitsConfig;
  /** Site-IDs allowed to share EIDs (multihoming). */
  readonly multihomedSites: readonly bigint[];
}

export type RegisterOutcome = 'created' | 'changed' | 'refreshed' | 'deregistered' | 'ignored' | 'refused';

export interface RegisterResult {
  readonly outcome: RegisterOutcome;
  /** A registrant this entry did not hold before (a new member, or one restarted with a new xTR-ID). */
  readonly newRegistrant: boolean;
  /** Why a registration was refused: the limit hit or the owner of the EID. */
  readonly refusal?: { readonly reason: 'owned' | 'limit'; readonly message: string };
}

const refused = (reason: 'owned' | 'limit', message: string): RegisterResult => ({ outcome: 'refused', newRegistrant: false, refusal: { reason, message } });

const xtrKey = (xtrId: bigint | undefined): string => (xtrId === undefined ? '' : xtrId.toString(16));

export class SiteCache {
  private readonly entries = new Map<string, MutableEntry>();
  /** EID-records held per xTR-ID (the per-member cap). */
  private readonly heldBy = new Map<string, number>();
  /** How many published locators (RLE entries included) name each RLOC: who is a member. */
  private readonly rlocRefs = new Map<string, number>();
  /** Group-entry member sets published so far: their signatures. */
  private groupVersions = 0;
  /**
   * No registration expires before this (a lower bound: refreshes move expiries later). The
   * expiry scan runs every second and walked every registration: O(N) per second on each of N
   * members (issue 17).
   */
  private nextExpiry = Infinity;

  get size(): number {
    return this.entries.size;
  }

  /** Applies one EID-record of an accepted Map-Register. */
  register(input: RegisterInput): RegisterResult {
    const key = eidKey(input.eid);
    let entry = this.entries.get(key);
    const who = xtrKey(input.merge ? input.xtrId : undefined);
    if (input.record.ttl === 0) {
      // Record TTL 0 withdraws; accepted only from an RLOC in the registered set (RFC 9301 §8.2:
      // the Map-Server validates the registerer) so a third party cannot deregister a site.
      if (!entry) return { outcome: 'ignored', newRegistrant: false };
      const regKey = entry.registrations.has(who) || input.merge ? who : entry.registrations.keys().next().value ?? who;
      const reg = entry.registrations.get(regKey);
      if (!reg) return { outcome: 'ignored', newRegistrant: false };
      if (!registeredRlocs(reg).includes(input.source) && input.via !== 'local') return { outcome: 'ignored', newRegistrant: false };
      this.drop(entry, regKey);
      if (entry.registrations.size === 0) this.remove(entry);
      else this.republish(entry, input.lispersForm);
      return { outcome: 'deregistered', newRegistrant: false };
    }
    const { limits } = input;
    if (input.record.locators.length > limits.rlocsPerEid) {
      return refused('limit', `${input.record.locators.length} locators for ${key} (limits.rlocs-per-eid ${limits.rlocsPerEid})`);
    }
    if (entry?.eid.kind !== 'group') {
      const conflict = this.ownershipConflict(input, key, who);
      if (conflict) return refused('owned', conflict);
    }
    const previous = entry?.registrations.get(who);
    if (!previous) {
      if (!entry && this.entries.size >= limits.siteCache) return refused('limit', `site cache full (limits.site-cache ${limits.siteCache})`);
      if (input.eid.kind === 'group' && (entry?.registrations.size ?? 0) >= limits.members) {
        return refused('limit', `group has ${limits.members} members (limits.members)`);
      }
      if (input.eid.kind !== 'group' && (this.heldBy.get(who) ?? 0) >= limits.eidsPerMember) {
        return refused('limit', `xTR-ID 0x${who || '0'} holds ${limits.eidsPerMember} EIDs (limits.eids-per-member)`);
      }
    }
    if (input.eid.kind !== 'group') {
      const mergedCount = new Set([...(entry ? [...entry.registrations].filter(([k]) => k !== who).flatMap(([, r]) => registeredRlocs(r)) : []),
        ...registeredRlocsOf(input.record.locators)]).size;
      if (mergedCount > limits.rlocsPerEid) {
        return refused('limit', `${key} would merge ${mergedCount} RLOCs (limits.rlocs-per-eid ${limits.rlocsPerEid})`);
      }
    }
    const registerer = `${input.source}:${input.sourcePort}`;
    if (!entry) {
      entry = {
        eid: input.eid, key, registrations: new Map(), firstRegistered: input.now, lastRegistered: input.now,
        lastRegisterer: registerer, locators: [], signature: '',
      };
      this.entries.set(key, entry);
    }
    // The same RLOC under a new xTR-ID is that member restarted (the xTR-ID is random per start):
    // its new registration supersedes the old one instead of merging with it. In the group entry
    // only a new xTR-ID whose RLOC the merged list already names can be one, which spares a scan
    // of every member for each member's registration. The new registration must name the RLOC it
    // came from: one an RTR relays to a member behind NAT comes from the RTR's RLOC, and would
    // otherwise drop the RTR's own registration there (README "Behind NAT").
    let dropped = false;
    const group = entry.rle;
    const restarted = group ? !previous && lowerBoundHas(group.keys, ipSortKey(input.source)) : true;
    if (restarted && registeredRlocsOf(input.record.locators).includes(input.source)) {
      for (const [k, reg] of entry.registrations) {
        if (k !== who && input.via !== 'local' && registeredRlocs(reg).includes(input.source)) {
          this.drop(entry, k);
          dropped = true;
        }
      }
    }
    if (!input.merge) {
      for (const k of [...entry.registrations.keys()]) this.drop(entry, k);
      dropped = true;
    }
    if (!previous && entry.eid.kind !== 'group') this.heldBy.set(who, (this.heldBy.get(who) ?? 0) + 1);
    entry.registrations.set(who, {
      xtrId: input.xtrId, siteId: input.siteId, locators: input.record.locators, registerer, via: input.via,
      firstRegistered: previous?.firstRegistered ?? input.now, lastRegistered: input.now,
      expiresAt: input.now + input.ttlMs, proxyReply: input.proxyReply, merge: input.merge,
      wantMapNotify: input.wantMapNotify, authenticated: input.authenticated,
    });
    this.nextExpiry = Math.min(this.nextExpiry, input.now + input.ttlMs);
    entry.lastRegistered = input.now;
    entry.lastRegisterer = registerer;
    const before = entry.signature;
    if (entry.eid.kind !== 'group' || dropped || !this.mergeRleIncrementally(entry, previous, input)) this.republish(entry, input.lispersForm);
    const newRegistrant = !previous;
    if (!previous && before === '') return { outcome: 'created', newRegistrant };
    return { outcome: entry.signature === before ? 'refreshed' : 'changed', newRegistrant };
  }

  /**
   * An EID (or a prefix covering it) held by another live xTR-ID is not taken over: two hosts
   * answering for one address break connections, and a keyed member could steal traffic. Allowed:
   * the same RLOC (that member restarted) and multihomed sites named in the policy.
   */
  private ownershipConflict(input: RegisterInput, key: string, who: string): string | undefined {
    const holders = [this.entries.get(key), this.lookup(input.eid)].filter((e): e is MutableEntry => e !== undefined);
    for (const e of holders) {
      for (const [k, reg] of e.registrations) {
        if (k === who || reg.expiresAt <= input.now || input.via === 'local') continue;
        if (registeredRlocs(reg).includes(input.source)) continue;
        if (reg.siteId !== undefined && reg.siteId === input.siteId && input.multihomedSites.includes(reg.siteId)) continue;
        return `EID ${input.eid.kind === 'name' ? key : key.replace(/^\[\d+\]/, '')} is owned by ${reg.registerer.replace(/:\d+$/, '')}` +
          ` (xTR-ID 0x${k || '0'}${e.key !== key ? `, as part of ${e.key}` : ''})`;
      }
    }
    return undefined;
  }

  private drop(entry: MutableEntry, who: string): void {
    if (!entry.registrations.delete(who) || entry.eid.kind === 'group') return;
    const n = (this.heldBy.get(who) ?? 1) - 1;
    if (n > 0) this.heldBy.set(who, n);
    else this.heldBy.delete(who);
  }

  /** Drops registrations whose lifetime ended; returns the keys whose published set changed. */
  expire(now: number, lispersForm: boolean): string[] {
    const changed: string[] = [];
    if (now < this.nextExpiry) return changed;
    let next = Infinity;
    for (const entry of this.entries.values()) {
      let dropped = false;
      for (const [who, reg] of entry.registrations) {
        if (reg.expiresAt <= now) {
          this.drop(entry, who);
          dropped = true;
        } else if (reg.expiresAt < next) {
          next = reg.expiresAt;
        }
      }
      if (!dropped) continue;
      changed.push(entry.key);
      if (entry.registrations.size === 0) this.remove(entry);
      else this.republish(entry, lispersForm);
    }
    this.nextExpiry = next;
    return changed;
  }

  get(key: string): SiteEntry | undefined {
    return this.entries.get(key);
  }

  /** Exact match for names and groups; longest covering prefix for addresses. */
  lookup(eid: Eid): SiteEntry | undefined {
    return lookupEid(this.entries, eid);
  }

  all(): SiteEntry[] {
    return [...this.entries.values()];
  }

  clear(): void {
    this.entries.clear();
    this.heldBy.clear();
    this.rlocRefs.clear();
  }

  /** Whether an RLOC is published in the site cache (a unicast locator or an RLE entry). */
  hasRloc(ip: string): boolean {
    return this.rlocRefs.has(ip);
  }

  /** Every RLOC the site cache publishes (unicast locators and RLE entries). */
  rlocs(): IterableIterator<string> {
    return this.rlocRefs.keys();
  }

  private remove(entry: MutableEntry): void {
    this.entries.delete(entry.key);
    this.publish(entry, []);
  }

  private republish(entry: MutableEntry, lispersForm: boolean): void {
    if (entry.eid.kind === 'group') {
      const before = entry.rle;
      entry.rle = mergeRles(entry);
      const same = before !== undefined && sameKeys(before.keys, entry.rle.keys);
      this.publish(entry, entry.rle.entries.length ? [rleLocator(entry.rle.entries, false, lispersForm)] : [], undefined, same);
    } else {
      this.publish(entry, mergeUnicast(entry));
    }
  }

  /**
   * Sets an entry's published locators, keeping the RLOC reference counts and the signature;
   * `onlyAdded`: the new locators name the old RLOCs and these more (the counts need only them).
   * A group entry's signature is a version, bumped unless `sameMembers`: spelling out an RLE of
   * N members at each of N joins made building a group O(N³) in string work (issue 17).
   */
  private publish(entry: MutableEntry, locators: LocatorRecord[], onlyAdded?: readonly RleEntry[], sameMembers = false): void {
    if (!onlyAdded) {
      for (const ip of registeredRlocsOf(entry.locators)) {
        const n = (this.rlocRefs.get(ip) ?? 1) - 1;
        if (n > 0) this.rlocRefs.set(ip, n);
        else this.rlocRefs.delete(ip);
      }
    }
    const added = onlyAdded ? onlyAdded.flatMap((e) => (e.address.kind === 'ipv4' || e.address.kind === 'ipv6' ? [e.address.ip] : [])) : registeredRlocsOf(locators);
    for (const ip of added) this.rlocRefs.set(ip, (this.rlocRefs.get(ip) ?? 0) + 1);
    entry.locators = locators;
    if (entry.eid.kind !== 'group') entry.signature = locators.map(locatorSignature).join('|');
    else if (locators.length === 0) entry.signature = '';
    else if (!sameMembers || entry.signature === '') entry.signature = `rle#${++this.groupVersions}`;
  }

  /**
   * The two group-entry updates that make up nearly all of them, without re-merging every
   * member: a member's refresh naming the same RLE entries (nothing changes), and a new member
   * whose RLE entries no other member names (each is inserted at its place). Anything else
   * (a member's entries changed, a restart, duplicates) returns false: the caller re-merges.
   */
  private mergeRleIncrementally(entry: MutableEntry, previous: Registration | undefined, input: RegisterInput): boolean {
    const rle = entry.rle;
    if (!rle) return false;
    const added = input.record.locators.flatMap((l) => [...(rleEntries(l.address) ?? [])]);
    if (previous) {
      const had = previous.locators.flatMap((l) => [...(rleEntries(l.address) ?? [])]);
      return had.length === added.length && had.every((e, i) => sameRleEntry(e, added[i]));
    }
    const entries = [...rle.entries];
    const keys = [...rle.keys];
    for (const e of added) {
      const key = rleSortKey(e);
      const at = lowerBound(keys, key);
      if (keys[at] === key) return false;
      keys.splice(at, 0, key);
      entries.splice(at, 0, e);
    }
    if (added.length === 0) return true;
    entry.rle = { entries, keys };
    this.publish(entry, [rleLocator(entries, false, input.lispersForm)], added);
    return true;
  }
}

function registeredRlocs(reg: Registration): string[] {
  return registeredRlocsOf(reg.locators);
}

/** The RLOCs a set of locators names: unicast addresses and RLE entries. */
function registeredRlocsOf(locators: readonly LocatorRecord[]): string[] {
  const out: string[] = [];
  for (const l of locators) {
    const ip = locatorIp(l.address);
    if (ip) out.push(ip);
    for (const e of rleEntries(l.address) ?? []) if (e.address.kind === 'ipv4' || e.address.kind === 'ipv6') out.push(e.address.ip);
  }
  return out;
}

function mergeUnicast(entry: MutableEntry): LocatorRecord[] {
  const seen = new Set<string>();
  const out: LocatorRecord[] = [];
  for (const reg of entry.registrations.values()) {
    for (const loc of reg.locators) {
      const k = locatorIp(loc.address) ?? JSON.stringify(loc.address);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(loc);
    }
  }
  // RFC 9301 §5.5: locators sorted by address, IPv4 before IPv6.
  return out.sort((a, b) => compareIp(locatorIp(a.address), locatorIp(b.address)));
}

function mergeRles(entry: MutableEntry): { entries: RleEntry[]; keys: string[] } {
  const byKey = new Map<string, RleEntry>();
  for (const reg of entry.registrations.values()) {
    for (const loc of reg.locators) {
      for (const e of rleEntries(loc.address) ?? []) byKey.set(rleSortKey(e), e);
    }
  }
  const keys = [...byKey.keys()].sort();
  return { entries: keys.map((k) => byKey.get(k) as RleEntry), keys };
}

/**
 * What RLE entries are ordered by: IPv4 before IPv6 (RFC 9301 §5.5 orders locators by address),
 * IPv4 by its zero-padded dotted form, the rest by their text. Computed once per address, so a
 * sort compares plain strings.
 */
function rleSortKey(e: RleEntry): string {
  const ip = e.address.kind === 'ipv4' || e.address.kind === 'ipv6' ? e.address.ip : JSON.stringify(e.address);
  return ipSortKey(ip);
}

const sortKeys = new Map<string, string>();
const SORT_KEYS_MAX = 65_536;

/** The order of RLE entries and of member lists: IPv4 before IPv6, each by address. */
export function ipSortKey(ip: string): string {
  let k = sortKeys.get(ip);
  if (k === undefined) {
    k = ip.includes(':') ? `1${ip}` : `0${ip.split('.').map((x) => x.padStart(3, '0')).join('.')}`;
    if (sortKeys.size >= SORT_KEYS_MAX) sortKeys.clear();
    sortKeys.set(ip, k);
  }
  return k;
}

function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

function lowerBoundHas(sorted: readonly string[], key: string): boolean {
  return sorted[lowerBound(sorted, key)] === key;
}

function sameRleEntry(a: RleEntry, b: RleEntry): boolean {
  return a.level === b.level && a.name === b.name && rleSortKey(a) === rleSortKey(b);
}

function compareIp(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  const ka = ipSortKey(a), kb = ipSortKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function locatorSignature(l: LocatorRecord): string {
  const rle = rleEntries(l.address);
  if (rle) return `rle:${rle.map((e) => (e.address.kind === 'ipv4' || e.address.kind === 'ipv6' ? e.address.ip : '?')).join(',')}`;
  return `${locatorIp(l.address)}/${l.priority}/${l.weight}/${l.reachable ? 1 : 0}`;
}
