// The RTR role (draft-ietf-lisp-nat-traversal, the RTR, in the form lispers.net runs it,
// draft-farinacci-lisp-lispers-net-nat): a member with `nat.rtr: true` relays for members
// behind a NAT that registered their EIDs with its RLOC at priority 254.
//   - NAT state: per member behind NAT, the translated address and ports its own Info-Requests
//     came from: data-port ones (a LISP data header with instance-id 0xFFFFFF, to our 4341) give
//     the port data must be re-encapsulated to, control-port ones the port its NAT lets our 4342
//     reach. Keyed by the requester's hostname (lispers' Info-Request form) and address, bounded.
//   - Forwarding view: in an RLOC-set with RTRs (priority 254), an RTR forwards to the member's
//     global RLOC at its translated data port; everybody else forwards to the RTRs only (what the
//     lispers.net Map-Server's partial RLOC-sets do, here in each member's own resolver).
//   - The group's registrations reach a member behind NAT through us (beyond the drafts: in a
//     decent group every member must hold every mapping, and head-end replicated copies to its
//     translated address are dropped by its NAT): we relay each authenticated Map-Register to its
//     control port, and hand a newly served member the latest ones of every member at once.
import type { MapCacheRloc } from '../mapping/entry';
import type { Ecm, InfoRequest, LocatorRecord, MapRegister } from '../wire';
import type { NodeContext } from './context';
import { eidKey, routableEid } from '../mapping/eid';
import { locatorIp, locatorName } from './locators';
import type { RelayPeers } from './protocol';

/** The priority that marks an RTR's locator (draft-farinacci-lisp-lispers-net-nat). */
export const RTR_PRIORITY = 254;
/**
 * In a route via RTRs, the member behind them at this priority (255: never chosen, RFC 9301 §5.4):
 * the relay target LISP-crypto seals for and the relay shim names (decent-to-decent, README
 * "Behind NAT"; src/dataplane/encap.ts RELAY_TARGET_PRIORITY).
 */
export const RELAY_TARGET_PRIORITY = 255;
/** NAT bindings kept (one per member behind NAT and address); the oldest goes first. */
const MAX_BINDINGS = 4096;
/** A binding not refreshed for this long is gone (members refresh it every `nat.keepalive`). */
const BINDING_TTL_MS = 120_000;
/** Latest Map-Registers kept to hand a newly served member the group at once. */
const MAX_CACHED_REGISTERS = 8192;

export interface NatBinding {
  /** The member's hostname, from its Info-Requests. */
  readonly name: string;
  /** Its translated (global) address. */
  readonly address: string;
  /** Where its data-port Info-Requests came from: data for its EIDs goes there. */
  dataPort?: number;
  /** Where its control-port Info-Requests came from: relayed registrations go there. */
  controlPort?: number;
  seenAt: number;
}

/** A member behind NAT we relay for: its xTR-ID and binding. */
export interface ServedMember {
  readonly xtrId: string;
  readonly binding: NatBinding;
}

/** The hostname part of lispers' "host@tp-PORT" RLOC-name. */
export function hostOf(rlocName: string): string {
  const at = rlocName.indexOf('@');
  return at < 0 ? rlocName : rlocName.slice(0, at);
}

export class RtrRole {
  private readonly bindings = new Map<string, NatBinding>();
  private readonly registers = new Map<string, { bytes: Uint8Array; xtrId: string }>();
  private served = new Map<string, ServedMember>();
  /** Served members (name|address) that were handed the group's registrations at once. */
  private readonly handed = new Set<string>();
  private dirty = true;

  constructor(private readonly ctx: NodeContext) {}

  private get enabled(): boolean {
    return this.ctx.config.nat?.rtr === true;
  }

  /** An Info-Request from a member (control port: `data` false; data port: true). */
  learn(m: InfoRequest, src: string, sport: number, data: boolean): void {
    if (!this.enabled) return;
    if (m.requester.kind !== 'name') {
      // lispers keys NAT state by the hostname after the EID-prefix; without it we cannot tell
      // two members behind one NAT apart
      if (data) this.ctx.count('rtr.info.unnamed');
      return;
    }
    const key = `${m.requester.name}|${src}`;
    const now = this.ctx.env.now();
    let b = this.bindings.get(key);
    if (!b) {
      if (this.bindings.size >= MAX_BINDINGS) this.bindings.delete(this.bindings.keys().next().value as string);
      b = { name: m.requester.name, address: src, seenAt: now };
      this.bindings.set(key, b);
    } else {
      // refreshed bindings move to the back: the oldest is evicted first
      this.bindings.delete(key);
      this.bindings.set(key, b);
    }
    b.seenAt = now;
    const before = data ? b.dataPort : b.controlPort;
    if (data) b.dataPort = sport; else b.controlPort = sport;
    this.ctx.count(data ? 'rtr.info.data' : 'rtr.info.control');
    if (before !== sport) {
      this.ctx.env.log('info', `NAT binding of ${b.name}: ${src}:${sport} (${data ? 'data' : 'control'} port)`, { member: b.name, address: src, port: sport });
      this.dirty = true;
      this.refreshServed();
      // map-cache entries through this binding follow (the data plane's FIB gets the port)
      if (data) this.ctx.siteCacheChanged();
    }
  }

