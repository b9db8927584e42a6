// ICMP "fragmentation needed" (RFC 792, RFC 1191) and ICMPv6 "packet too big" (RFC 4443 §3.2)
// written back into the TUN when an inner packet does not fit the path after encapsulation
// (RFC 9300 §7.1, stateless: "drop and send ICMPv4 Frag-Needed or ICMPv6 PTB advertising S").
// Built in a preallocated pool, rate-limited by a token bucket (RFC 4443 §2.4 (f), RFC 1812 §4.3.2.8).
import { TokenBucket } from '../limits/token-bucket';
import { finishChecksum, onesSum } from '../wire/checksum';
import { Pool } from '../native';
import type { PacketDevice } from './io';
import {
  DESC, D_LEN, D_OFF, IPV6_MIN_MTU,
} from './packet';
import type { DataPlaneCounters } from './counters';

/** RFC 1812 §4.3.2.3: quote as much as fits in 576 bytes. */
const V4_MAX_TOTAL = 576;
/** RFC 4443 §2.4 (c): as much as fits in the minimum IPv6 MTU. */
const V6_MAX_TOTAL = IPV6_MIN_MTU;

export interface IcmpOptions {
  /** Errors per second (sustained). */
  ratePerSecond?: number;
  /** Bucket size (burst). */
  burst?: number;
  clock?: () => number;
}

export class IcmpTooBig {
  /** Queued errors (public for tests: slot i holds the i-th error until flush()). */
  readonly pool = new Pool({ slots: 16, slotSize: 2048, headroom: 64 });
  pending = 0;
  private readonly bucket: TokenBucket;
  private readonly clock: () => number;

  constructor(private readonly counters: DataPlaneCounters, opts: IcmpOptions = {}) {
    this.clock = opts.clock ?? Date.now;
    this.bucket = new TokenBucket(opts.burst ?? 50, opts.ratePerSecond ?? 100, this.clock());
  }

  private take(): boolean {
    return this.bucket.take(this.clock());
  }

  /**
   * Queue an error about the inner packet at b[at, at+len) advertising `mtu`. Returns false when
   * none is sent (not allowed for this packet, rate-limited, or the queue is full until flush()).
   */
  tooBig(b: Uint8Array, at: number, len: number, v4: boolean, mtu: number): boolean {
    if (!(v4 ? this.mayAnswer4(b, at) : this.mayAnswer6(b, at))) return false;
    if (this.pending >= this.pool.slots) return false;
    if (!this.take()) {
      this.counters.icmpRateLimited++;
      return false;
    }
    const p = this.pool;
    const i = this.pending++;
    const o = i * p.slotSize + p.headroom;
    const n = v4 ? this.build4(p.data, o, b, at, len, mtu) : this.build6(p.data, o, b, at, len, Math.max(mtu, IPV6_MIN_MTU));
    const d = i * DESC;
    p.desc.fill(0, d, d + DESC);
    p.desc[d + D_LEN] = n;
    p.desc[d + D_OFF] = p.headroom;
    this.counters.icmpSent++;
    return true;
  }

  /** Write the queued errors into the TUN (after each batch). */
  flush(tun: PacketDevice): void {
    if (this.pending === 0) return;
    tun.write(this.pool, this.pending);
    this.pending = 0;
  }

  // RFC 1122 §3.2.2 / RFC 1812 §4.3.2.7: never about an ICMP error, a non-initial fragment, or
  // a source that does not name one host (0/8, 127/8, multicast, class E/broadcast).
  private mayAnswer4(b: Uint8Array, at: number): boolean {
    const s0 = b[at + 12];
    if (s0 === 0 || s0 === 127 || s0 >= 224) return false;
    if ((((b[at + 6] & 0x1f) << 8) | b[at + 7]) !== 0) return false;
    if (b[at + 9] === 1) {
      const t = b[at + ((b[at] & 0x0f) << 2)];
      if (t !== 0 && t !== 8 && t !== 13 && t !== 14 && t !== 17 && t !== 18) return false; // not a query/reply: an error
    }
    return true;
  }

  // RFC 4443 §2.4 (e): not about an ICMPv6 error, not to an unspecified or multicast source.
  private mayAnswer6(b: Uint8Array, at: number): boolean {
    if (b[at + 8] === 0xff) return false;
    let zero = true;
    for (let k = 8; k < 24; k++) if (b[at + k] !== 0) { zero = false; break; }
    if (zero) return false;
    if (b[at + 6] === 58 && b[at + 40] < 128) return false;
    return true;
  }

  private build4(out: Uint8Array, o: number, b: Uint8Array, at: number, len: number, mtu: number): number {
    const quote = Math.min(len, V4_MAX_TOTAL - 28);
    const total = 28 + quote;
    out.fill(0, o, o + 28);
    out[o] = 0x45;
    out[o + 1] = 0xc0; // DSCP CS6, network control (RFC 4594 §3.2)
    out[o + 2] = total >> 8;
    out[o + 3] = total & 0xff;
    out[o + 8] = 64;
    out[o + 9] = 1;
    // Source: the inner destination. A local address would be dropped by the kernel as a
    // martian ("source is local") when it comes in on the TUN; the remote EID routes back via
    // the TUN, so it passes reverse-path filtering, and Linux takes Frag-Needed from any source.
    out.set(b.subarray(at + 16, at + 20), o + 12);
    out.set(b.subarray(at + 12, at + 16), o + 16);
    const ipSum = finishChecksum(onesSum(out, o, o + 20));
    out[o + 10] = ipSum >> 8;
    out[o + 11] = ipSum & 0xff;
    const ic = o + 20;
    out[ic] = 3; // destination unreachable
    out[ic + 1] = 4; // fragmentation needed and DF set
    out[ic + 6] = mtu >> 8; // next-hop MTU (RFC 1191 §4)
    out[ic + 7] = mtu & 0xff;
    out.set(b.subarray(at, at + quote), ic + 8);
    // The quoted header of a TSO super-packet says 64 KB; the segment the host will retry is what counts.
    const sum = finishChecksum(onesSum(out, ic, ic + 8 + quote));
    out[ic + 2] = sum >> 8;
    out[ic + 3] = sum & 0xff;
    return total;
  }

  private build6(out: Uint8Array, o: number, b: Uint8Array, at: number, len: number, mtu: number): number {
    const quote = Math.min(len, V6_MAX_TOTAL - 48);
    const plen = 8 + quote;
    out.fill(0, o, o + 48);
    out[o] = 0x60;
    out[o + 4] = plen >> 8;
    out[o + 5] = plen & 0xff;
    out[o + 6] = 58;
    out[o + 7] = 64;
    out.set(b.subarray(at + 24, at + 40), o + 8); // source: the inner destination (see build4)
    out.set(b.subarray(at + 8, at + 24), o + 24);
    const ic = o + 40;
    out[ic] = 2; // packet too big
    out[ic + 4] = (mtu >>> 24) & 0xff;
    out[ic + 5] = (mtu >>> 16) & 0xff;
    out[ic + 6] = (mtu >>> 8) & 0xff;
    out[ic + 7] = mtu & 0xff;
    out.set(b.subarray(at, at + quote), ic + 8);
    // RFC 8200 §8.1 pseudo-header: addresses, upper-layer length, next header.
    let sum = onesSum(out, o + 8, o + 40);
    sum += plen + 58;
    sum = onesSum(out, ic, ic + plen, sum);
    const c = finishChecksum(sum);
    out[ic + 2] = c >> 8;
    out[ic + 3] = c & 0xff;
    return 40 + plen;
  }
}
