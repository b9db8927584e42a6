// RLOC reachability (RFC 9301 §7.1): direct RLOC-probes (Map-Requests with P=1) to every RLOC the
// map-cache forwards to; three missed rounds mark an RLOC down, a probe reply or another sign of
// life (an ICMP echo reply) marks it up again.
import { isIPv4 } from 'node:net';
import { encodeControl } from '../wire';
import type { NodeContext } from './context';
import { mapRequest, randomNonce } from './messages';
import { CONTROL_PORT } from './ports';
import { RELAY_TARGET_PRIORITY } from './rtr';

export class Probing {
  /** RLOCs currently considered unreachable; map-cache entries carry them with R=0. */
  readonly downRlocs = new Set<string>();
  private readonly lastAnswer = new Map<string, number>();
  /** Nonces of probes sent in this and the previous round, and the RLOC each went to. */
  private outstanding = new Map<bigint, string>();
  private previousRound = new Map<bigint, string>();
  private timer: unknown;

  constructor(private readonly ctx: NodeContext) {}

  start(): void {
    const interval = this.ctx.config.timers.probeIntervalMs;
    if (interval <= 0) return;
    const probe = (): void => {
      this.round();
      this.timer = this.ctx.env.setTimeout(probe, interval);
    };
    this.timer = this.ctx.env.setTimeout(probe, interval);
  }

  stop(): void {
    if (this.timer !== undefined) this.ctx.env.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * A Map-Reply with P=1: it counts only if it answers a probe we sent to that RLOC in the last
   * rounds (RFC 9301 §7.1: the nonce echoes ours), else anyone could keep a dead RLOC "up".
   */
  probeReplied(nonce: bigint, src: string): void {
    if (this.outstanding.get(nonce) !== src) {
      this.ctx.count('probe.reply.unmatched');
      return;
    }
    this.outstanding.delete(nonce);
    this.answered(src);
  }

  /** A probe reply, an ICMP echo reply or an authenticated registration from `rloc`. */
  answered(rloc: string): void {
    this.lastAnswer.set(rloc, this.ctx.env.now());
    if (this.downRlocs.delete(rloc)) this.ctx.siteCacheChanged();
  }

  private round(): void {
    const { env, config, rlocs } = this.ctx;
    const now = env.now();
    const interval = config.timers.probeIntervalMs;
    let changed = false;
    // Replies may arrive up to a round late; older nonces are forgotten (bounded by the map-cache).
    for (const n of this.previousRound.keys()) this.outstanding.delete(n);
    this.previousRound = new Map(this.outstanding);
    for (const mc of this.ctx.mapCache.all()) {
      if (mc.negative || mc.source === 'group') continue;
      for (const r of mc.rlocs) {
        // A member behind a NAT we relay for (a translated port): its NAT drops probes to it;
        // its Info-Requests every keepalive are its sign of life (rtr.ts).
        // A relay target (priority 255) is reached through its RTR, never probed directly.
        if (rlocs.includes(r.address) || r.port !== undefined || r.priority === RELAY_TARGET_PRIORITY) continue;
        const last = this.lastAnswer.get(r.address) ?? this.ctx.startedAt;
        if (now - last > 3 * interval && !this.downRlocs.has(r.address)) {
          this.downRlocs.add(r.address);
          changed = true;
        }
        const own = rlocs.find((ip) => isIPv4(ip) === isIPv4(r.address));
        if (!own) continue;
        const nonce = randomNonce();
        this.outstanding.set(nonce, r.address);
        const probe = mapRequest({ nonce, itrRloc: own, eid: mc.eid, probe: true });
        env.sendControl(r.address, CONTROL_PORT, encodeControl(probe));
        this.ctx.count('probe.sent');
      }
    }
    if (changed) this.ctx.siteCacheChanged();
  }
}
