/**
 * Growable big-endian writer. Encoders write into one reused scratch area and copy the result
 * out once, so encoding a message costs one allocation.
 */
export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(initial = 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  reset(): this {
    this.pos = 0;
    return this;
  }

  private grow(n: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    if (this.pos + 1 > this.buf.length) this.grow(1);
    this.buf[this.pos++] = v & 0xff;
  }

  u16(v: number): void {
    if (this.pos + 2 > this.buf.length) this.grow(2);
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
  }

  u32(v: number): void {
    if (this.pos + 4 > this.buf.length) this.grow(4);
    const b = this.buf;
    b[this.pos++] = (v >>> 24) & 0xff;
    b[this.pos++] = (v >>> 16) & 0xff;
    b[this.pos++] = (v >>> 8) & 0xff;
    b[this.pos++] = v & 0xff;
  }

  u64(v: bigint): void {
    this.u32(Number((v >> 32n) & 0xffffffffn));
    this.u32(Number(v & 0xffffffffn));
  }

  bytes(src: Uint8Array): void {
    if (this.pos + src.length > this.buf.length) this.grow(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  zeros(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  /** Reserve a 16-bit slot to patch later (LCAF lengths); returns its offset. */
  placeholder16(): number {
    const at = this.pos;
    this.u16(0);
    return at;
  }

  patch16(at: number, v: number): void {
    this.buf[at] = (v >>> 8) & 0xff;
    this.buf[at + 1] = v & 0xff;
  }

  /** The written bytes as a new Buffer that does not share the scratch area. */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}
