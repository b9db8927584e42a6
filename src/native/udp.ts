// A UDP endpoint for encapsulated traffic: batched send (sendmmsg) with per-packet
// destination and outer TTL/TOS, UDP GSO, batched receive (recvmmsg) with UDP GRO and the
// local destination address of each datagram.
import { loadAddon } from './addon';
import { AddressTable, familyOf, Family, ipToBytes } from './address';
import { track, untrack } from './cleanup';
import { udpError } from './errors';
import { isUdpStat, OFF, readStats, STAT_NAMES, UdpStats } from './layout';
import type { KeyTable } from './keys';
import { Pool, RecvPool } from './pool';
import { Readiness } from './readiness';
import { netnsPath } from './tun';

export interface UdpOptions {
  /** Local address to bind (IPv4 or IPv6; "0.0.0.0" / "::" for any). */
  address: string;
  /** Local port (0 = any). LISP data uses 4341 (RFC 9300 §5.3). */
  port: number;
  netns?: string;
  /** SO_RCVBUF / SO_SNDBUF in bytes (default 8 MiB; forced past rmem_max when we have CAP_NET_ADMIN). */
  bufferBytes?: number;
  /** UDP_SEGMENT on send (default true; turned off automatically if the kernel refuses). */
  gso?: boolean;
  /** UDP_GRO on receive (default true). */
  gro?: boolean;
  /**
   * IPv4: send with DF=0 and let the kernel fragment datagrams larger than the path (default
   * false: DF=1 on every datagram, GSO segments included, RFC 9300 §7.1).
   */
  fragment?: boolean;
  /** Most messages one recv() can return (default 256). */
  maxBatch?: number;
  /**
   * SO_REUSEPORT: several endpoints on the same address and port, e.g. one per queue of an
   * IFF_MULTI_QUEUE TUN; the kernel spreads flows across them by hash (socket(7)).
   */
  reusePort?: boolean;
}

export class UdpEndpoint {
  readonly fd: number;
  readonly family: Family;
  readonly address: string;
  readonly port: number;
  readonly netns: string | null;
  private handle: object | undefined;
  private readonly statsArray: Float64Array;
  private readonly maxBatch: number;
  private readiness: Readiness | undefined;

  private constructor(opts: UdpOptions) {
    this.family = familyOf(opts.address);
    this.address = opts.address;
    this.netns = netnsPath(opts.netns);
    this.maxBatch = opts.maxBatch ?? 256;
    this.statsArray = new Float64Array(STAT_NAMES.length);
    const want = (opts.gso ?? true ? OFF.UDP_GSO : 0) | (opts.gro ?? true ? OFF.UDP_GRO : 0) |
      (opts.reusePort ? OFF.REUSEPORT : 0) | (opts.fragment ? OFF.FRAG : 0);
    try {
      const r = loadAddon().udpOpen(
        this.family, ipToBytes(opts.address), opts.port, this.netns, opts.bufferBytes ?? 8 << 20,
        want, this.maxBatch, this.statsArray,
      );
      this.handle = r.handle;
      this.fd = r.fd;
      this.port = r.port;
    } catch (e) {
      throw udpError(e, `cannot open UDP endpoint [${opts.address}]:${opts.port}`);
    }
    track(this);
  }

  static open(opts: UdpOptions): UdpEndpoint {
    return new UdpEndpoint(opts);
  }

  private live(): object {
    if (!this.handle) throw new Error(`UDP endpoint [${this.address}]:${this.port} is closed`);
    return this.handle;
  }

  /** Offloads in effect; `gso` turns false after the kernel refused a GSO send (EIO). */
  get offloads(): { gso: boolean; gro: boolean } {
    const m = this.handle ? loadAddon().udpOffloads(this.handle) : 0;
    return { gso: (m & OFF.UDP_GSO) !== 0, gro: (m & OFF.UDP_GRO) !== 0 };
  }

  /**
   * Send slots [0, count): each slot goes to addrs[D.ADDR] (skipped if < 0) with D.HDR bytes
   * in front of it (the outer header the caller wrote into the headroom). Super-packets
   * (F.GSO_*) are split into D.GSO-sized segments, each with its own copy of the D.HDR
   * prefix and rewritten inner headers/checksums, and sent as GSO messages. Returns the
   * datagrams handed to the kernel.
   */
  send(pool: Pool, count: number, addrs: AddressTable): number {
    return loadAddon().udpSend(this.live(), pool.data, pool.desc, pool.slotSize, Math.min(count, pool.slots), addrs.bytes);
  }

  /**
   * Receive up to `max` messages into slots from 0 (0 = nothing waiting). With GRO a message
   * holds several datagrams of D.GSO bytes each (the last may be shorter).
   */
  recv(pool: RecvPool, max = pool.slots): number {
    const m = Math.min(max, pool.slots, this.maxBatch);
    const n = loadAddon().udpRecv(this.live(), pool.data, pool.desc, pool.slotSize, pool.headroom, m, pool.src, pool.dst);
    pool.count = n;
    return n;
  }

  onReadable(onReadable: () => void, onError: (message: string) => void = () => undefined): void {
    this.live();
    this.readiness?.stop();
    this.readiness = new Readiness(this.fd, onReadable, onError);
  }

  get stats(): UdpStats {
    return readStats(this.statsArray, isUdpStat);
  }

  /**
   * Seal slots whose D.KEY names a set of `keys` on send (RFC 8061 §7: every segment after the GSO
   * split gets its own IV and ICV; the segments still leave as UDP GSO messages). null detaches.
   */
  setKeys(keys: KeyTable | null): void {
    loadAddon().udpSetKeys(this.live(), keys ? keys.handle : null);
  }

  get closed(): boolean {
    return this.handle === undefined;
  }

  close(): void {
    this.readiness?.stop();
    this.readiness = undefined;
    if (this.handle) loadAddon().udpClose(this.handle);
    this.handle = undefined;
    untrack(this);
  }
}
