// Operator views of control state, shared by the worker (API answers) and tests.
import { locatorIp, locatorName, rleEntries } from './locators';
import type { MapCacheEntry } from '../mapping/entry';
import type { PeerRow, SiteCacheRow } from './protocol';
import type { Registration, SiteCache, SiteEntry } from './site-cache';
import type { LocatorRecord } from '../wire';
import { RTR_PRIORITY, hostOf } from './rtr';

/** `192.0.2.1` or `192.0.2.1 (n1)`; a group locator lists its RLE nodes. */
export function locatorTexts(l: LocatorRecord): string[] {
  const rle = rleEntries(l.address);
  if (rle) {
    return rle.map((e) => (e.address.kind === 'ipv4' || e.address.kind === 'ipv6' ? e.address.ip : '?') + (e.name ? ` (${e.name})` : ''));
  }
  const ip = locatorIp(l.address) ?? '?';
  const name = locatorName(l.address);
  return [name ? `${ip} (${name})` : ip];
}

export function siteCacheRow(e: SiteEntry): SiteCacheRow {
  return {
    eid: e.key,
    rlocs: e.locators.flatMap(locatorTexts),
    firstRegistered: e.firstRegistered,
    lastRegistered: e.lastRegistered,
    lastRegisterer: e.lastRegisterer,
    registrations: [...e.registrations.values()].map((r) => ({
      ...(r.xtrId !== undefined ? { xtrId: `0x${r.xtrId.toString(16)}` } : {}),
      ...(r.siteId !== undefined ? { siteId: `0x${r.siteId.toString(16)}` } : {}),
      registerer: r.registerer, via: r.via, expiresAt: r.expiresAt, authenticated: r.authenticated,
      flags: `${r.proxyReply ? 'P' : ''}${r.merge ? 'a' : ''}${r.wantMapNotify ? 'M' : ''}` || '-',
    })),
  };
}

/** What peerRows() reads of a node: public state only. */
export interface PeerSource {
  readonly siteCache: SiteCache;
  readonly mapCache: { all(): MapCacheEntry[] };
  readonly groupKey: string;
  readonly rlocs: readonly string[];
  /** Ours as the group knows them (behind a NAT: the translated RLOC). */
  readonly registeredRlocs?: readonly string[];
  readonly config: { readonly group: { readonly seeds: readonly string[] } };
  /** The replication targets: the group entry's RLE plus members learned from Map-Notifys. */
  peers(): string[];
  /** NAT traversal: our RTRs when we are behind a NAT, and the members we relay for as an RTR. */
  natPaths?(): {
    readonly outbound: readonly string[]; readonly relaying: readonly { readonly address: string; readonly dataPort?: number }[];
    /** Direct paths to members behind NAT (direct.ts), and the clock they are timed by. */
    readonly direct?: readonly DirectPathRow[]; readonly now?: number;
  };
}

export interface DirectPathRow {
  readonly address: string; readonly port: number; readonly state: 'trying' | 'direct' | 'unanswered';
  readonly since: number; readonly lastAnswer?: number; readonly lost?: string; readonly probes: number;
}

const seconds = (ms: number): string => `${(Math.max(0, ms) / 1000).toFixed(1)} s`;

/** Behind NAT, how we reach a member behind another NAT: direct once its probes answer, else via our RTRs and why. */
function natPeerPath(via: string, d: DirectPathRow | undefined, now: number): string {
  if (d === undefined) return `via RTR ${via} (we are behind NAT)`;
  const at = `${d.address}:${d.port}`;
  if (d.state === 'direct') return `direct to ${at} (both behind NAT; probe answered ${seconds(now - (d.lastAnswer ?? now))} ago)`;
  if (d.state === 'trying') return `via RTR ${via} (trying direct to ${at}: ${d.probes} probe${d.probes === 1 ? '' : 's'} unanswered)`;
  return `via RTR ${via} (${d.lost ?? `direct probes to ${at} unanswered: ${d.probes} sent (symmetric NAT?)`})`;
}

const ipOf = (a: { kind: string; ip?: string }): string | undefined => (a.kind === 'ipv4' || a.kind === 'ipv6' ? a.ip : undefined);

/** The RLOCs a registration lists: the RLE nodes of a group registration, else its unicast locators. */
function registeredRlocs(r: Registration): { ip: string; name?: string }[] {
  return r.locators.flatMap((l) => {
    const rle = rleEntries(l.address);
    if (rle) return rle.flatMap((e) => { const ip = ipOf(e.address); return ip ? [{ ip, name: e.name }] : []; });
    const ip = locatorIp(l.address);
    return ip ? [{ ip, name: locatorName(l.address) }] : [];
  });
}

