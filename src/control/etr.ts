// The ETR's registrations (RFC 9301 §8.2, RFC 9962 §4): our EIDs with our RLOCs, and our group
// membership, signed with the group key; and what the ETR does with Map-Notifys it receives.
import { isIPv4 } from 'node:net';
import { encodeControl, verifyControl, type EidRecord, type LocatorRecord, type MapNotify } from '../wire';
import { eidKey, eidToWire, routableEid, type Eid } from '../mapping/eid';
import type { NodeContext } from './context';
import { locatorIp, rleEntries, rleEntry, rleLocator, unicastLocator } from './locators';
import { signWith } from './messages';
import { TimestampNonces } from './replay';
import { authAdmits } from './policy';
import { CONTROL_PORT } from './ports';
import { msToRecordTtl } from './ttl';
import type { MappingSystem } from './decent/mapping-system';
import type { KeyExchange } from './keys';
import type { NatRegistration } from './nat';
import { RTR_PRIORITY } from './rtr';

/** lispers.net splits Map-Registers at 20 EID-records; so do we. */
const RECORDS_PER_REGISTER = 20;

export interface RegisterOptions {
  /** Record TTL; 0 withdraws (RFC 9301 §8.2: TTL 0 deregisters). */
  readonly ttlMs: number;
  readonly eids: readonly Eid[];
  /** Add the group-membership register (push mode). */
  readonly withGroup: boolean;
  /** M bit: ask for an acknowledging Map-Notify. */
  readonly wantMapNotify: boolean;
}

export class Etr {
  /** Map-Register nonces are timestamps, so Map-Servers can refuse replays (replay.ts). */
  private readonly nonces = new TimestampNonces();

  constructor(
    private readonly ctx: NodeContext, private readonly mapping: () => MappingSystem, private readonly keys?: KeyExchange,
    private readonly nat: () => NatRegistration | undefined = () => undefined,
  ) {}

  /**
   * Behind a NAT (nat.ts): the translated RLOC, named "host@tp-PORT" as lispers.net names it, and
   * each RTR at priority 254 (draft-farinacci-lisp-lispers-net-nat: what lispers registers,
   * straight to the Map-Servers, where draft-ietf-lisp-nat-traversal §5.1.1 ECMs it through the
   * RTR). With LISP-crypto on, the translated RLOC carries our key: ITRs reach us for the
   * exchange through the RTR (keys.ts) and seal end to end (README "Behind NAT").
   */
  private natLocators(nat: NatRegistration): LocatorRecord[] {
    const c = this.ctx.config;
    return [
      unicastLocator(nat.global, { name: `${c.name}@tp-${nat.port}`, local: true, key: this.keys?.registeredKey(nat.global) }),
      ...nat.rtrs.map((r) => unicastLocator(r, { priority: RTR_PRIORITY, weight: 0, name: c.lispers ? 'RTR' : undefined })),
    ];
  }

  /** Our EID Map-Registers and (with `withGroup`) our group-membership Map-Register, signed. */
  buildRegisters(o: RegisterOptions): Buffer[] {
    const c = this.ctx.config;
    const ttl = msToRecordTtl(o.ttlMs);
    const name = c.lispers ? c.name : undefined;
    // With LISP-crypto on, each RLOC carries our long-term public key: the group's HMAC binds it to us.
    const nat = this.nat();
    const locators: LocatorRecord[] = nat ? this.natLocators(nat)
      : this.ctx.rlocs.map((ip) => unicastLocator(ip, { name, local: true, key: this.keys?.registeredKey(ip) }));
    const out: Buffer[] = [];
    const eidRecords: EidRecord[] = o.eids.map((e) => ({
      ttl, ...eidToWire(e), action: 0, authoritative: true, mapVersion: 0, locators,
    }));
    for (let i = 0; i < eidRecords.length; i += RECORDS_PER_REGISTER) {
      out.push(signWith({
        type: 'map-register', proxyReply: true, security: false, useTtl: true, merge: true, wantMapNotify: o.wantMapNotify,
        nonce: this.nonces.next(this.ctx.env.now()), keyId: c.auth.keyId, algorithm: c.auth.algorithm, authData: new Uint8Array(0),
        records: eidRecords.slice(i, i + RECORDS_PER_REGISTER), xtrId: c.xtrId, siteId: c.siteId,
      }, c.auth));
    }
    if (!o.withGroup) return out;
    // Group membership (RFC 9962 §2, RFC 8378 §5.1.2): (0/0,G) with an RLE of our RLOC,
    // level 128, P=1, merge bit set, M=0 (every member would ack otherwise).
    const rle = this.ctx.registeredRlocs.filter((ip) => isIPv4(ip) === isIPv4(c.group.address)).map((ip) => rleEntry(ip, name));
    out.push(signWith({
      type: 'map-register', proxyReply: true, security: false, useTtl: true, merge: true, wantMapNotify: false,
      nonce: this.nonces.next(this.ctx.env.now()), keyId: c.auth.keyId, algorithm: c.auth.algorithm, authData: new Uint8Array(0),
      records: [{
        ttl, ...eidToWire(this.ctx.groupEid, { lispersPad: c.lispers }), action: 0, authoritative: true, mapVersion: 0,
        locators: rle.length ? [rleLocator(rle, true, c.lispers)] : [],
      }],
      xtrId: c.xtrId, siteId: c.siteId,
    }, c.auth));
    return out;
  }

