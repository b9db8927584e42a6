// Replay protection for Map-Registers between decent nodes (RFC 9301 §9 leaves replay to the
// deployment: the HMAC covers the nonce but nothing says a nonce may not come twice). A decent
// node's Map-Register nonce is a timestamp: marker byte 0xD3, 41 bits of milliseconds since the
// epoch, a 15-bit counter, so nonces of one xTR-ID only grow. A Map-Server remembers the last
// nonces per xTR-ID and refuses one seen before, or older than the newest by more than a few
// seconds of reordering (a captured withdraw replayed later), or
// whose time is older than the window (a captured register replayed after its member left and
// was forgotten). Nonces without the marker (lispers.net draws them at random) are not checked:
// that is the documented lispers-compat exception.

const MARKER = 0xd3n;
const MS_BITS = 41n;
const COUNTER_BITS = 15n;
/** xTR-IDs remembered (the oldest is forgotten first). */
const MAX_REMEMBERED = 16_384;

/** `duplicate`: the last nonce again (a retransmission whose ack was lost: ack it, change nothing). */
export type ReplayVerdict = 'ok' | 'duplicate' | 'replayed' | 'stale' | 'unchecked';

/** Builds strictly increasing timestamp nonces. */
export class TimestampNonces {
  private last = 0n;

  next(nowMs: number): bigint {
    const ms = BigInt(Math.max(0, Math.floor(nowMs))) & ((1n << MS_BITS) - 1n);
    let n = (MARKER << (MS_BITS + COUNTER_BITS)) | (ms << COUNTER_BITS);
    if (n <= this.last) n = this.last + 1n;
    this.last = n;
    return n;
  }
}

/** The time a decent nonce carries, or undefined for nonces of another form. */
export function nonceTimeMs(nonce: bigint): number | undefined {
  if (nonce >> (MS_BITS + COUNTER_BITS) !== MARKER) return undefined;
  return Number((nonce >> COUNTER_BITS) & ((1n << MS_BITS) - 1n));
}

/**
 * Messages of one round (an EID register and a group register, HER copies and unicast to seeds)
 * may arrive out of order: a nonce up to this much older than the newest seen is accepted once.
 */
const REORDER_MS = 5_000;
/** Nonces remembered per xTR-ID inside the reorder window. */
const RECENT_PER_XTR = 64;

interface Seen {
  highest: bigint;
  /** Nonces accepted within REORDER_MS of `highest`. */
  recent: bigint[];
}

export class ReplayGuard {
  private readonly seen = new Map<string, Seen>();

  /** `windowMs`: how old a nonce's time may be (clocks of members must agree this closely). */
  constructor(private readonly windowMs: number) {}

  check(xtrId: bigint | undefined, nonce: bigint, nowMs: number): ReplayVerdict {
    const at = nonceTimeMs(nonce);
    if (at === undefined || xtrId === undefined) return 'unchecked';
    if (this.windowMs > 0 && at < nowMs - this.windowMs) return 'stale';
    const key = xtrId.toString(16);
    const s = this.seen.get(key);
    if (s) {
      if (s.recent.includes(nonce)) return 'duplicate';
      if (nonce < s.highest && (nonceTimeMs(s.highest) ?? 0) - at > REORDER_MS) return 'replayed';
      if (nonce < s.highest && s.recent.length >= RECENT_PER_XTR && nonce < s.recent[0]) return 'replayed';
    }
    const next: Seen = s ?? { highest: nonce, recent: [] };
    if (nonce > next.highest) next.highest = nonce;
    const floor = (nonceTimeMs(next.highest) ?? 0) - REORDER_MS;
    next.recent = [...next.recent, nonce].filter((n) => (nonceTimeMs(n) ?? 0) >= floor).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).slice(-RECENT_PER_XTR);
    this.seen.delete(key);
    this.seen.set(key, next);
    if (this.seen.size > MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value as string);
    return 'ok';
  }
}
