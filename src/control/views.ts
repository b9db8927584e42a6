// Operator views of control state, shared by the worker (API answers) and tests.
import { locatorIp, locatorName, rleEntries } from './locators';
import type { SiteCacheRow } from './protocol';
import type { SiteEntry } from './site-cache';
import type { LocatorRecord } from '../wire';

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
