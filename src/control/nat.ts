// NAT traversal, the part that is control plane (draft-ietf-lisp-nat-traversal §4–5, with the wire
// forms of draft-farinacci-lisp-lispers-net-nat):
//   - as a Map-Server, every member answers Info-Requests with an Info-Reply telling the sender
//     the address and port its request came from (§4.3, §5.2), rate limited;
//   - as an xTR, a member sends Info-Requests to its seeds from its control port every
//     `nat.keepalive` (§4.2): the replies tell it whether it is behind a NAT (the translated
//     address:port differs from its RLOC and port) and keep the NAT binding alive; replies must
//     echo the nonce of a request we sent to that seed, anything else is dropped and counted.
//   - behind a NAT with RTRs offered, the member registers its translated RLOC and its RTRs at
//     priority 254 (registration()), forwards everything through its RTRs (outboundRtrs()), and
//     sends its RTRs Info-Requests from its data port too (lispers' form: a data header with
//     instance-id 0xFFFFFF), so they learn where to re-encapsulate its data (rtr.ts).
//   - RTR failover: the RTRs are the union of what every seed offered (each offers itself), all
//     registered at priority 254 so ITRs spread flows over them (RFC 9301 §5.4 weights, and their
//     RLOC-probes, §7.1, mark a dead one down). The member's own check is faster: an RTR that
//     leaves RTR_MISSES control-port Info-Requests in a row unanswered (asked again RTR_ANSWER_MS
//     after each; RTRs are asked every keepalive, at least every RTR_CHECK_MS) is taken out of the
//     registration and of our forwarding at once, and the group follows the re-registration; it
//     is still asked, and comes back when it answers.
//     Neither draft says how a member leaves a dead RTR (draft-ietf-lisp-nat-traversal §6 lists
//     RTRs in the Info-Reply; lispers.net keeps its RTR list until the next Info-Reply).
//   - A decent RTR answers the data-port Info-Requests (lispers' draft §3 step 5 says the RTR
//     does; lispers' code does not), from its data port inside the same data header: the member
//     learns its translated *data* port and registers it in its RLOC-name "host@tp-PORT", where
//     lispers' one ETR socket makes control and data port the same. Members behind NAT try direct
//     paths to that port (direct.ts).
import { isIPv4, isIPv6 } from 'node:net';
import { encodeControl, encodeData, type Address, type InfoReply, type InfoRequest } from '../wire';
import type { NodeContext } from './context';
import { ipAddress } from './locators';
import { randomNonce } from './messages';
import { CONTROL_PORT, DATA_PORT, HER_IID } from './ports';
import { TokenBucket } from '../limits/token-bucket';

export interface NatConfig {
  /** Info-Request period to the seeds: NAT detection and keepalive of the binding; 0 = off. */
  readonly keepaliveMs: number;
  /** Offer to relay for members behind NAT: our RLOC goes in the RTR list of our Info-Replies. */
  readonly rtr: boolean;
}

/** lispers sends every 15 s (LISP_INFO_INTERVAL); NATs drop idle UDP mappings after 30 s or more. */
export const DEFAULT_NAT: NatConfig = { keepaliveMs: 15_000, rtr: false };

/** Info-Requests answered per second, with bursts up to BURST: a flood costs bounded work. */
const REPLIES_PER_SECOND = 20;
const BURST = 40;
/** Requests awaiting a reply; older ones are forgotten (bounded however many seeds there are). */
const MAX_PENDING = 64;
/** An RTR's Info-Reply is due within this long (one round trip, generously); else we ask again. */
const RTR_ANSWER_MS = 500;
/**
 * RTRs are asked at least this often (between keepalives when the keepalive is longer): with the
 * default 15 s keepalive a dead RTR would otherwise cost up to 15 s of outage before the first miss.
 */
const RTR_CHECK_MS = 5000;
/** Unanswered Info-Requests in a row that take an RTR down (one lost datagram must not). */
const RTR_MISSES = 3;
/** RTRs kept from the seeds' offers (bounded however many seeds offer however many RTRs). */
const MAX_RTRS = 16;
/** A seed's offer not renewed by its Info-Replies for this many keepalives is forgotten. */
const OFFER_KEEPALIVES = 3;

