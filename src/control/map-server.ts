// The Map-Server (RFC 9301 §8.2, RFC 9962 §4): authenticates Map-Registers, applies the policy,
// merges them per xTR-ID into the site cache, acknowledges M=1 registers, and sends Map-Notifys
// (retransmitted until acknowledged, RFC 9301 §5.7) when the mapping system asks it to.
import { AuthAlgorithm, verifyControl, type EidRecord, type MapNotify, type MapRegister } from '../wire';
import { type Eid, eidKey, eidToWire, routableEid } from '../mapping/eid';
import type { NodeContext, Via } from './context';
import { randomNonce, signWith } from './messages';
import { authAdmits, eidAllowed } from './policy';
import { DEFAULT_LIMITS, DEFAULT_REPLAY_WINDOW_MS } from './config';
import { ReplayGuard } from './replay';
import { CONTROL_PORT } from './ports';
import { recordTtlToMs } from './ttl';

/** Refused registrations kept for the operator's view. */
const MAX_REFUSALS_KEPT = 64;
/** How often one registrant is told the owner of one EID. */
const TELL_OWNER_INTERVAL_MS = 60_000;

interface PendingNotify {
  readonly dst: string;
  triesLeft: number;
  timer: unknown;
}

export class MapServer {
  private readonly pendingNotifies = new Map<bigint, PendingNotify>();

  private readonly replay: ReplayGuard;

  constructor(private readonly ctx: NodeContext) {
    this.replay = new ReplayGuard(ctx.config.timers.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS);
  }

  stop(): void {
    for (const p of this.pendingNotifies.values()) this.ctx.env.clearTimeout(p.timer);
    this.pendingNotifies.clear();
  }

  /** Returns whether an authenticated registration was accepted (stored or refreshed). */
  onMapRegister(m: MapRegister, bytes: Uint8Array, src: string, sport: number, via: Via): boolean {
    const { ctx } = this;
    const { config } = ctx;
    ctx.count('register.received');
    // RFC 9301 §5.6/§8.2: verify before touching any state; failures are dropped (and counted).
    const verdict = verifyControl(bytes, config.auth.key);
    if (!authAdmits(verdict, m.records, config.policy)) {
      ctx.count('register.rejected.auth');
      ctx.env.log('warn', 'Map-Register failed authentication', { from: `${src}:${sport}`, via, verdict });
      return false;
    }
    if (via !== 'local' && verdict === 'ok') {
      const replay = this.replay.check(m.xtrId, m.nonce, ctx.env.now());
      if (replay === 'duplicate') {
        // Seen before: a retransmission whose ack was lost (acked again) or a replay; no effect.
        ctx.count('register.rejected.replay');
        if (m.wantMapNotify) this.ackRegister(m, src);
        return false;
      }
      if (replay === 'replayed' || replay === 'stale') {
        ctx.count(replay === 'replayed' ? 'register.rejected.replay' : 'register.rejected.stale');
        ctx.env.log('warn', `Map-Register from ${src} refused: ${replay === 'replayed' ? 'a replayed nonce' : 'its timestamp is older than the replay window (check the clocks)'}`, { from: src, via });
        return false;
      }
    }
    if (m.keyId !== config.auth.keyId && verdict === 'ok') {
      // The key matched, so the key-id is only a label; still worth seeing when configs drift.
      ctx.env.log('debug', 'Map-Register key-id differs from ours', { keyId: m.keyId });
    }
    const now = ctx.env.now();
    let groupChanged = false;
    let anyChange = false;
    let accepted = false;
    let newMember = false;
    let groupAccepted = false;
    for (const rec of m.records) {
      const eid = routableEid(rec);
      if (!eid) {
        ctx.count('register.rejected.malformed');
        continue;
      }
      if (!eidAllowed(eid, config.policy, ctx.groupKey)) {
        ctx.count('register.rejected.policy');
        ctx.env.log('warn', 'Map-Register for an EID outside the allowed prefixes', { eid: eidKey(eid), from: src });
        continue;
      }
      const ttlMs = m.useTtl ? recordTtlToMs(rec.ttl, config.timers.registrationTtlMs) : config.timers.registrationTtlMs;
      const { outcome, newRegistrant, refusal } = ctx.siteCache.register({
        eid, record: rec, xtrId: m.xtrId, siteId: m.siteId, source: src, sourcePort: sport, via, ttlMs, now,
        proxyReply: m.proxyReply, merge: m.merge, wantMapNotify: m.wantMapNotify, authenticated: verdict === 'ok',
        lispersForm: config.lispers, limits: config.limits ?? DEFAULT_LIMITS, multihomedSites: config.policy.multihomedSites ?? [],
      });
      if (refusal) {
        ctx.count(refusal.reason === 'owned' ? 'register.rejected.owned' : 'register.rejected.limit');
        this.refused(src, m.xtrId, refusal.message);
        if (refusal.reason === 'owned' && verdict === 'ok' && via !== 'local') this.tellOwner(src, eid);
        continue;
      }
      if (outcome === 'deregistered') ctx.count('register.deregistered');
      if (outcome !== 'ignored') ctx.count('register.accepted');
      if (outcome !== 'ignored' && outcome !== 'deregistered') {
        accepted = true;
        if (eidKey(eid) === ctx.groupKey && via !== 'local') groupAccepted = true;
      }
      if (outcome === 'created' || outcome === 'changed' || outcome === 'deregistered') {
        anyChange = true;
        if (eidKey(eid) === ctx.groupKey) groupChanged = true;
      }
      if (newRegistrant && eidKey(eid) === ctx.groupKey && via !== 'local') newMember = true;
    }
    if (m.wantMapNotify) this.ackRegister(m, src);
    // A fresh authenticated registration proves the registerer reachable (RFC 9301 §7).
    if (accepted && verdict === 'ok' && via !== 'local') ctx.rlocReachable(src);
    if (anyChange) ctx.siteCacheChanged();
    if (groupChanged) ctx.groupChanged();
    if (groupAccepted) ctx.memberRegistered(src, via, newMember);
    return accepted && verdict === 'ok';
  }

