// Answering Map-Requests (RFC 9301 §5.3, §8): as Map-Resolver with proxy replies from the site
// cache (every member is one, RFC 9962 §4.1), as ETR with our own mapping to RLOC-probes, and
// Solicit-Map-Requests to the ITRs that asked us when our mapping changes (RFC 9301 §6.1).
import { isIPv4, isIPv6 } from 'node:net';
import { encodeControl, type EidRecord, type MapReply, type MapRequest } from '../wire';
import { eidKey, eidToWire, routableEid, type Eid } from '../mapping/eid';
import type { NodeContext } from './context';
import { locatorIp, unicastLocator } from './locators';
import { mapRequest, negativeRecord, randomNonce } from './messages';
import { coversForPolicy } from './policy';
import { CONTROL_PORT } from './ports';
import { TokenBucket } from '../limits/token-bucket';
import type { KeyExchange } from './keys';
import type { SecurityKeyLcaf } from '../wire';

/**
 * Map-Requests answered per requesting RLOC: a burst of 20, refilled at 10/s. RFC 9301 §5.3
 * asks ITRs for ≤ 1/s per EID-prefix; this bounds what a misbehaving or spoofed source costs.
 */
const REQUEST_BURST = 20;
const REQUEST_REFILL_PER_S = 10;
const REQUEST_BUCKETS_MAX = 4096;
/** All replies together: a burst of 200, refilled at 100/s, whatever the sources (reflection bound). */
const GLOBAL_BURST = 200;
const GLOBAL_REFILL_PER_S = 100;
/**
 * To an address that has not proven reachability (not an RLOC of a registered member), a reply is
 * at most this many times the request (RFC 9301 §9: Map-Requests must not make us an amplifier);
 * records that do not fit are left out.
 */
const UNPROVEN_AMPLIFICATION = 3;
/** ITR-RLOCs remembered for SMRs, and SMRs sent per mapping change. */
const REQUESTERS_MAX = 1024;
const SMRS_PER_CHANGE = 256;
/** SMRs go to ITRs that asked us in the last minute, ≤ 1 per 3 s each (RFC 9301 §6.1, §5.3). */
const SMR_RECENT_MS = 60_000;
const SMR_MIN_INTERVAL_MS = 3_000;

/** A unicast address a reply may go to: not unspecified, multicast, broadcast or loopback. */
export function isReplyAddress(ip: string): boolean {
  if (isIPv4(ip)) {
    const first = Number(ip.split('.')[0]);
    return ip !== '0.0.0.0' && ip !== '255.255.255.255' && first !== 127 && first < 224 && first !== 0;
  }
  if (!isIPv6(ip)) return false;
  const lower = ip.toLowerCase();
  return lower !== '::' && lower !== '::1' && !lower.startsWith('ff');
}

export interface RequestOrigin {
  /** The source of the outer datagram: the one address of a request an attacker cannot choose freely. */
  readonly outerSource: string;
  readonly requestBytes: number;
}

export class MapResolver {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly global = new TokenBucket(GLOBAL_BURST, GLOBAL_REFILL_PER_S);
  /** ITR-RLOCs that sent us Map-Requests: last request time, last SMR time. */
  private readonly requesters = new Map<string, { lastRequest: number; lastSmr: number }>();

  /** `refresh` re-resolves a cached EID (what an SMR asks the ITR to do). */
  constructor(private readonly ctx: NodeContext, private readonly refresh: (eid: Eid) => void, private readonly keys?: KeyExchange) {}

  private admit(src: string): boolean {
    const now = this.ctx.env.now();
    if (!this.global.has(now)) return false;
    let b = this.buckets.get(src);
    if (!b) {
      b = new TokenBucket(REQUEST_BURST, REQUEST_REFILL_PER_S, now);
      this.buckets.set(src, b);
    }
    if (this.buckets.size > REQUEST_BUCKETS_MAX) {
      for (const [k, v] of this.buckets) if (v.isFull(now)) this.buckets.delete(k);
    }
    if (!b.take(now)) return false;
    this.global.take(now);
    return true;
  }