export interface NatStatus {
  /** Undefined until a seed answered. */
  readonly behindNat?: boolean;
  /** Our RLOC when we asked. */
  readonly local?: string;
  /** What the seed saw: our translated address and control port. */
  readonly translated?: { readonly address: string; readonly port: number; readonly seed: string; readonly at: number };
  /** Our translated data port, from an RTR's answer to our data-port Info-Request. */
  readonly dataPort?: number;
  /** RTRs the seeds offered (every seed offers itself with nat.rtr). */
  readonly rtrs: readonly string[];
  /** Offered RTRs that left our Info-Requests unanswered: not registered, not forwarded through. */
  readonly rtrsDown?: readonly string[];
}

/**
 * `toRtr`: asked only to keep the RTR's binding: its answer changes nothing (a symmetric NAT would
 * show another port). `dataPort`: sent from our data port; its answer tells our translated data port.
 */
interface Pending { readonly seed: string; readonly local: string; readonly sentAt: number; readonly toRtr?: boolean; readonly dataPort?: boolean }

/** What a member behind NAT registers instead of its private RLOC. */
export interface NatRegistration {
  /** The translated address a seed saw. */
  readonly global: string;
  /** lispers' "@tp-" port: our translated data port once an RTR told it, else the control port. */
  readonly port: number;
  /** Whether `port` is our translated data port (members can try a direct path to it, direct.ts). */
  readonly dataPortKnown: boolean;
  /** RTRs, registered at priority 254. */
  readonly rtrs: readonly string[];
}

function sameRegistration(a: NatRegistration | undefined, b: NatRegistration | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.global === b.global && a.port === b.port && a.rtrs.join() === b.rtrs.join();
}

export class NatTraversal {
  private readonly pending = new Map<bigint, Pending>();
  private timer: unknown;
  private rtrTimer: unknown;
  private readonly replies = new TokenBucket(BURST, REPLIES_PER_SECOND);
  private state: NatStatus = { rtrs: [] };
  /** Per seed, the RTRs its latest Info-Reply offered. */
  private readonly offers = new Map<string, { readonly rtrs: readonly string[]; readonly at: number }>();
  /** Per RTR: the nonce of our latest control-port Info-Request still unanswered, and how many in a row were. */
  private readonly rtrWaiting = new Map<string, bigint>();
  private readonly rtrMisses = new Map<string, number>();
  private readonly rtrDown = new Set<string>();
  private readonly checks = new Set<unknown>();

  /** `changed`: what we register or forward through changed (behind NAT or not, address, RTRs). */
  constructor(private readonly node: NodeContext, private readonly changed: () => void = () => undefined) {}

  /** Behind a NAT with RTRs: what to register (translated RLOC, live RTRs at 254); else undefined. */
  registration(): NatRegistration | undefined {
    const s = this.state;
    if (s.behindNat !== true || s.translated === undefined || s.rtrs.length === 0) return undefined;
    return { global: s.translated.address, port: s.dataPort ?? s.translated.port, dataPortKnown: s.dataPort !== undefined, rtrs: this.liveRtrs() };
  }

  /** The offered RTRs that answer; all of them if none does (there is nothing better to send to). */
  private liveRtrs(): readonly string[] {
    const live = this.state.rtrs.filter((r) => !this.rtrDown.has(r));
    return live.length > 0 ? live : this.state.rtrs;
  }

  /** Behind a NAT with RTRs: everything we send goes through them (draft-ietf-lisp-nat-traversal, the RTR). */
  outboundRtrs(): readonly string[] {
    return this.registration()?.rtrs ?? [];
  }

  private get config(): NatConfig {
    return this.node.config.nat ?? DEFAULT_NAT;
  }

  status(): NatStatus {
    return { ...this.state, rtrsDown: this.state.rtrs.filter((r) => this.rtrDown.has(r)) };
  }

  start(): void {
    if (this.config.keepaliveMs <= 0) return;
    const round = (): void => {
      this.sendRequests();
      this.timer = this.node.env.setTimeout(round, this.config.keepaliveMs);
    };
    round();
    if (this.config.keepaliveMs <= RTR_CHECK_MS) return;
    const check = (): void => {
      // control port only: the keepalive keeps the data-port binding
      if (this.registration()) for (const rtr of this.state.rtrs) if (!this.rtrWaiting.has(rtr)) this.askRtr(rtr);
      this.rtrTimer = this.node.env.setTimeout(check, RTR_CHECK_MS);
    };
    this.rtrTimer = this.node.env.setTimeout(check, RTR_CHECK_MS);
  }

