// A raw TUN -> UDP -> TUN relay on the addon, with no map-cache: every packet read from
// the TUN goes to one peer RLOC behind a fixed 8-byte LISP data header (RFC 9300 §5.1),
// and every datagram received is decapsulated into the TUN. It is the data-plane skeleton
// the tests and scripts/bench-io measure; the real encap/decap loops live in src/dataplane.
import { DATA_HEADER_LENGTH, DATA_FLAG_I } from '../wire/constants';
import { AddressTable } from './address';
import type { KeyTable } from './keys';
import { D, DESC_STRIDE } from './layout';
import { Pool, RecvPool } from './pool';
import { Tun } from './tun';
import { UdpEndpoint } from './udp';

export const LISP_HEADER_LEN = DATA_HEADER_LENGTH;

export interface RawRelayOptions {
  tun: Tun;
  udp: UdpEndpoint;
  peer: { address: string; port: number };
  /** Slots per batch (default 64). */
  batch?: number;
  /** Batches per readiness event before yielding to the other fd (default 4). */
  rounds?: number;
  /** The 8-byte LISP header written in front of every packet (default: I=1, IID 0). */
  header?: Uint8Array;
  /**
   * LISP-crypto (RFC 8061): every packet sent is sealed under key set `txSet` and every datagram
   * received must open under `rxSet` (a clear one, KK = 0, is dropped). The table is attached
   * to both endpoints. Mind the MTU: a sealed segment is IV + ICV bytes longer (24 for suite 6, 28 for suite 5).
   */
  crypto?: { keys: KeyTable; txSet: number; rxSet: number };
}

export class RawRelay {
  readonly txPool: Pool;
  readonly rxPool: RecvPool;
  private readonly addrs = new AddressTable(1);
  private readonly header: Uint8Array;
  private readonly rounds: number;
  private readonly txKey: number;
  private readonly rxKey: number;
  encapsulated = 0;
  decapsulated = 0;
  dropped = 0;

  constructor(readonly opts: RawRelayOptions) {
    const batch = opts.batch ?? 64;
    this.rounds = opts.rounds ?? 4;
    // a super-packet (TSO) or a GRO message needs a 64 KiB slot; without offloads one MTU is enough
    const big = opts.tun.offloads.vnetHdr || opts.udp.offloads.gro;
    const slotSize = (big ? 65536 : 2048) + 64;
    this.txPool = new Pool({ slots: batch, slotSize, headroom: 64 });
    this.rxPool = new RecvPool({ slots: batch, slotSize, headroom: 64 });
    this.addrs.set(0, opts.peer.address, opts.peer.port);
    // N=0, L=0, E=0, V=0, I=1: instance ID 0 in word 1 (RFC 9300 §5.3)
    this.header = opts.header ?? Uint8Array.from([DATA_FLAG_I, 0, 0, 0, 0, 0, 0, 0]);
    if (this.header.length !== LISP_HEADER_LEN) throw new RangeError('the LISP data header is 8 bytes');
    this.txKey = opts.crypto?.txSet ?? 0;
    this.rxKey = opts.crypto?.rxSet ?? 0;
    if (opts.crypto) {
      opts.tun.setKeys(opts.crypto.keys);
      opts.udp.setKeys(opts.crypto.keys);
    }
  }

  start(): void {
    this.opts.tun.onReadable(() => this.encap());
    this.opts.udp.onReadable(() => this.decap());
  }

  /** TUN -> UDP: drain in bounded batches until the TUN has nothing more. */
  encap(): void {
    const { tun, udp } = this.opts;
    const p = this.txPool, data = p.data, desc = p.desc, hdr = this.header;
    for (let r = 0; r < this.rounds; r++) {
      const n = tun.read(p);
      if (n === 0) return;
      for (let i = 0; i < n; i++) {
        const d = i * DESC_STRIDE;
        const at = i * p.slotSize + desc[d + D.OFF];
        data.set(hdr, at - LISP_HEADER_LEN);
        // RFC 9300 §5.3: the outer TTL and TOS are copied from the inner header
        const b0 = data[at];
        let ttl: number, tos: number;
        if (b0 >> 4 === 4) { ttl = data[at + 8]; tos = data[at + 1]; }
        else { ttl = data[at + 7]; tos = ((b0 & 0x0f) << 4) | (data[at + 1] >> 4); }
        desc[d + D.TTLTOS] = ttl | (tos << 8) | 0x10000;
        desc[d + D.HDR] = LISP_HEADER_LEN;
        desc[d + D.ADDR] = 0;
        desc[d + D.KEY] = this.txKey;
      }
      udp.send(p, n, this.addrs);
      this.encapsulated += n;
      if (n < p.slots) return;
    }
  }

  /** UDP -> TUN: drain in bounded batches; coalescing happens in tun.write(). */
  decap(): void {
    const { tun, udp } = this.opts;
    const p = this.rxPool, data = p.data, desc = p.desc;
    for (let r = 0; r < this.rounds; r++) {
      const n = udp.recv(p);
      if (n === 0) return;
      for (let i = 0; i < n; i++) {
        const d = i * DESC_STRIDE;
        const at = i * p.slotSize + desc[d + D.OFF];
        // sealed: KK names the key-id and the addon checks every datagram; clear: the inner version
        const kk = data[at] & 3, v = data[at + LISP_HEADER_LEN] >> 4;
        const ok = this.rxKey ? kk !== 0 : desc[d + D.LEN] > LISP_HEADER_LEN + 20 && (v === 4 || v === 6);
        desc[d + D.HDR] = LISP_HEADER_LEN;
        desc[d + D.ADDR] = ok ? 0 : -1;
        desc[d + D.KEY] = this.rxKey;
        if (!ok) this.dropped++;
      }
      this.decapsulated += tun.write(p, n);
      if (n < p.slots) return;
    }
  }

  stop(): void {
    this.opts.tun.close();
    this.opts.udp.close();
  }
}
