import { WireError } from './errors';

/**
 * Bounds-checked big-endian reader. Every read checks the remaining length first, so a lying
 * length field becomes a WireError at the right offset instead of a read past the buffer.
 */
export class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    pos = 0,
    /** Exclusive end; nested structures (LCAF bodies) read inside a narrower window. */
    public end = buf.length,
  ) {
    this.pos = pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, what: string): void {
    if (this.end - this.pos < n) {
      throw new WireError(`truncated ${what}: need ${n} bytes, ${this.end - this.pos} left`, this.pos);
    }
  }

  u8(what: string): number {
    if (this.pos >= this.end) this.need(1, what);
    return this.buf[this.pos++];
  }

  u16(what: string): number {
    if (this.end - this.pos < 2) this.need(2, what);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return (b[p] << 8) | b[p + 1];
  }

  u32(what: string): number {
    if (this.end - this.pos < 4) this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
  }

  u64(what: string): bigint {
    const hi = this.u32(what);
    const lo = this.u32(what);
    // One BigInt multiply-add is cheaper than shift-or on two converted halves.
    return hi === 0 ? BigInt(lo) : BigInt(hi) * 4294967296n + BigInt(lo);
  }

  /** A copy, so decoded messages never alias a (possibly pooled) input buffer. */
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = new Uint8Array(n);
    const b = this.buf;
    const p = this.pos;
    // A byte loop beats slice() for the short fields control messages carry (auth data, nonces).
    if (n <= 64) for (let i = 0; i < n; i++) out[i] = b[p + i];
    else out.set(b.subarray(p, p + n));
    this.pos = p + n;
    return out;
  }

  fail(reason: string, at = this.pos): never {
    throw new WireError(reason, at);
  }
}