  stop(): void {
    if (this.timer !== undefined) this.node.env.clearTimeout(this.timer);
    if (this.rtrTimer !== undefined) this.node.env.clearTimeout(this.rtrTimer);
    this.timer = undefined;
    this.rtrTimer = undefined;
    this.pending.clear();
    for (const c of this.checks) this.node.env.clearTimeout(c);
    this.checks.clear();
    this.rtrWaiting.clear();
  }

  /**
   * `named`: lispers' form (EID-prefix AFI 0, then our hostname), the only one lispers accepts and
   * what RTRs key NAT state by (draft-farinacci-lisp-lispers-net-nat); otherwise the draft's AFI 0
   * there (decoders that follow the draft, tshark's among them, reject the hostname).
   */
  private request(named: boolean): InfoRequest {
    return {
      type: 'info-request', nonce: randomNonce(), keyId: 0, algorithm: 0, authData: new Uint8Array(0), ttl: 0,
      eidMaskLen: 0, eid: { kind: 'none' }, requester: named ? { kind: 'name', name: this.node.config.name } : { kind: 'none' },
    };
  }

  /**
   * Behind NAT, to each RTR: an Info-Request from our control port (the RTR relays the group's
   * registrations to where it came from) and one from our data port inside a data header with
   * instance-id 0xFFFFFF (the RTR re-encapsulates our data to where it came from; lispers' RTR
   * does not answer it, nor does ours). Both keep those NAT bindings alive.
   */
  private sendToRtrs(): void {
    if (!this.registration()) return;
    // the dead ones too: an answer brings them back
    for (const rtr of this.state.rtrs) {
      // an RTR whose answer is still due is being asked again already: a new request here would
      // restart its count of misses (with a keepalive under RTR_MISSES x RTR_ANSWER_MS, forever)
      if (!this.rtrWaiting.has(rtr)) this.askRtr(rtr);
      if (!this.node.env.sendFromDataPort) continue;
      const dataRequest = this.request(true);
      const local = this.state.local;
      if (local !== undefined) this.track(dataRequest.nonce, { seed: rtr, local, sentAt: this.node.env.now(), toRtr: true, dataPort: true });
      this.node.env.sendFromDataPort(rtr, DATA_PORT, inDataHeader(encodeControl(dataRequest)));
      this.node.count('info.request.data-port');
    }
  }

  /**
   * A control-port Info-Request to an RTR, checked RTR_ANSWER_MS later: unanswered, it counts a
   * miss and (below RTR_MISSES) is asked again at once; at RTR_MISSES the RTR is down.
   */
  private askRtr(rtr: string): void {
    const local = this.state.local;
    if (local === undefined) return;
    const request = this.request(true);
    this.track(request.nonce, { seed: rtr, local, sentAt: this.node.env.now(), toRtr: true });
    this.rtrWaiting.set(rtr, request.nonce);
    this.node.env.sendControl(rtr, CONTROL_PORT, encodeControl(request));
    this.node.count('info.request.sent');
    const check = this.node.env.setTimeout(() => {
      this.checks.delete(check);
      // answered, or a newer request is the one to check
      if (this.rtrWaiting.get(rtr) !== request.nonce) return;
      if (!this.state.rtrs.includes(rtr)) {
        // no longer offered: a request left waiting would keep it from being asked if it comes back
        this.rtrWaiting.delete(rtr);
        return;
      }
      const misses = (this.rtrMisses.get(rtr) ?? 0) + 1;
      this.rtrMisses.set(rtr, misses);
      if (misses < RTR_MISSES) {
        this.node.count('nat.rtr.retry');
        this.askRtr(rtr);
        return;
      }
      // down: asked again at each keepalive only
      this.rtrWaiting.delete(rtr);
      if (!this.rtrDown.has(rtr)) this.setRtrDown(rtr, true);
    }, RTR_ANSWER_MS);
    this.checks.add(check);
  }

  /** An RTR goes down (unanswered) or comes back (answered): register and forward accordingly. */
  private setRtrDown(rtr: string, down: boolean): void {
    const before = this.liveRtrs().join();
    if (down) this.rtrDown.add(rtr); else this.rtrDown.delete(rtr);
    this.node.count(down ? 'nat.rtr.down' : 'nat.rtr.up');
    this.node.env.log(down ? 'warn' : 'info', down
      ? `RTR ${rtr} does not answer (${RTR_MISSES} Info-Requests): registering and forwarding without it`
      : `RTR ${rtr} answers again: registering it again`, { rtr, live: this.liveRtrs() });
    if (this.liveRtrs().join() !== before) this.changed();
  }

