// A token bucket: the one rate limiter the control plane (admission, Map-Resolver replies, Info
// replies) and the data plane (the HER hand-off, ICMP too-big errors) use, each with its own burst and rate and its own
// table of buckets per source.

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(readonly burst: number, readonly refillPerS: number, now = 0) {
    this.tokens = burst;
    this.at = now;
  }

  /** Refills for the time since the last call, then whether a token is there (none is taken). */
  has(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.refillPerS);
    this.at = now;
    return this.tokens >= 1;
  }

  /** Refills, then takes a token if there is one. */
  take(now: number): boolean {
    if (!this.has(now)) return false;
    this.tokens -= 1;
    return true;
  }

  /** Whether the bucket would be full at `now`: a table may forget it, a new one starts full. */
  isFull(now: number): boolean {
    return this.tokens + ((now - this.at) / 1000) * this.refillPerS >= this.burst;
  }
}
