// NAT traversal, the part that is control plane (draft-ietf-lisp-nat-traversal §4–5, with the wire
// forms of draft-farinacci-lisp-lispers-net-nat):
//   - as a Map-Server, every member answers Info-Requests with an Info-Reply telling the sender
//     the address and port its request came from (§4.3, §5.2), rate limited;
//   - as an xTR, a member sends Info-Requests to its seeds from its control port every
//     `nat.keepalive` (§4.2): the replies tell it whether it is behind a NAT (the translated
//     address:port differs from its RLOC and port) and keep the NAT binding alive; replies must
//     echo the nonce of a request we sent to that seed, anything else is dropped and counted.
// What is not here yet (see README "Behind NAT"): the RTR's data plane (re-encapsulation to the
// translated endpoint), registration through an RTR, data-port Info-Requests and direct paths.
import { isIPv4, isIPv6 } from 'node:net';
import { encodeControl, type Address, type InfoReply, type InfoRequest } from '../wire';
import type { NodeContext } from './context';
import { ipAddress } from './locators';
import { randomNonce } from './messages';
import { CONTROL_PORT } from './ports';
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

export interface NatStatus {
  /** Undefined until a seed answered. */
  readonly behindNat?: boolean;
  /** Our RLOC when we asked. */
  readonly local?: string;
  /** What the seed saw: our translated address and control port. */
  readonly translated?: { readonly address: string; readonly port: number; readonly seed: string; readonly at: number };
  /** RTRs the seed offered. */
  readonly rtrs: readonly string[];
}

interface Pending { readonly seed: string; readonly local: string; readonly sentAt: number }

export class NatTraversal {
  private readonly pending = new Map<bigint, Pending>();
  private timer: unknown;
  private readonly replies = new TokenBucket(BURST, REPLIES_PER_SECOND);
  private state: NatStatus = { rtrs: [] };

  constructor(private readonly node: NodeContext) {}

  private get config(): NatConfig {
    return this.node.config.nat ?? DEFAULT_NAT;
  }

  status(): NatStatus {
    return this.state;
  }

  start(): void {
    if (this.config.keepaliveMs <= 0) return;
    const round = (): void => {
      this.sendRequests();
      this.timer = this.node.env.setTimeout(round, this.config.keepaliveMs);
    };
    round();
  }

  stop(): void {
    if (this.timer !== undefined) this.node.env.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  /** One Info-Request to every seed that is not one of our own RLOCs. */
  private sendRequests(): void {
    const local = this.node.rlocs.find((r) => isIPv4(r)) ?? this.node.rlocs[0];
    if (local === undefined) return;
    const now = this.node.env.now();
    for (const [nonce, p] of this.pending) if (now - p.sentAt > 2 * this.config.keepaliveMs) this.pending.delete(nonce);
    const own = new Set(this.node.rlocs);
    for (const seed of this.node.config.group.seeds) {
      if (own.has(seed) || isIPv4(seed) !== isIPv4(local)) continue;
      if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value as bigint);
      const nonce = randomNonce();
      this.pending.set(nonce, { seed, local, sentAt: now });
      const request: InfoRequest = {
        type: 'info-request', nonce, keyId: 0, algorithm: 0, authData: new Uint8Array(0), ttl: 0,
        eidMaskLen: 0, eid: { kind: 'none' },
        // lispers keys its NAT state by the hostname after the EID-prefix; the draft has AFI 0 there.
        requester: this.node.config.lispers ? { kind: 'name', name: this.node.config.name } : { kind: 'none' },
      };
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
    this.node.env.sendControl(src, sport, encodeControl(reply));
    this.node.count('info.reply.sent');
  }

  /** As an xTR (§4.2): an answer to one of our requests tells us what the NAT did to us. */
  onInfoReply(m: InfoReply, src: string): void {
    const p = this.pending.get(m.nonce);
    if (p === undefined || p.seed !== src) {
      // Not an answer to a request of ours (a forgery, or a late reply): it must change nothing.
      this.node.count('info.reply.unmatched');
      return;
    }
    this.pending.delete(m.nonce);
    this.node.count('info.reply.received');
    const g = m.nat.globalEtrRloc;
    if (g.kind !== 'ipv4' && g.kind !== 'ipv6') {
      this.node.count('control.malformed');
      return;
    }
    const rtrs = m.nat.rtrRlocs.flatMap((a) => (a.kind === 'ipv4' || a.kind === 'ipv6' ? [a.ip] : []));
    const behindNat = g.ip !== p.local || m.nat.etrPort !== CONTROL_PORT;
    const before = this.state;
    this.state = {
      behindNat, local: p.local, rtrs,
      translated: { address: g.ip, port: m.nat.etrPort, seed: src, at: this.node.env.now() },
    };
    const moved = before.translated?.address !== g.ip || before.translated.port !== m.nat.etrPort;
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

  private takeToken(): boolean {
    return this.replies.take(this.node.env.now());
  }
}
