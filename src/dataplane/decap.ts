// ETR: UDP 4341 -> checks -> TUN (RFC 9300 §5.3 "ETR decapsulation"). A UDP GRO
// message (several datagrams of one flow) is checked segment by segment and, when every segment
// passes, written as one slot that the addon splits, strips of the 8-byte LISP header and
// coalesces into the TUN. A message with a bad or control segment takes the slow path: segments
// copied one by one. Drops are counted by reason. Nothing here allocates per packet, except
// head-end replicated control messages, which the control queue copies for the control worker.
//
// Outer TTL/TOS (RFC 9300 §5.3 steps 4-6): the addon reports the outer TTL and
// TOS of each message (IP_RECVTTL/IP_RECVTOS, D.TTLTOS); with UDP GRO they are those of every
// datagram in it, since the kernel only merges datagrams with equal outer TTL and TOS. The inner
// header of each segment is rewritten in place in the receive slot *before* tun.write(), so the
// native coalescer (coalesce.c) sees already-fixed segments: it copies the first segment's header
// into the GSO write and merges only segments whose TTL/TOS match and whose IPv4 header checksum
// verifies, so per-segment fixes survive coalescing without native changes. A segment that must
// be dropped (outer CE over inner Not-ECT) sends the message down the per-segment slow path.
import { isIPv4 } from 'node:net';
import { AddressTable, Pool, RecvPool, ipToBytes } from '../native';
import { readAddress } from '../native/address';
import type { FibReader } from '../mapping/fib';
import { DATA_FLAG_I, DATA_KEY_ID_MASK } from '../wire/constants';
import { SHIM_FROM, SHIM_MARK, SHIM_TO, shimFamily, shimLength, shimType } from '../wire/relay-shim';
import type { AddressIndex } from './address-index';
import type { DataPlaneCounters } from './counters';
import type { DatagramEndpoint, PacketDevice } from './io';
import type { SourceFilter } from './sources';
import {
  ADDR, DATA_PORT, DESC, D_ADDR, D_AUX, D_FLAGS, D_GSO, D_HDR, D_KEY, D_LEN, D_OFF, D_TTLTOS, FLAG_SHIM_MASK, FLAG_SHIM_SHIFT, F_TRUNC, HER_IID, LISP_HEADER_LEN, flowHash,
} from './packet';


/** Verdicts of one segment. */
const OK = 0, BAD_HEADER = 1, UNKNOWN_IID = 2, NOT_OUR_EID = 3, TTL_EXPIRED = 4, TOO_BIG = 5, CONTROL = 6, ECN_NOT_ECT = 7, NOT_MEMBER = 8, RELAY = 9;

/** D.TTLTOS on receive: bit 16 says the TOS byte (bits 8-15) was reported. */
const TOS_VALID = 0x10000;
/** ECN codepoints (RFC 3168 §5). */
const NOT_ECT = 0, ECT1 = 1, ECT0 = 2, CE = 3;

/**
 * RFC 9300 §5.3 steps 4-6 on one inner header at b[ip] (already checked: IPv4 or IPv6, long
 * enough), given the outer TTL and TOS (`ttltos` as the addon reports it: TTL 0 = unknown, no
 * TOS_VALID = TOS unknown). Returns false when the segment must be dropped: outer CE over an
 * inner Not-ECT (RFC 6040 §4.2). With `apply` false it only decides; the caller applies once
 * every segment of a message passed, so a slow-path retry never sees a half-rewritten header.
 */
