// Map-cache events (control plane) -> the FIB the forwarding loops read. The data plane owns the
// FibWriter and runs on one thread, so a write is visible to the next packet (well within the
// contract's 1 ms). Only IPv4/IPv6 prefix EIDs are forwarded; names and (S,G) entries are the
// control plane's business and are skipped here.
import { eidKey, type Eid } from '../mapping/eid';
import type { MapCacheEntry, MapCacheEvent } from '../mapping/entry';
import { FibAction, FibWriter, type RlocSpec } from '../mapping/fib';

export interface FibSyncLog {
  (level: 'debug' | 'warn', msg: string, fields?: Record<string, unknown>): void;
}

function prefixOf(eid: Eid): string | undefined {
  return eid.kind === 'ipv4' || eid.kind === 'ipv6' ? `${eid.address}/${eid.maskLen}` : undefined;
}

export class FibSync {
  readonly fib: FibWriter;
  /** eidKey -> FIB entry index, for entryCounters(). */
  private readonly keys = new Map<string, { iid: number; prefix: string }>();

  constructor(private readonly log: FibSyncLog, maxEntries = 65536) {
    this.fib = new FibWriter({ maxEntries, maxInstances: 16 });
  }

  apply(event: MapCacheEvent): void {
    if (event.op === 'remove') {
      const prefix = prefixOf(event.eid);
      if (prefix === undefined) return;
      this.fib.remove(event.eid.iid, prefix);
      this.keys.delete(event.key);
      return;
    }
    this.set(event.entry);
  }

  set(entry: MapCacheEntry): void {
    const prefix = prefixOf(entry.eid);
    if (prefix === undefined) {
      this.log('debug', 'map-cache entry not forwarded by the data plane (not an IP prefix)', { eid: entry.key });
      return;
    }
    const now = Date.now();
    // 0 = never expires: static entries and those without a finite expiry. Otherwise the FIB
    // keeps the control plane's expiry, so the data plane never forwards on a stale mapping
    // even if the control thread's remove event comes late (RFC 9301 §5.4 record TTL).
    const finite = entry.source !== 'static' && Number.isFinite(entry.expiresAt) && entry.expiresAt > 0;
    const ttlSeconds = finite ? Math.max(1, Math.ceil((entry.expiresAt - now) / 1000)) : 0;
    const rlocs: RlocSpec[] = entry.negative ? [] : entry.rlocs.map((r) => ({
      address: r.address, priority: r.priority, weight: r.weight, up: r.up, ...(r.port !== undefined ? { port: r.port } : {}),
    }));
    const action = entry.negative ? entry.action : FibAction.NoAction;
    try {
      this.fib.upsert({ iid: entry.eid.iid, prefix, rlocs, action, ttlSeconds, nowMs: now });
      this.keys.set(entry.key, { iid: entry.eid.iid, prefix });
    } catch (e) {
      this.log('warn', 'map-cache entry rejected by the FIB', { eid: entry.key, error: (e as Error).message });
    }
  }

  /** A static entry from the configuration (lowest priority wins; equal weights). */
  setStatic(eid: Eid, rlocs: readonly string[]): void {
    const now = Date.now();
    this.set({
      eid, key: eidKey(eid), rlocs: rlocs.map((address) => ({ address, priority: 1, weight: 1, up: true })),
      action: 0, negative: false, ttlMs: 0, createdAt: now, updatedAt: now, expiresAt: Infinity, source: 'static',
    });
  }

  /** Periodic: drop entries whose TTL ran out. */
  expire(): number {
    return this.fib.expire();
  }

  entryCounters(): Record<string, { packets: number; bytes: number }> {
    const out: Record<string, { packets: number; bytes: number }> = {};
    for (const [key, { iid, prefix }] of this.keys) {
      const entry = this.fib.find(iid, prefix);
      if (entry >= 0) out[key] = this.fib.entryCounters(entry);
    }
    return out;
  }

  get size(): number {
    return this.fib.size;
  }
}