  private binding(address: string, name: string | undefined): NatBinding | undefined {
    const now = this.ctx.env.now();
    if (name !== undefined) {
      const b = this.bindings.get(`${hostOf(name)}|${address}`);
      return b && now - b.seenAt <= BINDING_TTL_MS ? b : undefined;
    }
    // an RLOC without a name: the one member we know behind that address, if only one
    let found: NatBinding | undefined;
    for (const b of this.bindings.values()) {
      if (b.address !== address || now - b.seenAt > BINDING_TTL_MS) continue;
      if (found) return undefined;
      found = b;
    }
    return found;
  }

  /**
   * What the ITR forwards with for an RLOC-set (`rlocs` read from `locators`): unchanged without
   * RTR locators; ours when we are one of its RTRs: the global RLOCs at their translated data
   * ports (none known yet: no usable RLOC, the packets are dropped until the member's next
   * Info-Request); otherwise the RTRs only.
   */
  forwardingRlocs(locators: readonly LocatorRecord[], rlocs: readonly MapCacheRloc[]): MapCacheRloc[] {
    const rtrs = new Set<string>();
    for (const l of locators) {
      const ip = locatorIp(l.address);
      if (ip !== undefined && l.priority === RTR_PRIORITY) rtrs.add(ip);
    }
    if (rtrs.size === 0) return [...rlocs];
    if (!this.enabled || !this.ctx.rlocs.some((r) => rtrs.has(r))) return withRelayTargets(rlocs.filter((r) => rtrs.has(r.address)), rlocs);
    const out: MapCacheRloc[] = [];
    for (const l of locators) {
      const ip = locatorIp(l.address);
      if (ip === undefined || l.priority === RTR_PRIORITY || l.priority === 255) continue;
      const b = this.binding(ip, locatorName(l.address));
      if (b?.dataPort === undefined) continue;
      out.push({ address: ip, priority: l.priority, weight: l.weight, up: true, port: b.dataPort });
    }
    return out;
  }