export function applyOuter(b: Uint8Array, ip: number, ttltos: number, apply: boolean, c: DataPlaneCounters | undefined): boolean {
  const outerTtl = ttltos & 0xff, hasTos = (ttltos & TOS_VALID) !== 0, outerTos = (ttltos >> 8) & 0xff;
  const v4 = b[ip] >> 4 === 4;
  const innerTtl = v4 ? b[ip + 8] : b[ip + 7];
  const innerTos = v4 ? b[ip + 1] : ((b[ip] & 0x0f) << 4) | (b[ip + 1] >> 4);
  let tos = innerTos;
  if (hasTos) {
    const outerEcn = outerTos & 3, innerEcn = innerTos & 3;
    let ecn = innerEcn;
    // RFC 6040 §4.2: outer CE marks the inner CE, or drops it if the inner endpoint is not
    // ECN-capable; outer ECT(1) over inner ECT(0) gives ECT(1); otherwise the inner stays.
    if (outerEcn === CE) {
      if (innerEcn === NOT_ECT) return false;
      ecn = CE;
    } else if (outerEcn === ECT1 && innerEcn === ECT0) {
      ecn = ECT1;
    }
    // step 5: inner DSCP <- outer DSCP (SHOULD): the underlay's classification wins
    tos = (outerTos & 0xfc) | ecn;
    if (apply && c && ecn === CE && innerEcn !== CE) c.ecnCeMarked++;
  }
  if (!apply) return true;
  // step 4 (MUST): the inner TTL never exceeds the outer one, so a loop through the overlay ends
  const ttl = outerTtl !== 0 && outerTtl < innerTtl ? outerTtl : innerTtl;
  if (ttl !== innerTtl && c) c.ttlCopied++;
  if (v4) {
    if (ttl !== innerTtl) patch16(b, ip, 8, (ttl << 8) | b[ip + 9]);
    if (tos !== innerTos) patch16(b, ip, 0, (b[ip] << 8) | tos);
  } else {
    b[ip + 7] = ttl;
    b[ip] = (b[ip] & 0xf0) | (tos >> 4);
    b[ip + 1] = ((tos & 0x0f) << 4) | (b[ip + 1] & 0x0f);
  }
  return true;
}

/**
 * Replace the 16-bit word at b[ip + off] of an IPv4 header and fix the header checksum
 * incrementally (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), which never yields eqn. 2's -0).
 */
function patch16(b: Uint8Array, ip: number, off: number, word: number): void {
  const m = (b[ip + off] << 8) | b[ip + off + 1];
  let sum = (~((b[ip + 10] << 8) | b[ip + 11]) & 0xffff) + (~m & 0xffff) + word;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  const hc = ~sum & 0xffff;
  b[ip + off] = word >> 8;
  b[ip + off + 1] = word & 0xff;
  b[ip + 10] = hc >> 8;
  b[ip + 11] = hc & 0xff;
}

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

  /** Is entry `i` of an address table one of our RLOCs (false when we know none)? */
  isOwn(dst: Uint8Array, i: number): boolean {
    return this.count > 0 && this.matches(dst, i);
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
  tun: PacketDevice;
  udp: DatagramEndpoint;
  /** Our EIDs (host EIDs and the EID prefixes behind us), looked up with the instance-id. */
  local: FibReader;
  rlocs: RlocFilter;
  /** Outer sources data is accepted from (group members' RLOCs); HER control passes regardless. */
  sources: SourceFilter;
  counters: DataPlaneCounters;
  instanceId: number;
  /** Largest inner packet we write into the TUN (its MTU). */
  mtu: number;
  /**
   * A head-end replicated control packet at b[at, at+len) (copy what you keep), with its outer
   * source address and port (a data-port Info-Request's port is a NAT's translation).
   */
  onControl: (b: Uint8Array, at: number, len: number, outerSource: string, outerPort: number) => void;
  /** LISP-crypto: opens the received batch in place before the checks (crypto.ts); unset = clear only. */
  open?: (pool: RecvPool, n: number) => void;
  /**
   * We are an RTR (draft-ietf-lisp-nat-traversal, the RTR): a clear packet from a member for an EID
   * that is not ours is relayed: the inner packet b[at, at+len) (its TTL already decremented) goes
   * back to the ITR side, which looks it up and re-encapsulates it (copy what you keep). Unset:
   * such packets are dropped (dropNotOurEid). `relayDone` runs after each receive batch.
   */
  relay?: { readonly enabled: boolean; packet(b: Buffer, at: number, len: number): void; done(): void };
  /**
   * The map-cache FIB: with it an RTR relays a whole message at once when it can (every segment
   * for one inner destination whose FIB entry is there, an RLOC of the receiving socket's family):
   * only the outer header changes (its datagrams, LISP headers included, go out as they came,
   * inner TTL minus one, one UDP GSO message from our data socket). The rest takes `relay`.
   */
  relayFib?: FibReader;
  /**
   * RTR: the data port of each member behind NAT we relay for, by its translated address: where a
   * sealed datagram with a TO relay shim naming it goes (other group members: 4341).
   */
  relayTargets?: AddressIndex;
  /** The receiving socket's family (default 4): the fast path relays only within it. */
  family?: 4 | 6;
  batch?: number;
  rounds?: number;
}

