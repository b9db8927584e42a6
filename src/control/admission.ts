// Budgets applied before any decoding or HMAC (HMAC is the expensive step): a flood from
// addresses that are not members cannot starve members' registrations and probe replies. Members
// (RLOCs in our site cache, and members a member's authenticated Map-Notify named: a newcomer
// hears from all of them at once, before any is in its site cache) are not limited here; every
// other source has its own token bucket, and all of them together share one more.
import type { NodeContext } from './context';
import { TokenBucket } from '../limits/token-bucket';

/** Per unknown source: a burst of 50 messages, refilled at 20/s. */
const SOURCE_BURST = 50;
const SOURCE_REFILL_PER_S = 20;
/** All unknown sources together: a burst of 1,000, refilled at 500/s. */
const UNKNOWN_BURST = 1000;
const UNKNOWN_REFILL_PER_S = 500;
/** Unknown sources tracked at once; full buckets are forgotten first. */
const SOURCES_MAX = 4096;

export class Admission {
  private readonly sources = new Map<string, TokenBucket>();
  private readonly unknown = new TokenBucket(UNKNOWN_BURST, UNKNOWN_REFILL_PER_S);

  /** `isMember`: the mapping system's members (push: named by a Map-Notify; seeds). */
  constructor(private readonly ctx: NodeContext, private readonly isMember: (ip: string) => boolean = () => false) {}

  /** An RLOC of an authenticated registration in our site cache (seeds not counted). */
  isRegistered(ip: string): boolean {
    return this.ctx.siteCache.hasRloc(ip);
  }

  /** Whether a message from `src` may be decoded now; a refusal is counted. */
  admit(src: string): boolean {
    if (this.ctx.siteCache.hasRloc(src) || this.ctx.config.group.seeds.includes(src) || this.isMember(src)) return true;
    const now = this.ctx.env.now();
    if (!this.unknown.take(now)) {
      this.ctx.count('control.rate-limited');
      return false;
    }
    let b = this.sources.get(src);
    if (!b) {
      if (this.sources.size >= SOURCES_MAX) this.evict(now);
      b = new TokenBucket(SOURCE_BURST, SOURCE_REFILL_PER_S, now);
      this.sources.set(src, b);
    }
    if (!b.take(now)) {
      this.ctx.count('control.rate-limited');
      return false;
    }
    return true;
  }

  private evict(now: number): void {
    for (const [k, v] of this.sources) if (v.isFull(now)) this.sources.delete(k);
    if (this.sources.size >= SOURCES_MAX) this.sources.delete(this.sources.keys().next().value as string);
  }
}
