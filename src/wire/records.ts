// EID-records and Locator-records (RFC 9301 §5.4), shared by Map-Reply, Map-Register,
// Map-Notify(-Ack) and the Map-Data of a Map-Request.
import { decodeAddress, encodeAddress } from './address';
import { Reader } from './reader';
import type { EidRecord, LocatorRecord, RequestRecord } from './types';
import { Writer } from './writer';

const LOC_L = 0x0004;
const LOC_P = 0x0002;
const LOC_R = 0x0001;

export function decodeEidRecord(r: Reader, index: number): EidRecord {
  const what = `EID-record ${index}`;
  r.need(12, what);
  const ttl = r.u32(what);
  const locatorCount = r.u8(what);
  const eidMaskLen = r.u8(what);
  const actA = r.u16(what);
  const verWord = r.u16(what);
  const eid = decodeAddress(r, `${what} EID`);
  const locators: LocatorRecord[] = new Array<LocatorRecord>(locatorCount);
  for (let i = 0; i < locatorCount; i++) locators[i] = decodeLocator(r, what, i);
  const rec: { -readonly [K in keyof EidRecord]: EidRecord[K] } = {
    ttl,
    eidMaskLen,
    action: actA >>> 13,
    authoritative: (actA & 0x1000) !== 0,
    mapVersion: verWord & 0x0fff,
    eid,
    locators,
  };
  if ((actA & 0x0fff) !== 0) rec.rsvd = actA & 0x0fff;
  if (verWord >>> 12 !== 0) rec.rsvd2 = verWord >>> 12;
  return rec;
}

function decodeLocator(r: Reader, what: string, i: number): LocatorRecord {
  const lw = `${what} locator ${i}`;
  r.need(6, lw);
  const priority = r.u8(lw);
  const weight = r.u8(lw);
  const mPriority = r.u8(lw);
  const mWeight = r.u8(lw);
  const flags = r.u16(lw);
  const address = decodeAddress(r, lw);
  const loc: { -readonly [K in keyof LocatorRecord]: LocatorRecord[K] } = {
    priority, weight, mPriority, mWeight,
    local: (flags & LOC_L) !== 0,
    probed: (flags & LOC_P) !== 0,
    reachable: (flags & LOC_R) !== 0,
    address,
  };
  if (flags >>> 3 !== 0) loc.unusedFlags = flags >>> 3;
  return loc;
}

export function encodeEidRecord(w: Writer, rec: EidRecord): void {
  if (rec.locators.length > 255) throw new RangeError(`an EID-record holds at most 255 locators, got ${rec.locators.length}`);
  w.u32(rec.ttl >>> 0);
  w.u8(rec.locators.length);
  w.u8(rec.eidMaskLen);
  w.u16(((rec.action & 7) << 13) | (rec.authoritative ? 0x1000 : 0) | ((rec.rsvd ?? 0) & 0x0fff));
  w.u16((((rec.rsvd2 ?? 0) & 0xf) << 12) | (rec.mapVersion & 0x0fff));
  encodeAddress(w, rec.eid);
  for (const loc of rec.locators) {
    w.u8(loc.priority);
    w.u8(loc.weight);
    w.u8(loc.mPriority);
    w.u8(loc.mWeight);
    w.u16((((loc.unusedFlags ?? 0) & 0x1fff) << 3) | (loc.local ? LOC_L : 0) | (loc.probed ? LOC_P : 0) | (loc.reachable ? LOC_R : 0));
    encodeAddress(w, loc.address);
  }
}

export function decodeRequestRecord(r: Reader, index: number): RequestRecord {
  const what = `Map-Request record ${index}`;
  const rsvd = r.u8(what);
  const eidMaskLen = r.u8(what);
  const eid = decodeAddress(r, `${what} EID`);
  return rsvd !== 0 ? { rsvd, eidMaskLen, eid } : { eidMaskLen, eid };
}

export function encodeRequestRecord(w: Writer, rec: RequestRecord): void {
  w.u8(rec.rsvd ?? 0);
  w.u8(rec.eidMaskLen);
  encodeAddress(w, rec.eid);
}
