// ETR: UDP 4341 -> checks -> TUN (RFC 9300 §5.3 "ETR decapsulation", lisp-wire.md §5). A UDP GRO
// message (several datagrams of one flow) is checked segment by segment and, when every segment
// passes, written as one slot that the addon splits, strips of the 8-byte LISP header and
// coalesces into the TUN. A message with a bad or control segment takes the slow path: segments
// copied one by one. Drops are counted by reason. Nothing here allocates per packet, except
// head-end replicated control messages, which the control plane gets as a copy.
import { isIPv4 } from 'node:net';
import { Pool, RecvPool, Tun, UdpEndpoint, ipToBytes } from '../native';
import { readAddress } from '../native/address';
import type { FibReader } from '../mapping/fib';
import type { DataPlaneCounters } from './counters';
import {
  ADDR, DESC, D_ADDR, D_FLAGS, D_GSO, D_HDR, D_LEN, D_OFF, F_TRUNC, HER_IID, LISP_HEADER_LEN,
} from './packet';

const I_BIT = 0x08;
const KEY_ID = 0x03;

/** Verdicts of one segment. */
const OK = 0, BAD_HEADER = 1, UNKNOWN_IID = 2, NOT_OUR_EID = 3, TTL_EXPIRED = 4, TOO_BIG = 5, CONTROL = 6;

/** Our RLOCs: the only outer destinations we decapsulate for (empty = any local address). */
export class RlocFilter {
  private table = new Uint8Array(0);
  private count = 0;

  set(rlocs: readonly string[]): void {
    this.count = rlocs.length;
    this.table = new Uint8Array(Math.max(1, rlocs.length) * ADDR);
    rlocs.forEach((r, i) => {
      this.table[i * ADDR] = isIPv4(r) ? 4 : 6;
      this.table.set(ipToBytes(r), i * ADDR + 4);
    });
  }

  /** Is entry `i` of an address table (pool.dst) one of ours? */
  matches(dst: Uint8Array, i: number): boolean {
    if (this.count === 0) return true;
    const o = i * ADDR, fam = dst[o];
    if (fam !== 4 && fam !== 6) return true; // no IP_PKTINFO: the kernel delivered it to us, accept
    const words = fam === 4 ? 4 : 16;
    for (let r = 0; r < this.count; r++) {
      const t = r * ADDR;
      if (this.table[t] !== fam) continue;
      let k = 0;
      while (k < words && this.table[t + 4 + k] === dst[o + 4 + k]) k++;
      if (k === words) return true;
    }
    return false;
  }
}

export interface DecapOptions {
  tun: Tun;
  udp: UdpEndpoint;
  /** Our EIDs (host EIDs and the EID prefixes behind us), looked up with the instance-id. */
  local: FibReader;
  rlocs: RlocFilter;
  counters: DataPlaneCounters;
  instanceId: number;
  /** Largest inner packet we write into the TUN (its MTU). */
  mtu: number;
  onControl: (bytes: Uint8Array, outerSource: string) => void;
  batch?: number;
  rounds?: number;
}

export class Decapsulator {
  readonly pool: RecvPool;
  private readonly spare: Pool;
  private spareCount = 0;
  private readonly rounds: number;

  constructor(private readonly o: DecapOptions) {
    const batch = o.batch ?? 64;
    this.rounds = o.rounds ?? 4;
    const slotSize = (o.udp.offloads.gro ? 65536 : 2048) + 64;
    this.pool = new RecvPool({ slots: batch, slotSize, headroom: 64 });
    this.spare = new Pool({ slots: 16, slotSize: 65536 + 64, headroom: 64 });
  }

  drain(): void {
    for (let r = 0; r < this.rounds; r++) {
      const n = this.o.udp.recv(this.pool);
      if (n === 0) break;
      if (this.process(n)) this.o.tun.write(this.pool, n);
      this.flushSpare();
      if (n < this.pool.slots) break;
    }
  }

  /** Checks slots [0, n); returns whether any is to be written. */
  private process(n: number): boolean {
    const p = this.pool, data = p.data, desc = p.desc, c = this.o.counters;
    let any = false;
    for (let i = 0; i < n; i++) {
      const d = i * DESC;
      const at = i * p.slotSize + desc[d + D_OFF];
      const len = desc[d + D_LEN];
      const gso = desc[d + D_GSO];
      const seg = gso > 0 ? gso : len;
      const segs = gso > 0 ? Math.ceil(len / gso) : 1;
      desc[d + D_ADDR] = -1;
      if ((desc[d + D_FLAGS] & F_TRUNC) !== 0) { c.dropBadHeader += segs; continue; }
      if (!this.o.rlocs.matches(p.dst, i)) { c.dropNotOurRloc += segs; continue; }
      let all = true;
      for (let off = 0; off < len; off += seg) {
        if (this.check(data, at + off, Math.min(seg, len - off)) !== OK) { all = false; break; }
      }
      if (all) {
        desc[d + D_HDR] = LISP_HEADER_LEN;
        desc[d + D_ADDR] = 0;
        c.decapPackets += segs;
        c.decapBytes += len - segs * LISP_HEADER_LEN;
        any = true;
      } else {
        this.slowPath(i, at, len, seg);
      }
    }
    return any;
  }