export class Decapsulator {
  readonly pool: RecvPool;
  private readonly spare: Pool;
  /** Relay fast path: destinations per slot, which slots go out again, their D.ADDR for the TUN write. */
  private readonly relayAddrs: AddressTable;
  private readonly relayed: Uint8Array;
  private readonly savedAddr: Int32Array;
  private relayCount = 0;
  /** RTR: single sealed datagrams of mixed messages, each to its own target (relaySealedEach). */
  private readonly relayOne: Pool;
  private readonly relayOneAddrs: AddressTable;
  private relayOneCount = 0;
  private nowSec = 0;
  private spareCount = 0;
  private readonly rounds: number;

  constructor(private readonly o: DecapOptions) {
    const batch = o.batch ?? 64;
    this.rounds = o.rounds ?? 4;
    const slotSize = (o.udp.offloads.gro ? 65536 : 2048) + 64;
    this.pool = new RecvPool({ slots: batch, slotSize, headroom: 64 });
    this.spare = new Pool({ slots: 16, slotSize: 65536 + 64, headroom: 64 });
    this.relayOne = new Pool({ slots: 64, slotSize: 2048 + 64, headroom: 64 });
    this.relayOneAddrs = new AddressTable(64);
    this.relayAddrs = new AddressTable(batch);
    this.relayed = new Uint8Array(batch);
    this.savedAddr = new Int32Array(batch);
  }

  drain(): void {
    for (let r = 0; r < this.rounds; r++) {
      const n = this.o.udp.recv(this.pool);
      if (n === 0) break;
      this.o.open?.(this.pool, n);
      this.relayCount = 0;
      this.nowSec = Math.floor(Date.now() / 1000);
      const any = this.process(n);
      if (this.relayCount > 0) this.sendRelayed(n);
      this.flushRelayOne();
      if (any) this.o.tun.write(this.pool, n);
      this.flushSpare();
      this.o.relay?.done();
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
      const tt = desc[d + D_TTLTOS];
      desc[d + D_ADDR] = -1;
      this.relayed[i] = 0;
      if ((desc[d + D_FLAGS] & F_TRUNC) !== 0) { c.dropBadHeader += segs; continue; }
      if (!this.o.rlocs.matches(p.dst, i)) { c.dropNotOurRloc += segs; continue; }
      // one source per message (GRO merges only datagrams of one flow)
      const member = this.o.sources.allows(p.src, i);
      // a FROM relay shim that LISP-crypto accepted (crypto.ts) is in front of each LISP header
      const sh = (desc[d + D_FLAGS] >>> FLAG_SHIM_SHIFT) & FLAG_SHIM_MASK;
      if (sh === 0 && data[at] === SHIM_MARK) {
        if (!this.relaySealed(i, at, len, seg, tt, member)) c.relayShimDropped += segs;
        continue;
      }
      let all = true;
      for (let off = 0; off < len; off += seg) {
        if (this.check(data, at + off + sh, Math.min(seg, len - off) - sh, tt, member) !== OK) { all = false; break; }
      }
      if (all) {
        // every segment passed: now rewrite each one's inner header (see the top of this file)
        if (tt !== 0) for (let off = 0; off < len; off += seg) applyOuter(data, at + off + sh + LISP_HEADER_LEN, tt, true, c);
        desc[d + D_HDR] = LISP_HEADER_LEN + sh;
        desc[d + D_ADDR] = 0;
        c.decapPackets += segs;
        c.decapBytes += len - segs * (LISP_HEADER_LEN + sh);
        any = true;
      } else if (!(sh === 0 && this.o.relayFib && this.relayFast(i, at, len, seg, tt, member))) {
        this.slowPath(i, at, len, seg, tt, member, sh);
      }
    }
    return any;
  }