  /**
   * An ECM'd LISP-crypto exchange (keys.ts: an RLOC-probe carrying the ITR's key, or the ETR's
   * probe reply to an ITR behind NAT) for the inner destination, a member behind NAT we relay
   * for: the ECM (`bytes`, unchanged: the inner header names the sender) goes on to the member's
   * control port through its NAT binding. Only from group members' registered RLOCs, one message
   * out per message in. False: not for us to relay (the caller answers it as a Map-Resolver).
   */
  relayRequest(m: Ecm, src: string, bytes: Uint8Array): boolean {
    const t = m.message?.type;
    if (!this.enabled || (t !== 'map-request' && t !== 'map-reply') || !m.inner || !m.message?.probe) return false;
    const dst = m.inner.destination;
    if (this.ctx.rlocs.includes(dst)) return false;
    const port = this.controlPortFor(dst);
    if (port === undefined) return false;
    if (!this.ctx.isRegisteredRloc(src)) {
      this.ctx.count('rtr.request.refused');
      return true;
    }
    this.ctx.env.sendControl(dst, port, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.ctx.count('rtr.request.relayed');
    return true;
  }

  /**
   * For the data plane (DataPlane.setRelayPeers): every RTR registered in the site cache (their
   * FROM relay shims are accepted) plus `ownRtrs`, and as an RTR the data port of each member we
   * serve by its translated address (one member per address: with two behind one NAT address a
   * shim cannot say which, and neither is a target).
   */
  relayPeers(ownRtrs: readonly string[]): RelayPeers {
    const rtrs = new Set(ownRtrs);
    for (const e of this.ctx.siteCache.all()) {
      for (const r of e.registrations.values()) {
        if (!r.authenticated) continue;
        for (const l of r.locators) {
          const ip = locatorIp(l.address);
          if (ip !== undefined && l.priority === RTR_PRIORITY && !this.ctx.rlocs.includes(ip)) rtrs.add(ip);
        }
      }
    }
    const ports = new Map<string, number | undefined>();
    if (this.enabled) {
      for (const s of this.servedMembers()) {
        const b = s.binding;
        if (b.dataPort !== undefined) ports.set(b.address, ports.has(b.address) && ports.get(b.address) !== b.dataPort ? undefined : b.dataPort);
      }
    }
    const targets = [...ports].flatMap(([address, port]) => (port === undefined ? [] : [{ address, port }]));
    return { rtrs: [...rtrs].sort(), targets: targets.sort((a, b) => (a.address < b.address ? -1 : 1)) };
  }

  /** Members behind NAT that registered us as their RTR and whose binding we hold. */
  servedMembers(): ServedMember[] {
    this.refreshServed();
    return [...this.served.values()];
  }

  /** The control port a member we serve behind `address` gets control messages at (one member there only). */
  controlPortFor(address: string): number | undefined {
    if (!this.enabled) return undefined;
    let port: number | undefined;
    for (const s of this.servedMembers()) {
      if (s.binding.address !== address) continue;
      if (port !== undefined) return undefined;
      port = s.binding.controlPort;
    }
    return port;
  }

  /** The site cache changed: who we serve may have too. */
  siteCacheChanged(): void {
    this.dirty = true;
    if (this.enabled) this.refreshServed();
  }

  private refreshServed(): void {
    if (!this.dirty || !this.enabled) return;
    this.dirty = false;
    const own = new Set(this.ctx.rlocs);
    const next = new Map<string, ServedMember>();
    for (const e of this.ctx.siteCache.all()) {
      for (const r of e.registrations.values()) {
        const locs = r.locators;
        if (!locs.some((l) => l.priority === RTR_PRIORITY && own.has(locatorIp(l.address) ?? ''))) continue;
        for (const l of locs) {
          const ip = locatorIp(l.address);
          if (ip === undefined || l.priority === RTR_PRIORITY) continue;
          const b = this.binding(ip, locatorName(l.address));
          if (b) next.set(`${b.name}|${b.address}`, { xtrId: r.xtrId === undefined ? '' : r.xtrId.toString(16), binding: b });
        }
      }
    }
    // (its control port may be learnt after its data port: the hand-out waits for it)
    const fresh = [...next.entries()].filter(([k, s]) => !this.handed.has(k) && s.binding.controlPort !== undefined);
    for (const k of this.handed) if (!next.has(k)) this.handed.delete(k);
    for (const [k] of fresh) this.handed.add(k);
    this.served = next;
    for (const [, s] of fresh) {
      // a member we start relaying for gets the whole group now, not at each member's next round
      this.ctx.env.log('info', `relaying for ${s.binding.name} behind NAT at ${s.binding.address}`, { member: s.binding.name });
      for (const reg of this.registers.values()) if (reg.xtrId !== s.xtrId) this.send(s, reg.bytes);
    }
  }

  /** An authenticated Map-Register our Map-Server accepted (ours too): relay it to the members we serve. */
  registerAccepted(m: MapRegister, bytes: Uint8Array): void {
    if (!this.enabled) return;
    const xtrId = m.xtrId === undefined ? '' : m.xtrId.toString(16);
    const first = m.records[0] ? routableEid(m.records[0]) : undefined;
    const key = `${xtrId}|${first ? eidKey(first) : ''}`;
    if (!this.registers.has(key) && this.registers.size >= MAX_CACHED_REGISTERS) this.registers.delete(this.registers.keys().next().value as string);
    this.registers.delete(key);
    this.registers.set(key, { bytes: Uint8Array.prototype.slice.call(bytes), xtrId });
    for (const s of this.servedMembers()) if (s.xtrId !== xtrId) this.send(s, bytes);
  }

  private send(s: ServedMember, bytes: Uint8Array): void {
    const port = s.binding.controlPort;
    if (port === undefined) return;
    this.ctx.env.sendControl(s.binding.address, port, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.ctx.count('rtr.register.relayed');
  }
}

/**
 * A route via RTRs (`via`) plus the member's own RLOCs (`rlocs`, those below RTR_PRIORITY) at
 * RELAY_TARGET_PRIORITY: never chosen, but the data plane seals for them and names them in the
 * relay shim, so the RTR relays without decrypting.
 */
export function withRelayTargets(via: readonly MapCacheRloc[], rlocs: readonly MapCacheRloc[]): MapCacheRloc[] {
  // (a target that is the RTR itself stays: the data plane then seals for the RTR as the endpoint)
  const targets = rlocs.filter((r) => r.priority < RTR_PRIORITY);
  return [...via, ...targets.map((r) => ({ address: r.address, priority: RELAY_TARGET_PRIORITY, weight: 0, up: true }))];
}