  /**
   * `src`/`sport`: where the request says it comes from (for an ECM, the inner header, RFC 9301
   * §5.8); `origin.outerSource` keys the rate limit, since the inner source is the attacker's choice.
   */
  onMapRequest(m: MapRequest, src: string, sport: number, origin: RequestOrigin = { outerSource: src, requestBytes: 0 }): void {
    const { ctx } = this;
    ctx.count('request.received');
    if (!this.admit(origin.outerSource)) {
      ctx.count('request.rate-limited');
      return;
    }
    if (m.probe) ctx.count('probe.received');
    if (m.smr) {
      ctx.count('smr.received');
      // An SMR asks us to refresh (RFC 9301 §6.1); in push mode our own site cache already has
      // the new mapping, so re-resolving locally is the SMR-invoked request.
      for (const eid of this.requestedEids(m)) if (ctx.mapCache.lookup(eid)) this.refresh(eid);
      if (m.dontReply) return;
    }
    // Where the reply goes comes from the packet: validate it before use (RFC 9301 §5.3 ITR-RLOCs;
    // the ECM's inner source port for a Map-Resolver, §5.8). A bad one is a counted drop.
    const ips = m.itrRlocs.map((a) => locatorIp(a)).filter((ip): ip is string => ip !== undefined && isReplyAddress(ip));
    const dst = ips.find((ip) => ctx.rlocs.some((own) => isIPv4(own) === isIPv4(ip))) ?? ips[0] ?? (isReplyAddress(src) ? src : undefined);
    if (dst === undefined || !Number.isInteger(sport) || sport < 1 || sport > 65535) {
      ctx.count('request.rejected.address');
      return;
    }
    if (!m.smr && !ctx.rlocs.includes(dst)) this.rememberRequester(dst);
    // An RLOC-probe carrying the ITR's key is a LISP-crypto exchange (RFC 8061 §3): our key goes back in the RLOC-record.
    const offer = m.probe ? this.keys?.onRequest(m, dst) : undefined;
    const records: EidRecord[] = this.requestedEids(m).map((eid) => (m.probe ? this.probeReplyRecord(eid, dst, offer) : this.answerRecord(eid)));
    if (records.length === 0) return;
    const reply = (n: number): MapReply => ({
      type: 'map-reply', probe: m.probe, echoNonceCapable: false, security: false, nonce: m.nonce, records: records.slice(0, n),
    });
    let bytes = encodeControl(reply(records.length));
    if (origin.requestBytes > 0 && !ctx.isRegisteredRloc(dst)) {
      const budget = UNPROVEN_AMPLIFICATION * origin.requestBytes;
      for (let n = records.length - 1; bytes.length > budget && n >= 1; n--) bytes = encodeControl(reply(n));
      if (bytes.length > budget) {
        ctx.count('request.rejected.amplification');
        return;
      }
    }
    // the reply to an exchange from an ITR behind NAT goes through its RTR (keys.ts viaRtr)
    if (!(offer && this.keys?.viaRtr(dst, sport, reply(records.length)))) ctx.env.sendControl(dst, sport, bytes);
    ctx.count('reply.sent');
    if (records.some((r) => r.locators.length === 0)) ctx.count('reply.negative.sent');
  }

  private rememberRequester(dst: string): void {
    const now = this.ctx.env.now();
    const r = this.requesters.get(dst);
    if (r) {
      r.lastRequest = now;
      return;
    }
    if (this.requesters.size >= REQUESTERS_MAX) {
      // Age first; if every entry is recent, the oldest goes (Map keeps insertion order).
      for (const [k, v] of this.requesters) if (now - v.lastRequest > SMR_RECENT_MS) this.requesters.delete(k);
      if (this.requesters.size >= REQUESTERS_MAX) {
        this.requesters.delete(this.requesters.keys().next().value as string);
        this.ctx.count('requesters.evicted');
      }
    }
    this.requesters.set(dst, { lastRequest: now, lastSmr: -Infinity });
  }

