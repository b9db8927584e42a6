// The ITR's map-cache (RFC 9300 §6, RFC 9301 §6): mappings this node forwards with. Every change
// is reported to a listener, which feeds the data plane's FIB.
import { lookupEid, type Eid } from '../mapping/eid';
import type { MapCacheEntry, MapCacheEvent, MapCacheRloc } from '../mapping/entry';
import { locatorIp } from './locators';
import type { LocatorRecord } from '../wire';

export type { MapCacheEntry, MapCacheEvent, MapCacheRloc, MapCacheSource } from '../mapping/entry';

export function rlocsOf(locators: readonly LocatorRecord[], downSet?: ReadonlySet<string>): MapCacheRloc[] {
  const out: MapCacheRloc[] = [];
  for (const l of locators) {
    const address = locatorIp(l.address);
    if (!address) continue;
    out.push({ address, priority: l.priority, weight: l.weight, up: l.reachable && !(downSet?.has(address) ?? false) });
  }
  return out;
}

export class MapCache {
  private readonly entries = new Map<string, MapCacheEntry>();
  /** No entry expires before this (a lower bound): the once-a-second scan skips the walk until then. */
  private nextExpiry = Infinity;

  constructor(private readonly listener: (e: MapCacheEvent) => void) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): MapCacheEntry | undefined {
    return this.entries.get(key);
  }

  all(): MapCacheEntry[] {
    return [...this.entries.values()];
  }

  /** Inserts or replaces; reports only when something the data plane uses changed. */
  set(entry: MapCacheEntry): void {
    const old = this.entries.get(entry.key);
    const created = old ? { ...entry, createdAt: old.createdAt } : entry;
    this.entries.set(entry.key, created);
    if (created.source !== 'static') this.nextExpiry = Math.min(this.nextExpiry, created.expiresAt);
    if (!old || forwardingSignature(old) !== forwardingSignature(created)) this.listener({ op: 'set', entry: created });
  }

  remove(key: string): void {
    const old = this.entries.get(key);
    if (!old) return;
    this.entries.delete(key);
    this.listener({ op: 'remove', key, eid: old.eid });
  }

  /** Longest-prefix match for an address EID, exact match for names. */
  lookup(eid: Eid): MapCacheEntry | undefined {
    return lookupEid(this.entries, eid);
  }

  expire(now: number): void {
    if (now < this.nextExpiry) return;
    // A listener may set entries while we walk: they lower nextExpiry themselves.
    this.nextExpiry = Infinity;
    let next = Infinity;
    for (const e of [...this.entries.values()]) {
      if (e.source === 'static') continue;
      if (e.expiresAt <= now) this.remove(e.key);
      else next = Math.min(next, e.expiresAt);
    }
    this.nextExpiry = Math.min(this.nextExpiry, next);
  }

  clear(): void {
    for (const key of [...this.entries.keys()]) this.remove(key);
  }
}

function forwardingSignature(e: MapCacheEntry): string {
  return `${e.negative ? `neg${e.action}` : ''}|${e.rlocs.map((r) => `${r.address}:${r.port ?? ''}/${r.priority}/${r.weight}/${r.up ? 1 : 0}`).join(',')}|${(e.members ?? []).join(',')}`;
}
