// Direct paths between members behind NATs (beyond draft-ietf-lisp-nat-traversal and
// draft-farinacci-lisp-lispers-net-nat, which send all of their traffic through an RTR; the
// approach is Tailscale's for WireGuard, in LISP's own messages).
//   - Who: a member behind NAT (nat.ts) and every other member whose RLOC-set has RTRs (priority
//     254) and a translated RLOC named "host@tp-PORT" whose PORT is its translated data port
//     (learnt from its RTR's answer to its data-port Info-Request, nat.ts). The name comes from an
//     authenticated Map-Register (RFC 9301 §5.6), so nobody outside the group can plant endpoints.
//   - How: both send RLOC-probes (Map-Requests with P=1, RFC 9301 §7.1) from their data socket to
//     each other's translated address:port, in lispers' form for control messages on a data port
//     (right after a data header with instance-id 0xFFFFFF, as its data-port Info-Request). Leaving
//     from the data socket, they use the NAT binding our data uses, and each probe opens our NAT
//     for the peer's (endpoint-independent mapping, RFC 4787 §4.1): once both have sent, probes
//     pass both NATs. A probe is answered with a Map-Reply (P=1, same nonce) the same way, to where
//     the probe came from. A probe from a peer we are trying makes us probe it at once.
//   - Direct when a reply echoes the nonce of a probe we sent to that very address:port (anything
//     else is counted and changes nothing); traffic for that member then goes to its translated
//     data port instead of the RTRs (node.ts forwardingRlocs). Back to the RTRs when no reply came
//     for DOWN_AFTER_MS; a NAT that gives each destination its own port (symmetric, RFC 4787
//     §4.1 "address and port-dependent mapping") never answers: we stay via the RTR and say why.
import type { MapCacheRloc } from '../mapping/entry';
import { decodeControl, encodeControl, type EidRecord, type LocatorRecord, type MapReply, type MapRequest } from '../wire';
import { TokenBucket } from '../limits/token-bucket';
import type { NodeContext } from './context';
import { locatorIp, locatorName, unicastLocator } from './locators';
import { mapRequest, randomNonce } from './messages';
import type { NatRegistration } from './nat';
import { inDataHeader } from './nat';
import { RTR_PRIORITY } from './rtr';

/** Probe period while trying and while direct (a few bytes a second per peer behind NAT). */
export const DIRECT_PROBE_MS = 1000;
/** Probes without any answer before we say "unanswered" (and probe only every RETRY_EVERY rounds). */
const TRIES = 8;
const RETRY_EVERY = 15;
/** A direct path with no answer for this long is dropped: traffic goes through the RTRs again. */
export const DOWN_AFTER_MS = 3 * DIRECT_PROBE_MS + 500;
/** Peers tried at once, probes awaiting an answer: bounded whatever the group registers. */
const MAX_PEERS = 256;
const MAX_OUTSTANDING = 4 * MAX_PEERS;
/** Probes answered per second (bursts of 2×): a flood of probes costs bounded work. */
const ANSWERS_PER_SECOND = 50;

export type DirectState = 'trying' | 'direct' | 'unanswered';

export interface DirectPeer {
  /** The member's translated address and data port ("host@tp-PORT"). */
  readonly address: string;
  readonly port: number;
  readonly name: string;
  state: DirectState;
  /** When the state last changed. */
  since: number;
  /** The last probe reply that echoed our nonce. */
  lastAnswer?: number;
  /** Probes sent since the last answer (or since we started trying). */
  unanswered: number;
  rounds: number;
  lastProbeAt: number;
  /** Why it went back to the RTRs, for `decent show peers`. */
  lost?: string;
}

