// Replay protection for Map-Registers between decent nodes (RFC 9301 §9 leaves replay to the
// deployment: the HMAC covers the nonce but nothing says a nonce may not come twice). A decent
// node's Map-Register nonce is a timestamp: marker byte 0xD3, 41 bits of milliseconds since the
// epoch, a 15-bit counter, so nonces of one xTR-ID only grow. A Map-Server remembers the last
// nonce per xTR-ID and refuses one that does not grow (a captured withdraw replayed later) or
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

export class ReplayGuard {
  private readonly lastNonce = new Map<string, bigint>();

  /** `windowMs`: how old a nonce's time may be (clocks of members must agree this closely). */
  constructor(private readonly windowMs: number) {}

  check(xtrId: bigint | undefined, nonce: bigint, nowMs: number): ReplayVerdict {
    const at = nonceTimeMs(nonce);
    if (at === undefined || xtrId === undefined) return 'unchecked';
    if (this.windowMs > 0 && at < nowMs - this.windowMs) return 'stale';
    const key = xtrId.toString(16);
    const last = this.lastNonce.get(key);
    if (last === nonce) return 'duplicate';
    if (last !== undefined && nonce < last) return 'replayed';
    this.lastNonce.delete(key);
    this.lastNonce.set(key, nonce);
    if (this.lastNonce.size > MAX_REMEMBERED) this.lastNonce.delete(this.lastNonce.keys().next().value as string);
    return 'ok';
  }
}