  /** One LISP datagram at b[at, at+len): the verdict, no side effects. */
  private check(b: Uint8Array, at: number, len: number, tt: number, member: boolean): number {
    if (len < LISP_HEADER_LEN + 20) return BAD_HEADER;
    const flags = b[at];
    // K bits: LISP-crypto (RFC 8061), which we do not speak: we cannot read the payload.
    if ((flags & DATA_KEY_ID_MASK) !== 0) return BAD_HEADER;
    const iid = (flags & DATA_FLAG_I) !== 0 ? (b[at + 4] << 16) | (b[at + 5] << 8) | b[at + 6] : 0;
    if (iid === HER_IID && (flags & DATA_FLAG_I) !== 0) return CONTROL;
    if (!member) return NOT_MEMBER;
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
    if (eid < 0) {
      // An RTR relays it (the inner TTL goes down by one, as lispers.net's RTR does; a loop ends)
      if (this.o.relay?.enabled !== true) return NOT_OUR_EID;
      return ttl <= 1 ? TTL_EXPIRED : RELAY;
    }
    // RFC 9300 §5.3 step 4: min(outer, inner) TTL (applied by applyOuter); an outer TTL of 0
    // never arrives, so only a dead inner one is refused here.
    if (ttl === 0) return TTL_EXPIRED;
    if (total > this.o.mtu) return TOO_BIG;
    if (tt !== 0 && !applyOuter(b, ip, tt, false, undefined)) return ECN_NOT_ECT;
    return OK;
  }

  private slowPath(i: number, at: number, len: number, seg: number, tt: number, member: boolean, sh: number): void {
    const p = this.pool, c = this.o.counters;
    for (let off = 0; off < len; off += seg) {
      const sl = Math.min(seg, len - off) - sh, s = at + off + sh;
      const v = this.check(p.data, s, sl, tt, member);
      switch (v) {
        case OK:
          if (tt !== 0) applyOuter(p.data, s + LISP_HEADER_LEN, tt, true, c);
          this.toSpare(p.data, s, sl); c.decapPackets++; c.decapBytes += sl - LISP_HEADER_LEN; break;
        case CONTROL: this.control(p.data, s, sl, i); break;
        case BAD_HEADER: c.dropBadHeader++; break;
        case UNKNOWN_IID: c.dropUnknownInstance++; break;
        case NOT_OUR_EID: c.dropNotOurEid++; break;
        case TTL_EXPIRED: c.dropTtlExpired++; break;
        case TOO_BIG: c.dropTooBig++; break;
        case ECN_NOT_ECT: c.dropEcnNotEct++; break;
        case NOT_MEMBER: c.dropNotMember++; break;
        case RELAY: this.relay(p.data, s + LISP_HEADER_LEN, sl - LISP_HEADER_LEN); break;
      }
    }
  }

  /**
   * RTR, a sealed message with TO relay shims (src/wire/relay-shim.ts): never opened. When every
   * datagram names the same target, a NAT binding of ours (its data port) or a group member
   * (4341), of the receiving socket's family and not us, each shim becomes a FROM shim naming the
   * outer source (the ITR whose keys open it) and the message goes on as it came, outer TTL minus
   * one. Datagrams naming different targets (one UDP flow from an ITR to several members behind
   * us, merged by GRO) go one by one (relaySealedEach). False: dropped (the caller counts it).
   */
  private relaySealed(i: number, at: number, len: number, seg: number, tt: number, member: boolean): boolean {
    const b = this.pool.data, p = this.pool, c = this.o.counters, fam = this.o.family ?? 4, targets = this.o.relayTargets;
    if (this.o.relay?.enabled !== true || !targets || !member || p.src[i * ADDR] !== fam) return false;
    const ttl = (tt & 0xff) === 0 ? 64 : tt & 0xff;
    const sh = shimLength(b, at, Math.min(seg, len));
    let segs = 0, uniform = sh > 0 && shimType(b, at) === SHIM_TO && shimFamily(b, at) === fam;
    for (let off = 0; off < len; off += seg, segs++) {
      const o = at + off;
      if (!uniform) continue;
      if (Math.min(seg, len - off) < sh + LISP_HEADER_LEN) uniform = false;
      else for (let k = 0; k < sh; k++) if (b[o + k] !== b[at + k]) { uniform = false; break; }
    }
    if (ttl <= 1) { c.rtrDropTtl += segs; return true; }
    if (!uniform || (segs > 1 && !this.o.udp.offloads.gso)) return this.relaySealedEach(i, at, len, seg, ttl, tt);
    // the target: a member behind NAT we relay for (its data port), else any member at 4341
    const a = this.relayAddrs.bytes, e = i * ADDR;
    if (!this.relayTarget(b, at, a, e, i)) return false;
    // TO -> FROM: the address becomes the ITR's (the outer source), same family and length
    for (let off = 0; off < len; off += seg) {
      const o = at + off;
      b[o + 1] = SHIM_FROM;
      for (let k = 0, n = fam === 6 ? 16 : 4; k < n; k++) b[o + 4 + k] = p.src[e + 4 + k];
    }
    this.pool.desc[i * DESC + D_TTLTOS] = (ttl - 1) | (tt & 0x1ff00);
    this.relayed[i] = 1;
    this.relayCount++;
    c.rtrRelayedSealed += segs;
    return true;
  }

