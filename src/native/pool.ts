// Preallocated batch pools: one Buffer cut into fixed slots plus Int32Array descriptors,
// shared with the addon. One pool per direction; a batch reuses the same memory every time,
// so the hot path allocates nothing: buffers are allocated once, at start, and packets are
// written where they will be sent from.
import { ADDR_STRIDE, D, DESC_STRIDE } from './layout';
import { readAddress } from './address';

export interface PoolOptions {
  /** Slots per batch (default 64). */
  slots?: number;
  /**
   * Bytes per slot (default 65,536 + headroom: a TSO super-packet or a UDP GRO message is up
   * to 64 KiB; 2,048 is enough when offloads are off).
   */
  slotSize?: number;
  /** Bytes kept free in front of each packet for outer headers (default 64, at least 16). */
  headroom?: number;
}

export class Pool {
  readonly slots: number;
  readonly slotSize: number;
  readonly headroom: number;
  readonly data: Buffer;
  readonly desc: Int32Array;
  /** Slots filled by the last read / receive. */
  count = 0;

  constructor(opts: PoolOptions = {}) {
    this.slots = opts.slots ?? 64;
    this.headroom = opts.headroom ?? 64;
    this.slotSize = opts.slotSize ?? 65536 + this.headroom;
    if (!Number.isInteger(this.slots) || this.slots < 1 || this.slots > 1024) {
      throw new RangeError(`pool slots must be 1..1024, got ${this.slots}`);
    }
    if (!Number.isInteger(this.headroom) || this.headroom < 16 || this.headroom % 4 !== 0) {
      throw new RangeError(`pool headroom must be a multiple of 4 and at least 16, got ${this.headroom}`);
    }
    if (!Number.isInteger(this.slotSize) || this.slotSize < this.headroom + 128) {
      throw new RangeError(`pool slotSize must be at least headroom + 128, got ${this.slotSize}`);
    }
    this.data = Buffer.alloc(this.slots * this.slotSize);
    this.desc = new Int32Array(this.slots * DESC_STRIDE);
  }

  /** Byte offset in `data` where slot i's packet starts. */
  start(i: number): number {
    return i * this.slotSize + this.desc[i * DESC_STRIDE + D.OFF];
  }

  length(i: number): number {
    return this.desc[i * DESC_STRIDE + D.LEN];
  }

  field(i: number, f: number): number {
    return this.desc[i * DESC_STRIDE + f];
  }

  setField(i: number, f: number, v: number): void {
    this.desc[i * DESC_STRIDE + f] = v;
  }

  /** A view of slot i's packet (allocates a Buffer view: for tests and slow paths only). */
  packet(i: number): Buffer {
    const s = this.start(i);
    return this.data.subarray(s, s + this.length(i));
  }

  /**
   * Put a packet into slot i at the headroom (slow path helper for tests and control traffic).
   * Clears the descriptor; the caller sets ADDR, HDR, TTLTOS as needed.
   */
  put(i: number, packet: Uint8Array): void {
    if (packet.length > this.slotSize - this.headroom) {
      throw new RangeError(`packet of ${packet.length} bytes does not fit a ${this.slotSize}-byte slot`);
    }
    const o = i * DESC_STRIDE;
    this.desc.fill(0, o, o + DESC_STRIDE);
    this.desc[o + D.LEN] = packet.length;
    this.desc[o + D.OFF] = this.headroom;
    this.data.set(packet, i * this.slotSize + this.headroom);
  }
}

/** A receive pool also records each datagram's source and local destination address. */
export class RecvPool extends Pool {
  readonly src: Uint8Array;
  readonly dst: Uint8Array;

  constructor(opts: PoolOptions = {}) {
    super(opts);
    this.src = new Uint8Array(this.slots * ADDR_STRIDE);
    this.dst = new Uint8Array(this.slots * ADDR_STRIDE);
  }

  source(i: number): { address: string; port: number } | undefined {
    return readAddress(this.src, i);
  }

  /** The datagram's destination address (IP_PKTINFO / IPV6_PKTINFO) and our port. */
  destination(i: number): { address: string; port: number } | undefined {
    return readAddress(this.dst, i);
  }
}