  /** The union of what the seeds offered lately, in a stable order; bounded. */
  private offeredRtrs(now: number): string[] {
    const all = new Set<string>();
    for (const [seed, o] of this.offers) {
      if (now - o.at > OFFER_KEEPALIVES * this.config.keepaliveMs) this.offers.delete(seed);
      else for (const r of o.rtrs) all.add(r);
    }
    const rtrs = [...all].sort().slice(0, MAX_RTRS);
    for (const r of this.rtrDown) if (!rtrs.includes(r)) this.rtrDown.delete(r);
    for (const r of this.rtrMisses.keys()) if (!rtrs.includes(r)) this.rtrMisses.delete(r);
    for (const r of this.rtrWaiting.keys()) if (!rtrs.includes(r)) this.rtrWaiting.delete(r);
    return rtrs;
  }

  /** One Info-Request to every seed that is not one of our own RLOCs. */
  private sendRequests(): void {
    this.sendToRtrs();
    const local = this.node.rlocs.find((r) => isIPv4(r)) ?? this.node.rlocs[0];
    if (local === undefined) return;
    const now = this.node.env.now();
    for (const [nonce, p] of this.pending) if (now - p.sentAt > 2 * this.config.keepaliveMs) this.pending.delete(nonce);
    const own = new Set(this.node.rlocs);
    for (const seed of this.node.config.group.seeds) {
      if (own.has(seed) || isIPv4(seed) !== isIPv4(local)) continue;
      const request = this.request(this.node.config.lispers);
      this.track(request.nonce, { seed, local, sentAt: now });
      this.node.env.sendControl(seed, CONTROL_PORT, encodeControl(request));
      this.node.count('info.request.sent');
    }
  }

  /** As a Map-Server (§4.3): tell the sender where its request came from, and our RTRs. */
  onInfoRequest(m: InfoRequest, src: string, sport: number): void {
    this.node.count('info.request.received');
    if (!this.takeToken()) {
      this.node.count('info.rate-limited');
      return;
    }
    this.node.env.sendControl(src, sport, encodeControl(this.reply(m, src, sport)));
    this.node.count('info.reply.sent');
  }

  /**
   * As an RTR, a member's data-port Info-Request (lispers' form, to our 4341): the answer goes back
   * from our data port inside the same data header (lispers' draft §3 step 5; lispers' own RTR
   * sends none, so with `lispers-compat` neither do we). It tells the member its translated data
   * port, which its NAT lets in only from where the request went: our data port.
   */
  onDataPortInfoRequest(m: InfoRequest, src: string, sport: number): void {
    if (this.node.config.lispers || !this.node.env.sendFromDataPort) return;
    if (!this.takeToken()) {
      this.node.count('info.rate-limited');
      return;
    }
    this.node.env.sendFromDataPort(src, sport, inDataHeader(encodeControl(this.reply(m, src, sport))));
    this.node.count('info.reply.data-port');
  }

  private reply(m: InfoRequest, src: string, sport: number): InfoReply {
    const lispers = this.node.config.lispers;
    const ours = this.node.rlocs.find((r) => isIPv4(r) === isIPv4(src));
    const rtrs: Address[] = this.config.rtr && ours !== undefined ? [ipAddress(ours)] : [];
    const reply: InfoReply = {
      type: 'info-reply', nonce: m.nonce, keyId: 0, algorithm: 0, authData: new Uint8Array(0),
      // lispers writes TTL 0 and ignores it; the draft keeps the RTR list for TTL minutes.
      ttl: lispers ? 0 : Math.max(1, Math.round((3 * this.config.keepaliveMs) / 60_000)),
      eidMaskLen: 0, eid: { kind: 'none' },
      nat: {
        type: 'nat-traversal',
        msPort: lispers ? 0 : CONTROL_PORT,
        etrPort: sport,
        globalEtrRloc: ipAddress(src),
        msRloc: lispers || ours === undefined ? { kind: 'none' } : ipAddress(ours),
        // lispers echoes the requester's hostname here; the draft sends AFI 0.
        privateEtrRloc: m.requester.kind === 'name' ? m.requester : { kind: 'none' },
        // lispers writes one AFI 0 when it has no RTR, and a Length of 16 whatever follows.
        rtrRlocs: rtrs.length === 0 && lispers ? [{ kind: 'none' }] : rtrs,
        ...(lispers ? { declaredLength: 16 } : {}),
      },
    };
    return reply;
  }

