// Jittered periods (issue 17). Members started together (a power cut, a fleet roll-out, a bench)
// would otherwise send their registration rounds in lockstep for ever: every member's N − 1
// replicated copies in the same instant at every member, each period. Each period is drawn
// uniformly within ±JITTER_FRACTION of its nominal length, so the rounds drift apart; the mean
// period stays the configured one, and the registration TTL (3 periods by default, RFC 9301 §8.2)
// keeps its margin.

/** ±10 % of the nominal period. */
export const JITTER_FRACTION = 0.1;

/**
 * A small deterministic generator (xorshift32) seeded per node: the xTR-ID is random per start on
 * a real node, and fixed per name in the simulator, whose runs stay reproducible.
 */
export class Jitter {
  private state: number;

  constructor(seed: bigint) {
    // Mixed (murmur3's finaliser), so xTR-IDs that differ in a few bits start far apart.
    let x = Number(BigInt.asUintN(32, seed ^ (seed >> 32n)));
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    this.state = (x ^ (x >>> 16)) >>> 0 || 0x9e3779b9;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x1_0000_0000;
  }

  /** `ms` within ±JITTER_FRACTION, uniformly. */
  period(ms: number): number {
    return Math.round(ms * (1 - JITTER_FRACTION + 2 * JITTER_FRACTION * this.next()));
  }
}
