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