  /** As an xTR (§4.2): an answer to one of our requests tells us what the NAT did to us. */
  onInfoReply(m: InfoReply, src: string, dataPort = false): void {
    const p = this.pending.get(m.nonce);
    if (p === undefined || p.seed !== src || (p.dataPort === true) !== dataPort) {
      // Not an answer to a request of ours (a forgery, or a late reply): it must change nothing.
      this.node.count('info.reply.unmatched');
      return;
    }
    this.pending.delete(m.nonce);
    this.node.count('info.reply.received');
    if (p.dataPort === true) {
      // (an answer on the data port says nothing about the RTR's control side: failover
      // looks at control-port answers only)
      this.dataPortLearnt(m);
      return;
    }
    if (p.toRtr === true) {
      // the RTR is alive (its answer changes nothing else: a symmetric NAT would show another port)
      this.rtrWaiting.delete(src);
      this.rtrMisses.delete(src);
      if (this.rtrDown.has(src)) this.setRtrDown(src, false);
      return;
    }
    const g = m.nat.globalEtrRloc;
    if (g.kind !== 'ipv4' && g.kind !== 'ipv6') {
      this.node.count('control.malformed');
      return;
    }
    const now = this.node.env.now();
    this.offers.set(src, { rtrs: m.nat.rtrRlocs.flatMap((a) => (a.kind === 'ipv4' || a.kind === 'ipv6' ? [a.ip] : [])), at: now });
    const rtrs = this.offeredRtrs(now);
    const behindNat = g.ip !== p.local || m.nat.etrPort !== CONTROL_PORT;
    const before = this.state;
    const registeredBefore = this.registration();
    const moved = before.translated?.address !== g.ip || before.translated.port !== m.nat.etrPort;
    this.state = {
      behindNat, local: p.local, rtrs,
      translated: { address: g.ip, port: m.nat.etrPort, seed: src, at: now },
      // a NAT that rebound forgot the data binding too: the next RTR answer tells the new one
      ...(moved || before.dataPort === undefined ? {} : { dataPort: before.dataPort }),
    };
    // Only a change of what we register or forward through is news for the group: a public member
    // whose first answer confirms its RLOC changes neither, and must not re-register to everyone.
    if (!sameRegistration(registeredBefore, this.registration())) {
      this.changed();
      // the RTRs learn our data port now, not at the next keepalive
      this.sendToRtrs();
    }
    if (before.behindNat !== behindNat || (behindNat && moved)) {
      if (behindNat) {
        this.node.env.log('warn', 'behind NAT: members see this node at another address; see README "Behind NAT"', {
          rloc: p.local, seenAs: `${isIPv6(g.ip) ? `[${g.ip}]` : g.ip}:${m.nat.etrPort}`, seed: src, rtrs,
        });
      } else {
        this.node.env.log('info', 'not behind NAT: a seed sees our RLOC unchanged', { rloc: p.local, seed: src });
      }
    }
  }

  /** Our translated data port (an RTR's answer): what we register as "@tp-PORT" (etr.ts). */
  private dataPortLearnt(m: InfoReply): void {
    const g = m.nat.globalEtrRloc;
    const port = m.nat.etrPort;
    // An answer about another address than the one our seed saw is from before a rebinding.
    if ((g.kind !== 'ipv4' && g.kind !== 'ipv6') || g.ip !== this.state.translated?.address || port < 1) {
      this.node.count('info.reply.unmatched');
      return;
    }
    if (this.state.dataPort === port) return;
    this.state = { ...this.state, dataPort: port };
    this.node.env.log('info', `behind NAT: our data port is seen as ${g.ip}:${port}`, { address: g.ip, port });
    this.changed();
  }

  private track(nonce: bigint, p: Pending): void {
    if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value as bigint);
    this.pending.set(nonce, p);
  }

  private takeToken(): boolean {
    return this.replies.take(this.node.env.now());
  }
}

/** lispers' form for control messages to and from a data port: right after a data header with instance-id 0xFFFFFF. */
export function inDataHeader(message: Buffer): Buffer {
  return encodeData({
    type: 'data', payload: message,
    header: { noncepresent: false, lsbEnabled: false, echoNonce: false, mapVersioning: false, iidPresent: true, keyId: 0, nonce: 0, iid: HER_IID, lsb: 0 },
  });
}