/** The translated data port a member behind NAT registered ("host@tp-PORT"), if it did. */
export function translatedPort(name: string | undefined): number | undefined {
  const m = name === undefined ? null : /@tp-(\d{1,5})$/.exec(name);
  const port = m ? Number(m[1]) : 0;
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** In an RLOC-set with RTRs, the member's translated RLOC and data port. */
function natEndpoint(locators: readonly LocatorRecord[]): { address: string; port: number; name: string; locator: LocatorRecord } | undefined {
  if (!locators.some((l) => l.priority === RTR_PRIORITY)) return undefined;
  for (const l of locators) {
    if (l.priority === RTR_PRIORITY || l.priority === 255) continue;
    const address = locatorIp(l.address);
    const name = locatorName(l.address);
    const port = translatedPort(name);
    if (address !== undefined && port !== undefined && name !== undefined) return { address, port, name, locator: l };
  }
  return undefined;
}

export class DirectPaths {
  private readonly peers = new Map<string, DirectPeer>();
  private readonly outstanding = new Map<bigint, string>();
  private readonly answers = new TokenBucket(2 * ANSWERS_PER_SECOND, ANSWERS_PER_SECOND);
  private dirty = true;
  private timer: unknown;

  /** `nat`: what we registered behind NAT (nat.ts); `changed`: a path moved (the map-cache follows). */
  constructor(private readonly ctx: NodeContext, private readonly nat: () => NatRegistration | undefined, private readonly changed: () => void) {}

  start(): void {
    const round = (): void => {
      this.round();
      this.timer = this.ctx.env.setTimeout(round, DIRECT_PROBE_MS);
    };
    this.timer = this.ctx.env.setTimeout(round, DIRECT_PROBE_MS);
  }

  stop(): void {
    if (this.timer !== undefined) this.ctx.env.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Registrations changed: candidates may have too (read at the next round or probe). */
  siteCacheChanged(): void {
    this.dirty = true;
  }

  /** Behind NAT with our data port registered: only then can a peer reach us directly. */
  private get active(): boolean {
    const nat = this.nat();
    return nat !== undefined && nat.dataPortKnown && this.ctx.env.sendFromDataPort !== undefined;
  }

  /** The members we may reach directly: behind NAT, their data port registered, not us. */
  private refresh(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const nat = this.nat();
    const seen = new Set<string>();
    const now = this.ctx.env.now();
    for (const e of this.ctx.siteCache.all()) {
      if (e.key === this.ctx.groupKey) continue;
      for (const r of e.registrations.values()) {
        if (r.xtrId === this.ctx.config.xtrId) continue;
        const ep = natEndpoint(r.locators);
        if (!ep || (nat && ep.address === nat.global && ep.port === nat.port)) continue;
        const key = `${ep.address}:${ep.port}`;
        seen.add(key);
        if (this.peers.has(key) || this.peers.size >= MAX_PEERS) continue;
        this.peers.set(key, { address: ep.address, port: ep.port, name: ep.name, state: 'trying', since: now, unanswered: 0, rounds: 0, lastProbeAt: 0 });
      }
    }
    let lostDirect = false;
    for (const [key, p] of this.peers) {
      if (seen.has(key)) continue;
      lostDirect ||= p.state === 'direct';
      this.peers.delete(key);
    }
    if (lostDirect) this.changed();
  }

  private round(): void {
    if (!this.active) {
      const wasDirect = [...this.peers.values()].some((p) => p.state === 'direct');
      this.peers.clear();
      this.dirty = true;
      if (wasDirect) this.changed();
      return;
    }
    this.refresh();
    const now = this.ctx.env.now();
    // nonces older than a few rounds are forgotten (the map is bounded besides)
    while (this.outstanding.size > MAX_OUTSTANDING) this.outstanding.delete(this.outstanding.keys().next().value as bigint);
    let moved = false;
    for (const p of this.peers.values()) {
      p.rounds++;
      if (p.state === 'direct' && now - (p.lastAnswer ?? 0) > DOWN_AFTER_MS) {
        p.state = 'unanswered';
        p.since = now;
        p.lost = `direct path lost: no probe answered for ${((now - (p.lastAnswer ?? 0)) / 1000).toFixed(1)} s`;
        p.unanswered = 0;
        moved = true;
        this.ctx.env.log('info', `direct path to ${p.name} (${p.address}:${p.port}) lost: back through the RTR`, { peer: p.name });
      } else if (p.state === 'trying' && p.unanswered >= TRIES) {
        p.state = 'unanswered';
        p.since = now;
      }
      if (p.state === 'unanswered' && p.rounds % RETRY_EVERY !== 0) continue;
      this.probe(p);
    }
    if (moved) this.changed();
  }

  private probe(p: DirectPeer): void {
    const nat = this.nat();
    const send = this.ctx.env.sendFromDataPort;
    if (!nat || !send) return;
    const nonce = randomNonce();
    this.outstanding.set(nonce, `${p.address}:${p.port}`);
    p.unanswered++;
    p.lastProbeAt = this.ctx.env.now();
    // ITR-RLOC: our translated RLOC, as lispers' NATed ITR puts it in its probes; the EID-record
    // is not looked at (an RLOC-probe's answer is its echoed nonce here).
    const request = mapRequest({ nonce, itrRloc: nat.global, eid: this.ctx.config.eids[0] ?? this.ctx.groupEid, probe: true });
    send(p.address, p.port, inDataHeader(encodeControl(request)));
    this.ctx.count('direct.probe.sent');
  }

  /** A Map-Request on our data port (lispers' form): an RLOC-probe to answer from the data port. */
  onProbe(m: MapRequest, src: string, sport: number): void {
    this.ctx.count('direct.probe.received');
    const send = this.ctx.env.sendFromDataPort;
    if (!m.probe || !send || sport < 1) {
      this.ctx.count('control.unexpected');
      return;
    }
    // Only members' RLOCs get an answer (a member behind NAT probes from its registered
    // translated address): nobody else can use us to reflect datagrams at a third party.
    if (!this.ctx.isRegisteredRloc(src)) {
      this.ctx.count('direct.probe.unknown');
      return;
    }
    if (!this.answers.take(this.ctx.env.now())) {
      this.ctx.count('direct.rate-limited');
      return;
    }
    // The EID asked for with the locator the peer reached (RFC 9301 §7.1: the reply carries the
    // mapping; what the prober checks is the echoed nonce).
    const nat = this.nat();
    const asked = m.records[0];
    const records: EidRecord[] = asked === undefined ? [] : [{
      ttl: 1, eid: asked.eid, eidMaskLen: asked.eidMaskLen, action: 0, authoritative: true, mapVersion: 0,
      locators: nat ? [unicastLocator(nat.global, { name: `${this.ctx.config.name}@tp-${nat.port}`, local: true })] : [],
    }];
    const reply: MapReply = { type: 'map-reply', probe: true, echoNonceCapable: false, security: false, nonce: m.nonce, records };
    send(src, sport, inDataHeader(encodeControl(reply)));
    this.ctx.count('direct.reply.sent');
    // The peer is trying us: our probe now opens our NAT for its next one (hole punching). At
    // most one per half round, or two members would answer each other's probes forever.
    if (!this.active) return;
    this.refresh();
    const p = this.peers.get(`${src}:${sport}`);
    if (p && p.state !== 'direct' && this.ctx.env.now() - p.lastProbeAt >= DIRECT_PROBE_MS / 2) this.probe(p);
  }

  /** A Map-Reply on our data port: direct if it echoes a probe we sent to that address:port. */
  onProbeReply(m: MapReply, src: string, sport: number): void {
    const key = `${src}:${sport}`;
    if (!m.probe || this.outstanding.get(m.nonce) !== key) {
      this.ctx.count('direct.reply.unmatched');
      return;
    }
    this.outstanding.delete(m.nonce);
    const p = this.peers.get(key);
    if (!p) return;
    this.ctx.count('direct.reply.received');
    const now = this.ctx.env.now();
    p.lastAnswer = now;
    p.unanswered = 0;
    if (p.state === 'direct') return;
    p.state = 'direct';
    p.since = now;
    p.lost = undefined;
    this.ctx.env.log('info', `direct path to ${p.name} at ${key}: traffic no longer goes through the RTR`, { peer: p.name });
    this.changed();
  }

  /** What to forward with for an RLOC-set: its member's translated data port once direct, else undefined. */
  forwarding(locators: readonly LocatorRecord[]): MapCacheRloc[] | undefined {
    if (this.peers.size === 0) return undefined;
    const ep = natEndpoint(locators);
    if (!ep || this.peers.get(`${ep.address}:${ep.port}`)?.state !== 'direct') return undefined;
    return [{ address: ep.address, priority: ep.locator.priority, weight: ep.locator.weight, up: true, port: ep.port }];
  }

  /** For `decent show peers` and the API, by translated address. */
  status(): { address: string; port: number; name: string; state: DirectState; since: number; lastAnswer?: number; lost?: string; probes: number }[] {
    return [...this.peers.values()].map((p) => ({
      address: p.address, port: p.port, name: p.name, state: p.state, since: p.since, probes: p.unanswered,
      ...(p.lastAnswer !== undefined ? { lastAnswer: p.lastAnswer } : {}), ...(p.lost !== undefined ? { lost: p.lost } : {}),
    }));
  }
}

/** A control message right after a data header on our data port (lispers' form): decoded, or undefined. */
export function dataPortMessage(payload: Uint8Array): ReturnType<typeof decodeControl> | undefined {
  const type = payload.length > 0 ? payload[0] >> 4 : 0;
  // inner IPv4/IPv6 packets start with 4 or 6; these types never do
  return type === 1 || type === 2 || type === 7 ? decodeControl(payload) : undefined;
}