  /**
   * The target of the TO shim at b[at] into address entry `e` of table `a` (`check` is the entry
   * index the source filter looks at): a NAT binding of ours at its data port, else a group member
   * at 4341, never us. False: no such target.
   */
  private relayTarget(b: Uint8Array, at: number, a: Uint8Array, e: number, check: number): boolean {
    const fam = b[at + 2];
    a[e] = fam;
    a[e + 1] = 0;
    for (let k = 0, n = fam === 6 ? 16 : 4; k < n; k++) a[e + 4 + k] = b[at + 4 + k];
    let port = this.o.relayTargets?.lookupBytes(fam, b, at + 4) ?? 0;
    if (port === 0 && this.o.sources.allows(a, check)) port = DATA_PORT;
    if (port === 0 || this.o.rlocs.isOwn(a, check)) return false;
    a[e + 2] = port >> 8;
    a[e + 3] = port & 0xff;
    return true;
  }

  /**
   * RTR, a message whose datagrams do not all carry the same TO shim: each valid one is copied
   * into its own slot of `relayOne` with its own target (sent at the end of the round); the rest
   * (malformed, another family, no target, a plain datagram merged in) are dropped and counted.
   */
  private relaySealedEach(i: number, at: number, len: number, seg: number, ttl: number, tt: number): boolean {
    const b = this.pool.data, src = this.pool.src, c = this.o.counters, fam = this.o.family ?? 4, one = this.relayOne;
    const a = this.relayOneAddrs.bytes, n = fam === 6 ? 16 : 4;
    for (let off = 0; off < len; off += seg) {
      const o = at + off, sl = Math.min(seg, len - off), sh = shimLength(b, o, sl);
      if (this.relayOneCount === one.slots) this.flushRelayOne();
      const k = this.relayOneCount, e = k * ADDR;
      if (sh <= 0 || shimType(b, o) !== SHIM_TO || shimFamily(b, o) !== fam || sl > one.slotSize - one.headroom || !this.relayTarget(b, o, a, e, k)) {
        c.relayShimDropped++;
        continue;
      }
      const d = k * DESC, to = k * one.slotSize + one.headroom;
      one.desc.fill(0, d, d + DESC);
      one.desc[d + D_LEN] = sl;
      one.desc[d + D_OFF] = one.headroom;
      one.desc[d + D_ADDR] = k;
      one.desc[d + D_TTLTOS] = (ttl - 1) | (tt & 0x1ff00);
      b.copy(one.data, to, o, o + sl);
      one.data[to + 1] = SHIM_FROM;
      for (let x = 0; x < n; x++) one.data[to + 4 + x] = src[i * ADDR + 4 + x];
      this.relayOneCount++;
      c.rtrRelayedSealed++;
    }
    return true;
  }

  private flushRelayOne(): void {
    if (this.relayOneCount === 0) return;
    this.o.udp.send(this.relayOne, this.relayOneCount, this.relayOneAddrs);
    this.relayOneCount = 0;
  }