  /** One LISP datagram at b[at, at+len): the verdict, no side effects. */
  private check(b: Uint8Array, at: number, len: number): number {
    if (len < LISP_HEADER_LEN + 20) return BAD_HEADER;
    const flags = b[at];
    // K bits: LISP-crypto (RFC 8061), which we do not speak: we cannot read the payload.
    if ((flags & KEY_ID) !== 0) return BAD_HEADER;
    const iid = (flags & I_BIT) !== 0 ? (b[at + 4] << 16) | (b[at + 5] << 8) | b[at + 6] : 0;
    if (iid === HER_IID && (flags & I_BIT) !== 0) return CONTROL;
    if (iid !== this.o.instanceId) return UNKNOWN_IID;
    const ip = at + LISP_HEADER_LEN, ilen = len - LISP_HEADER_LEN, ver = b[ip] >> 4;
    let total: number, ttl: number, eid: number;
    if (ver === 4) {
      const ihl = (b[ip] & 0x0f) << 2;
      total = (b[ip + 2] << 8) | b[ip + 3];
      if (ihl < 20 || total < ihl || total > ilen) return BAD_HEADER;
      ttl = b[ip + 8];
      eid = this.o.local.lookup4Bytes(iid, b, ip + 16);
    } else if (ver === 6) {
      if (ilen < 40) return BAD_HEADER;
      total = 40 + ((b[ip + 4] << 8) | b[ip + 5]);
      if (total > ilen) return BAD_HEADER;
      ttl = b[ip + 7];
      eid = this.o.local.lookup6Bytes(iid, b, ip + 24);
    } else {
      return BAD_HEADER;
    }
    if (eid < 0) return NOT_OUR_EID;
    // RFC 9300 §5.3 step 4 wants min(outer, inner) TTL; the addon does not report the outer TTL
    // (IP_RECVTTL), so we can only refuse what is already dead.
    if (ttl === 0) return TTL_EXPIRED;
    if (total > this.o.mtu) return TOO_BIG;
    return OK;
  }

  private slowPath(i: number, at: number, len: number, seg: number): void {
    const p = this.pool, c = this.o.counters;
    for (let off = 0; off < len; off += seg) {
      const sl = Math.min(seg, len - off), s = at + off;
      const v = this.check(p.data, s, sl);
      switch (v) {
        case OK: this.toSpare(p.data, s, sl); c.decapPackets++; c.decapBytes += sl - LISP_HEADER_LEN; break;
        case CONTROL: this.control(p.data, s, sl, i); break;
        case BAD_HEADER: c.dropBadHeader++; break;
        case UNKNOWN_IID: c.dropUnknownInstance++; break;
        case NOT_OUR_EID: c.dropNotOurEid++; break;
        case TTL_EXPIRED: c.dropTtlExpired++; break;
        case TOO_BIG: c.dropTooBig++; break;
      }
    }
  }

  private control(b: Buffer, at: number, len: number, i: number): void {
    // Head-end replicated control (instance-id 0xFFFFFF): the whole UDP payload goes to the
    // control plane (it decodes the LISP header itself), never into the TUN.
    this.o.counters.encapsulatedControl++;
    const src = readAddress(this.pool.src, i)?.address ?? '';
    this.o.onControl(new Uint8Array(b.subarray(at, at + len)), src);
  }

  private toSpare(b: Buffer, at: number, len: number): void {
    const sp = this.spare;
    if (this.spareCount === sp.slots) this.flushSpare();
    const k = this.spareCount++;
    const d = k * DESC;
    sp.desc.fill(0, d, d + DESC);
    sp.desc[d + D_LEN] = len;
    sp.desc[d + D_OFF] = sp.headroom;
    sp.desc[d + D_HDR] = LISP_HEADER_LEN;
    b.copy(sp.data, k * sp.slotSize + sp.headroom, at, at + len);
  }

  private flushSpare(): void {
    if (this.spareCount === 0) return;
    this.o.tun.write(this.spare, this.spareCount);
    this.spareCount = 0;
  }
}