/**
 * One row per group member other than us (`decent show peers`): its RLOCs and name from its
 * group registration (RFC 9962 §4: the (0/0,G) entry's RLE, one registration per xTR-ID), the
 * EIDs registered under the same xTR-ID, when it last registered, and whether its RLOCs answer
 * (the map-cache's RLOC state, kept by RLOC-probing and ICMP). Members known only from a
 * Map-Notify, and seeds that never registered, are listed too: they are what a new user checks.
 */
export function peerRows(n: PeerSource): PeerRow[] {
  const own = new Set([...n.rlocs, ...(n.registeredRlocs ?? [])]);
  const group = n.siteCache.get(n.groupKey);
  const others = n.siteCache.all().filter((e) => e.key !== n.groupKey);
  const reach = new Map<string, boolean>();
  for (const e of n.mapCache.all()) {
    for (const r of e.rlocs) reach.set(r.address, (reach.get(r.address) ?? false) || r.up);
  }
  const reachability = (ips: readonly string[]): PeerRow['reachability'] => {
    const known = ips.filter((ip) => reach.has(ip));
    if (known.length === 0) return 'unknown';
    return known.some((ip) => reach.get(ip)) ? 'up' : 'down';
  };
  const nat = n.natPaths?.() ?? { outbound: [], relaying: [] };
  /** How our data reaches a member (README "Behind NAT"): direct, or through which RTR and why. */
  const pathOf = (ips: readonly string[], rtrs: readonly string[]): string => {
    if (nat.outbound.length > 0) return natPeerPath(nat.outbound.join(', '), nat.direct?.find((d) => ips.includes(d.address)), nat.now ?? 0);
    if (rtrs.length === 0) return 'direct';
    if (rtrs.some((r) => own.has(r))) {
      const b = nat.relaying.find((x) => ips.includes(x.address));
      return `direct to its NAT${b?.dataPort !== undefined ? ` ${b.address}:${b.dataPort}` : ' (binding not learnt yet)'} (we are its RTR)`;
    }
    return `via RTR ${rtrs.join(', ')} (it is behind NAT)`;
  };
  const rows: PeerRow[] = [];
  const listed = new Set<string>();
  for (const [who, reg] of group?.registrations ?? []) {
    const rlocs = registeredRlocs(reg);
    const ips = [...new Set(rlocs.map((r) => r.ip))];
    if (ips.length === 0 || ips.every((ip) => own.has(ip))) continue;
    // The same xTR-ID, or (registrations without one) the same RLOCs.
    const sameMember = (key: string, r: Registration): boolean =>
      who !== '' ? key === who : registeredRlocs(r).some((x) => ips.includes(x.ip));
    const eids: string[] = [];
    const rtrs = new Set<string>();
    let last = reg.lastRegistered;
    let name = rlocs.find((r) => r.name)?.name;
    for (const e of others) {
      for (const [key, r] of e.registrations) {
        if (!sameMember(key, r)) continue;
        eids.push(e.key);
        for (const l of r.locators) {
          const ip = locatorIp(l.address);
          if (ip !== undefined && l.priority === RTR_PRIORITY) rtrs.add(ip);
        }
        last = Math.max(last, r.lastRegistered);
        name ??= registeredRlocs(r).find((x) => x.name)?.name ?? (e.eid.kind === 'name' ? e.eid.name : undefined);
      }
    }
    for (const ip of ips) listed.add(ip);
    rows.push({
      // lispers names a member behind NAT's RLOC host@tp-PORT: the member is the host
      name: name !== undefined ? hostOf(name) : null, rlocs: ips, eids: eids.sort(), lastRegistered: last, expiresAt: reg.expiresAt,
      state: reg.authenticated ? 'registered' : 'registered-unauthenticated', reachability: reachability(ips), path: pathOf(ips, [...rtrs].sort()),
      ...(reg.xtrId !== undefined ? { xtrId: `0x${reg.xtrId.toString(16)}` } : {}),
    });
  }
  const extra = (ip: string, state: PeerRow['state']): void => {
    if (own.has(ip) || listed.has(ip)) return;
    listed.add(ip);
    rows.push({ name: null, rlocs: [ip], eids: [], lastRegistered: null, expiresAt: null, state, reachability: reachability([ip]), path: pathOf([ip], []) });
  };
  for (const ip of n.peers()) extra(ip, 'notified');
  for (const ip of n.config.group.seeds) extra(ip, 'seed-not-registered');
  return rows.sort((a, b) => (a.rlocs[0] < b.rlocs[0] ? -1 : a.rlocs[0] > b.rlocs[0] ? 1 : 0));
}