  /** Refusals, newest last (bounded): shown to the operator as conflicts. */
  readonly refusals: { at: number; from: string; xtrId: string; message: string }[] = [];

  /**
   * The refused member is told who holds the EID: a Map-Notify with the owner's mapping, which its
   * ETR recognises as one of its own EIDs under other RLOCs and logs. Authenticated registrants
   * only, at most once a minute per registrant and EID, so refusals cannot be turned into a flood.
   */
  private tellOwner(src: string, eid: Eid): void {
    const { ctx } = this;
    const key = `${src}|${eidKey(eid)}`;
    const now = ctx.env.now();
    if (now - (this.told.get(key) ?? -Infinity) < TELL_OWNER_INTERVAL_MS) return;
    if (this.told.size >= MAX_REFUSALS_KEPT * 16) this.told.clear();
    this.told.set(key, now);
    const entry = ctx.siteCache.lookup(eid);
    if (!entry) return;
    this.notify(src, {
      ttl: 1, ...eidToWire(entry.eid, { lispersPad: ctx.config.lispers }), action: 0, authoritative: false, mapVersion: 0, locators: entry.locators,
    }, true);
  }

  private readonly told = new Map<string, number>();

  private refused(src: string, xtrId: bigint | undefined, message: string): void {
    const xtr = xtrId === undefined ? '-' : `0x${xtrId.toString(16)}`;
    this.refusals.push({ at: this.ctx.env.now(), from: src, xtrId: xtr, message });
    if (this.refusals.length > MAX_REFUSALS_KEPT) this.refusals.shift();
    this.ctx.env.log('warn', `Map-Register from ${src} refused: ${message}`, { from: src, xtrId: xtr });
  }

  /**
   * M=1: a Map-Notify with the same nonce and records, to UDP 4342 of the registerer, signed with
   * the register's key-id and algorithm (RFC 9301 §5.7): an xTR registering with HMAC-SHA-1 (OOR)
   * rejects a SHA-256 answer.
   */
  private ackRegister(m: MapRegister, src: string): void {
    const { auth } = this.ctx.config;
    const algorithm = m.algorithm === AuthAlgorithm.HmacSha1 || m.algorithm === AuthAlgorithm.HmacSha256 ? m.algorithm : auth.algorithm;
    const notify: MapNotify = {
      type: 'map-notify', nonce: m.nonce, keyId: m.keyId, algorithm, authData: new Uint8Array(0), records: m.records,
    };
    this.ctx.env.sendControl(src, CONTROL_PORT, signWith(notify, auth, { keyId: m.keyId, algorithm }));
    this.ctx.count('notify.sent');
  }

  /**
   * An unsolicited Map-Notify carrying `record` to `dst`, retransmitted with backoff until it is
   * acknowledged (RFC 9301 §5.7). A newer notify to the same member supersedes a pending one,
   * unless it goes `alongside` (it carries something else).
   */
  notify(dst: string, record: EidRecord, alongside = false): void {
    const { ctx } = this;
    const { auth, timers } = ctx.config;
    const nonce = randomNonce();
    const bytes = signWith({ type: 'map-notify', nonce, keyId: auth.keyId, algorithm: auth.algorithm, authData: new Uint8Array(0), records: [record] }, auth);
    for (const [n, p] of this.pendingNotifies) {
      if (p.dst === dst && !alongside) {
        ctx.env.clearTimeout(p.timer);
        this.pendingNotifies.delete(n);
      }
    }
    const pending: PendingNotify = { dst, triesLeft: timers.notifyRetries, timer: undefined };
    let waitMs = timers.notifyRetransmitMs;
    const send = (): void => {
      ctx.env.sendControl(dst, CONTROL_PORT, bytes);
      ctx.count('notify.sent');
      if (pending.triesLeft-- > 0) {
        // Back off: each retransmission waits twice as long as the last.
        const wait = waitMs;
        waitMs *= 2;
        pending.timer = ctx.env.setTimeout(() => {
          ctx.count('notify.retransmitted');
          send();
        }, wait);
      } else {
        this.pendingNotifies.delete(nonce);
      }
    };
    this.pendingNotifies.set(nonce, pending);
    send();
  }

  onMapNotifyAck(m: MapNotify, bytes: Uint8Array): void {
    this.ctx.count('notify-ack.received');
    if (verifyControl(bytes, this.ctx.config.auth.key) === 'bad') {
      this.ctx.count('notify.rejected.auth');
      return;
    }
    // lispers.net acks with 0 records: matching by nonce is enough.
    const p = this.pendingNotifies.get(m.nonce);
    if (p) {
      this.ctx.env.clearTimeout(p.timer);
      this.pendingNotifies.delete(m.nonce);
    }
  }
}