  /** The routable EIDs a request asks for; records that name none are counted and skipped. */
  private requestedEids(m: MapRequest): Eid[] {
    const out: Eid[] = [];
    for (const r of m.records) {
      const eid = routableEid(r);
      if (eid) out.push(eid);
      else this.ctx.count('control.malformed');
    }
    return out;
  }

  /** Our own mapping for a probe reply: A=1, and p set on the RLOC being probed (RFC 9301 §5.4). */
  private probeReplyRecord(eid: Eid, requester: string, offer?: { localRloc: string; key: SecurityKeyLcaf }): EidRecord {
    // behind a NAT, the translated RLOC we registered: the ITR knows us by it (and our key is on it)
    const { config, registeredRlocs: rlocs } = this.ctx;
    const own = config.eids.find((e) => eidKey(e) === eidKey(eid)) ?? config.eids.find((e) => coversForPolicy(e, eid));
    if (!own) return negativeRecord(eid, 1, config.lispers);
    const probedFamily = isIPv4(requester);
    let marked = false;
    const locators = rlocs.map((ip) => {
      const probed = !marked && isIPv4(ip) === probedFamily;
      if (probed) marked = true;
      const key = offer?.localRloc === ip ? offer.key : undefined;
      return { ...unicastLocator(ip, { local: true, name: config.lispers ? config.name : undefined, key }), probed };
    });
    return { ttl: config.timers.mapReplyTtlMin, ...eidToWire(own), action: 0, authoritative: true, mapVersion: 0, locators };
  }

  /** A proxy reply from the site cache (A=0, L=0 unless the RLOC is ours) or a negative reply. */
  private answerRecord(eid: Eid): EidRecord {
    const { config, rlocs } = this.ctx;
    const entry = this.ctx.siteCache.lookup(eid);
    if (!entry) return negativeRecord(eid, 1, config.lispers);
    const locators = entry.locators.map((l) => {
      const ip = locatorIp(l.address);
      return { ...l, local: ip !== undefined && rlocs.includes(ip) };
    });
    return {
      ttl: config.timers.mapReplyTtlMin, ...eidToWire(entry.eid, { lispersPad: config.lispers }),
      action: 0, authoritative: false, mapVersion: 0, locators,
    };
  }

  /**
   * Our mapping changed: Solicit-Map-Request (S=1) to the ITRs that asked us recently, so they
   * re-resolve (RFC 9301 §6.1). Group members follow through the push itself.
   */
  sendSmrs(): void {
    const { ctx } = this;
    const now = ctx.env.now();
    const own = ctx.rlocs.find((ip) => isIPv4(ip)) ?? ctx.rlocs[0];
    if (!own) return;
    let sent = 0;
    for (const [itr, r] of this.requesters) {
      if (sent >= SMRS_PER_CHANGE) {
        ctx.count('smr.capped');
        break;
      }
      if (now - r.lastRequest > SMR_RECENT_MS) {
        this.requesters.delete(itr);
        continue;
      }
      if (now - r.lastSmr < SMR_MIN_INTERVAL_MS || ctx.rlocs.includes(itr)) continue;
      r.lastSmr = now;
      sent++;
      const src = ctx.rlocs.find((ip) => isIPv4(ip) === isIPv4(itr)) ?? own;
      for (const e of ctx.config.eids) {
        const smr = mapRequest({ nonce: randomNonce(), itrRloc: src, eid: e, smr: true, lispersPad: ctx.config.lispers });
        ctx.env.sendControl(itr, CONTROL_PORT, encodeControl(smr));
        ctx.count('smr.sent');
      }
    }
  }
}
