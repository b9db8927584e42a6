// RLOC reachability (RFC 9301 §7.1): direct RLOC-probes (Map-Requests with P=1) to every RLOC the
// map-cache forwards to; three missed rounds mark an RLOC down, a probe reply or another sign of
// life (an ICMP echo reply) marks it up again.
import { isIPv4 } from 'node:net';
import { encodeControl } from '../wire';
import type { NodeContext } from './context';
import { mapRequest, randomNonce } from './messages';
import { CONTROL_PORT } from './ports';

export class Probing {
  /** RLOCs currently considered unreachable; map-cache entries carry them with R=0. */
  readonly downRlocs = new Set<string>();
  private readonly lastAnswer = new Map<string, number>();
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

  /** A probe reply or an ICMP echo reply from `rloc`. */
  answered(rloc: string): void {
    this.lastAnswer.set(rloc, this.ctx.env.now());
    if (this.downRlocs.delete(rloc)) this.ctx.siteCacheChanged();
  }

  private round(): void {
    const { env, config, rlocs } = this.ctx;
    const now = env.now();
    const interval = config.timers.probeIntervalMs;
    let changed = false;
    for (const mc of this.ctx.mapCache.all()) {
      if (mc.negative || mc.source === 'group') continue;
      for (const r of mc.rlocs) {
        if (rlocs.includes(r.address)) continue;
        const last = this.lastAnswer.get(r.address) ?? this.ctx.startedAt;
        if (now - last > 3 * interval && !this.downRlocs.has(r.address)) {
          this.downRlocs.add(r.address);
          changed = true;
        }
        const own = rlocs.find((ip) => isIPv4(ip) === isIPv4(r.address));
        if (!own) continue;
        const probe = mapRequest({ nonce: randomNonce(), itrRloc: own, eid: mc.eid, probe: true });
        env.sendControl(r.address, CONTROL_PORT, encodeControl(probe));
        this.ctx.count('probe.sent');
      }
    }
    if (changed) this.ctx.siteCacheChanged();
  }
}