  /**
   * A Map-Server tells us that one of our EIDs is held by another member (it refused our
   * registration): say so, with the holder's RLOCs, on our side too.
   */
  private ownEidElsewhere(eid: Eid, locators: readonly LocatorRecord[], from: string): void {
    const key = eidKey(eid);
    if (!this.ctx.config.eids.some((e) => eidKey(e) === key)) return;
    const theirs = locators.map((l) => locatorIp(l.address)).filter((ip): ip is string => ip !== undefined && !this.ctx.rlocs.includes(ip));
    if (theirs.length === 0) return;
    this.ctx.count('register.refused.owned');
    this.ctx.env.log('warn', `EID ${key.replace(/^\[\d+\]/, '')} is owned by ${theirs.join(', ')} (Map-Server ${from} refused our registration): give this node another EID, or list the site in policy.multihomed-sites`);
  }

  /**
   * A Map-Notify to us: the acknowledgement of an M=1 register (RFC 9301 §5.7), or a Map-Server
   * telling us the group's member list (RFC 9962 §4): we learn the members and always ack.
   */
  onMapNotify(m: MapNotify, bytes: Uint8Array, src: string): void {
    const { ctx } = this;
    ctx.count('notify.received');
    const verdict = verifyControl(bytes, ctx.config.auth.key);
    const mapping = this.mapping();
    if (verdict === 'ok' && mapping.registerAcked(m.nonce, src)) {
      ctx.count('register.acked');
      return;
    }
    if (!authAdmits(verdict, m.records, ctx.config.policy) || (verdict !== 'ok' && !mapping.isMember(src))) {
      ctx.count('notify.rejected.auth');
      ctx.env.log('warn', 'Map-Notify failed authentication', { from: src, verdict });
      return;
    }
    const members: string[] = [];
    for (const rec of m.records) {
      const eid = routableEid(rec);
      if (eid && verdict === 'ok') this.ownEidElsewhere(eid, rec.locators, src);
      if (!eid || eidKey(eid) !== ctx.groupKey) continue;
      for (const l of rec.locators) {
        for (const e of rleEntries(l.address) ?? []) if (e.address.kind === 'ipv4' || e.address.kind === 'ipv6') members.push(e.address.ip);
      }
    }
    // Always ack, with the same nonce and records (RFC 9301 §5.7; lispers.net retransmits otherwise).
    const ack: MapNotify = { ...m, type: 'map-notify-ack', authData: new Uint8Array(0), keyId: ctx.config.auth.keyId, algorithm: ctx.config.auth.algorithm };
    const ackBytes = verdict === 'ok' ? signWith(ack, ctx.config.auth) : encodeControl({ ...ack, keyId: 0, algorithm: 0 });
    ctx.env.sendControl(src, CONTROL_PORT, ackBytes);
    ctx.count('notify-ack.sent');
    if (members.length) mapping.membersNotified(members, src);
  }
}
