// The member lists a push-mode Map-Server sends in Map-Notifys (RFC 9962 §4, RFC 8378 §5.1.2):
// the group entry (0/0, G) with an RLE naming members. Decent-to-decent a list is a page of at most
// RLE_PAGE_V4 / RLE_PAGE_V6 entries, so no Map-Notify exceeds a 1,500-byte path MTU; a receiver
// adds what a page names to what it knows (it replaces nothing). lispers.net expects the whole
// merged RLE in one record, as its own Map-Server sends it.
import { isIPv4 } from 'node:net';
import type { EidRecord, RleEntry } from '../../wire';
import { eidToWire } from '../../mapping/eid';
import type { NodeContext } from '../context';
import { rleEntries, rleLocator } from '../locators';
import { ipSortKey } from '../site-cache';
import { msToRecordTtl } from '../ttl';

/** RLE entries per page: 100 IPv4 entries make a 1,020-byte Map-Notify, 50 IPv6 ones 1,040 bytes. */
export const RLE_PAGE_V4 = 100;
export const RLE_PAGE_V6 = 50;

/** The IP of an RLE entry (names and other forms have none). */
export function rleEntryIp(e: RleEntry): string | undefined {
  return e.address.kind === 'ipv4' || e.address.kind === 'ipv6' ? e.address.ip : undefined;
}

/** The members of our group entry, as RLE entries (each member's own, names included). */
export function groupEntryMembers(ctx: NodeContext): RleEntry[] {
  const out: RleEntry[] = [];
  for (const l of ctx.siteCache.get(ctx.groupKey)?.locators ?? []) out.push(...(rleEntries(l.address) ?? []));
  return out;
}

/** Group records naming `members`: pages decent-to-decent, one record in lispers' form. */
export function memberListRecords(ctx: NodeContext, members: readonly RleEntry[]): EidRecord[] {
  const { config } = ctx;
  const pageSize = config.lispers ? Math.max(1, members.length) : isIPv4(config.group.address) ? RLE_PAGE_V4 : RLE_PAGE_V6;
  const out: EidRecord[] = [];
  for (let i = 0; i < members.length; i += pageSize) {
    out.push({
      ttl: msToRecordTtl(config.timers.registrationTtlMs), ...eidToWire(ctx.groupEid, { lispersPad: config.lispers }),
      action: 0, authoritative: false, mapVersion: 0, locators: [rleLocator(members.slice(i, i + pageSize), false, config.lispers)],
    });
  }
  return out;
}

/**
 * `sorted` (member RLOCs in the site cache's order, ipSortKey) with the addresses of `more` it
 * lacks merged in at their places: O(N + k log N), where a sort of the whole list per member
 * change made a join cost every member O(N log N) (issue 17).
 */
export function mergeByAddress(sorted: readonly string[], more: Iterable<string>): string[] {
  const keyOf = (ip: string): string => ipSortKey(ip);
  const extra = [...new Set(more)].filter((ip) => !hasAddress(sorted, ip));
  if (extra.length === 0) return [...sorted];
  extra.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
  const out: string[] = [];
  let i = 0;
  for (const ip of extra) {
    while (i < sorted.length && keyOf(sorted[i]) < keyOf(ip)) out.push(sorted[i++]);
    out.push(ip);
  }
  while (i < sorted.length) out.push(sorted[i++]);
  return out;
}

/** Whether `sorted` (in ipSortKey order) holds `ip`: a binary search. */
export function hasAddress(sorted: readonly string[], ip: string): boolean {
  const k = ipSortKey(ip);
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ipSortKey(sorted[mid]) < k) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo] === ip;
}