  /**
   * RTR fast path: message i is relayed whole when every segment is RELAY for the same inner
   * destination, its FIB entry is usable and the chosen RLOC has the receiving socket's family
   * (and is not ours). Marks it for sendRelayed(); false leaves it to the slow path.
   */
  private relayFast(i: number, at: number, len: number, seg: number, tt: number, member: boolean): boolean {
    const fib = this.o.relayFib, b = this.pool.data, c = this.o.counters;
    if (!fib) return false;
    const ip = at + LISP_HEADER_LEN, v4 = b[ip] >> 4 === 4, dst = v4 ? 16 : 24, n = v4 ? 4 : 16;
    let segs = 0;
    for (let off = 0; off < len; off += seg, segs++) {
      if (this.check(b, at + off, Math.min(seg, len - off), tt, member) !== RELAY) return false;
      const o = at + off + LISP_HEADER_LEN;
      if (b[o] >> 4 !== b[ip] >> 4) return false;
      for (let k = 0; k < n; k++) if (b[o + dst + k] !== b[ip + dst + k]) return false;
    }
    if (segs > 1 && !this.o.udp.offloads.gso) return false;
    const entry = v4 ? fib.lookup4Bytes(this.o.instanceId, b, ip + 16) : fib.lookup6Bytes(this.o.instanceId, b, ip + 24);
    if (entry < 0 || fib.entryExpired(entry, this.nowSec)) return false;
    const route = fib.route(entry);
    if (fib.routeRlocCount(route) === 0) return false;
    if (fib.selectRlocOfRoute(route, flowHash(b, ip, Math.min(seg, len) - LISP_HEADER_LEN, v4)) < 0) return false;
    const fam = fib.selectedFamily, w = fib.selectedAddress, port = fib.selectedPort, a = this.relayAddrs.bytes, e = i * ADDR;
    if (fam !== (this.o.family ?? 4)) return false;
    a[e] = fam;
    a[e + 1] = 0;
    a[e + 2] = port >> 8;
    a[e + 3] = port & 0xff;
    for (let k = 0, words = fam === 6 ? 4 : 1; k < words; k++) {
      const x = w[k], q = e + 4 + 4 * k;
      a[q] = x >>> 24;
      a[q + 1] = (x >>> 16) & 0xff;
      a[q + 2] = (x >>> 8) & 0xff;
      a[q + 3] = x & 0xff;
    }
    if (this.o.rlocs.isOwn(a, i)) return false;
    // the inner TTL goes down by one in every datagram (as in relay()); the outer copies it
    for (let off = 0; off < len; off += seg) {
      const o = at + off + LISP_HEADER_LEN;
      if (v4) patch16(b, o, 8, ((b[o + 8] - 1) << 8) | b[o + 9]);
      else b[o + 7]--;
    }
    const desc = this.pool.desc, d = i * DESC;
    const ttl = v4 ? b[ip + 8] : b[ip + 7], tos = v4 ? b[ip + 1] : ((b[ip] & 0x0f) << 4) | (b[ip + 1] >> 4);
    desc[d + D_TTLTOS] = ttl | (tos << 8) | 0x10000;
    this.relayed[i] = 1;
    this.relayCount++;
    c.rtrRelayed += segs;
    return true;
  }

  /** Sends the messages relayFast() marked, as they came (LISP headers included), then restores D.ADDR for the TUN write. */
  private sendRelayed(n: number): void {
    const desc = this.pool.desc, saved = this.savedAddr;
    for (let i = 0; i < n; i++) {
      const d = i * DESC;
      saved[i] = desc[d + D_ADDR];
      if (this.relayed[i] === 0) { desc[d + D_ADDR] = -1; continue; }
      desc[d + D_ADDR] = i;
      desc[d + D_HDR] = 0;
      desc[d + D_FLAGS] = 0;
      desc[d + D_KEY] = 0;
      desc[d + D_AUX] = 0;
    }
    this.o.udp.send(this.pool, n, this.relayAddrs);
    for (let i = 0; i < n; i++) desc[i * DESC + D_ADDR] = this.relayed[i] !== 0 ? -1 : saved[i];
  }

  /** RTR: one inner packet at b[ip, ip+len) for another member's EID, TTL checked (> 1). */
  private relay(b: Buffer, ip: number, len: number): void {
    const c = this.o.counters;
    if (b[ip] >> 4 === 4) patch16(b, ip, 8, ((b[ip + 8] - 1) << 8) | b[ip + 9]);
    else b[ip + 7]--;
    c.rtrRelayed++;
    this.o.relay?.packet(b, ip, len);
  }

  private control(b: Buffer, at: number, len: number, i: number): void {
    // Head-end replicated control (instance-id 0xFFFFFF): the whole UDP payload goes to the
    // control plane (it decodes the LISP header itself), never into the TUN; the control queue
    // counts and copies it.
    const src = readAddress(this.pool.src, i);
    this.o.onControl(b, at, len, src?.address ?? '', src?.port ?? 0);
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
