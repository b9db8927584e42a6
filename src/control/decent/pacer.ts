// Paced fan-out of periodic registration rounds (issue 17). With head-end replication a round is
// N − 1 copies of each of our Map-Registers; sent in one burst, every member's round is a burst at
// every other member's socket (UDP receive buffers overflowed at 50 members before incremental
// membership). A periodic round is only a refresh, so it may take a while: PACE_BURST members get
// it at once, the rest through a token bucket (src/limits/token-bucket.ts) whose rate spreads the
// round over PACE_SPREAD of the period. Rounds that carry news (start, a join, a new RLOC, a
// withdrawal) are not paced; a member they reach leaves the paced queue.
import { TokenBucket } from '../../limits/token-bucket';

/** Members a paced round reaches at once. */
export const PACE_BURST = 20;
/** A round is spread over this part of the registration period at most... */
export const PACE_SPREAD = 0.25;
/** ...and goes at least this fast (members per second), so a small group is done in a moment. */
export const PACE_MIN_PER_S = 50;

export interface PacerEnv {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export class FanOutPacer {
  /** Member → the packets of the latest round it has not had yet (bounded by the members we replicate to). */
  private readonly queue = new Map<string, readonly Buffer[]>();
  private bucket = new TokenBucket(PACE_BURST, PACE_MIN_PER_S);
  private timer: unknown;

  /** `count`: members queued past the burst (`paced`), queued members a newer round reached first (`superseded`). */
  constructor(
    private readonly env: PacerEnv, private readonly send: (dst: string, packets: readonly Buffer[]) => void,
    private readonly count: (what: 'paced' | 'superseded', n: number) => void,
  ) {}

  get pending(): number {
    return this.queue.size;
  }

  /** A round of `packets` to every member of `targets`, spread over at most `spreadMs`. */
  round(targets: readonly string[], packets: readonly Buffer[], spreadMs: number): void {
    for (const dst of targets) {
      if (this.queue.delete(dst)) this.count('superseded', 1);
      this.queue.set(dst, packets);
    }
    const now = this.env.now();
    const rate = Math.max(PACE_MIN_PER_S, (this.queue.size * 1000) / Math.max(1, spreadMs));
    this.bucket = new TokenBucket(PACE_BURST, rate, now);
    this.drain();
    if (this.queue.size > 0) this.count('paced', this.queue.size);
  }

  /** `dst` got newer registrations another way: it needs nothing from the queue. */
  reached(dst: string): void {
    this.queue.delete(dst);
  }

  stop(): void {
    if (this.timer !== undefined) this.env.clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.clear();
  }

  private drain(): void {
    if (this.timer !== undefined) this.env.clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.env.now();
    for (const [dst, packets] of this.queue) {
      if (!this.bucket.take(now)) break;
      this.queue.delete(dst);
      this.send(dst, packets);
    }
    if (this.queue.size > 0) this.timer = this.env.setTimeout(() => this.drain(), Math.ceil(1000 / this.bucket.refillPerS));
  }
}
