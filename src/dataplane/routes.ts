// Host routing: the node's own EIDs as addresses on the TUN (so applications can use an EID as
// their source address) and the overlay's EID space routed into the TUN. Everything added is
// remembered and removed on stop(), so a stopped node leaves the host's tables as it found them.
import type { Eid } from '../mapping/eid';
import type { RoutedDevice } from './io';

type Log = (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;

export function prefixText(e: Eid): string | undefined {
  return e.kind === 'ipv4' || e.kind === 'ipv6' ? `${e.address}/${e.maskLen}` : undefined;
}

/** Host EIDs (/32, /128) go on the TUN as addresses; prefixes are EID subnets behind us (router case). */
export function hostAddresses(eids: readonly Eid[]): string[] {
  const out: string[] = [];
  for (const e of eids) {
    if ((e.kind === 'ipv4' && e.maskLen === 32) || (e.kind === 'ipv6' && e.maskLen === 128)) out.push(`${e.address}/${e.maskLen}`);
  }
  return out;
}

export class HostRoutes {
  /** Routes we added: the static ones (config.routes) and the current setRoutedEids() set. */
  private readonly staticRoutes = new Set<string>();
  private readonly dynamicRoutes = new Set<string>();

  constructor(private readonly tun: RoutedDevice, private readonly log: Log) {}

  private add(prefix: string): boolean {
    try {
      this.tun.addRoute(prefix);
      return true;
    } catch (e) {
      // EEXIST (another route of ours or the admin's) is not fatal: forwarding still works.
      this.log('warn', 'cannot route EID prefix into the TUN', { prefix, error: (e as Error).message });
      return false;
    }
  }

  private del(prefix: string): void {
    try {
      this.tun.removeRoute(prefix);
    } catch (e) {
      this.log('debug', 'route already gone', { prefix, error: (e as Error).message });
    }
  }

  addStatic(eids: readonly Eid[]): void {
    for (const e of eids) {
      const p = prefixText(e);
      if (p === undefined || this.staticRoutes.has(p)) continue;
      if (this.add(p)) this.staticRoutes.add(p);
    }
  }

  /** Make the dynamic set exactly `eids` (plus the static routes, which stay). */
  setDynamic(eids: readonly Eid[]): void {
    const want = new Set<string>();
    for (const e of eids) {
      const p = prefixText(e);
      if (p !== undefined && !this.staticRoutes.has(p)) want.add(p);
    }
    for (const p of [...this.dynamicRoutes]) {
      if (!want.has(p)) {
        this.del(p);
        this.dynamicRoutes.delete(p);
      }
    }
    for (const p of want) if (!this.dynamicRoutes.has(p) && this.add(p)) this.dynamicRoutes.add(p);
  }

  /** Adds and removes dynamic routes by difference (a change of the EID space, not all of it). */
  changeDynamic(added: readonly Eid[], removed: readonly Eid[]): void {
    for (const e of removed) {
      const p = prefixText(e);
      if (p === undefined || !this.dynamicRoutes.has(p)) continue;
      this.del(p);
      this.dynamicRoutes.delete(p);
    }
    for (const e of added) {
      const p = prefixText(e);
      if (p !== undefined && !this.staticRoutes.has(p) && !this.dynamicRoutes.has(p) && this.add(p)) this.dynamicRoutes.add(p);
    }
  }

  get routes(): string[] {
    return [...this.staticRoutes, ...this.dynamicRoutes];
  }

  removeAll(): void {
    for (const p of this.dynamicRoutes) this.del(p);
    for (const p of this.staticRoutes) this.del(p);
    this.dynamicRoutes.clear();
    this.staticRoutes.clear();
  }
}
