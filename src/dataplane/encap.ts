// ITR: TUN -> map-cache lookup -> LISP header -> UDP 4341 (RFC 9300 §5.3). A batch goes
// through two stages with a declared hook between them:
//   classify  parse the inner header, FIB lookup, RLOC choice, a verdict per slot (send, or
//             counted as dropped / held for a miss / answered with ICMP too big)
//   hook      `afterClassify(batch, n)`: sees the SEND slots with their destination address
//             entries and may change them: encryption picks a slot's key set (the endpoint
//             seals each datagram and sets the header's key-id, RFC 8061 §7), NAT traversal
//             rewrites its destination (an RTR, a translated address:port), or it drops a slot
//   emit      LISP header into the headroom, key set, outer source, sending socket, counters, sends
// The datagram endpoint adds the outer IP and UDP headers, so per packet we write only the
// 8-byte LISP header, the destination's address entry and the outer TTL/TOS (copied from the
// inner, RFC 9300 §5.3); a TSO/USO super-packet goes out as one slot that the addon splits into
// UDP GSO datagrams. Nothing here allocates per packet.
import { isIPv4, isIPv6 } from 'node:net';
import { AddressTable, Pool } from '../native';
import { FibAction, type FibReader } from '../mapping/fib';
import { DATA_FLAG_I, DATA_FLAG_N } from '../wire/constants';
import { writeDataHeader } from '../wire/data';
import { SHIM_FROM, SHIM_TO, writeShim } from '../wire/relay-shim';
import type { DataPlaneCounters } from './counters';
import type { IcmpTooBig } from './icmp';
import type { DatagramEndpoint, PacketDevice } from './io';
import type { MissQueue } from './miss';
import {
  ADDR, DATA_PORT, DESC, D_ADDR, D_AUX, D_FLAGS, D_GSO, D_HDR, D_KEY, D_LEN, D_OFF, D_TTLTOS, FLAG_SHIM_SHIFT, F_GSO_ANY, IPV6_MIN_MTU, LISP_HEADER_LEN, OVERHEAD4, OVERHEAD6, UNDERLAY_MTU, flowHash, segmentHeaderLength,
} from './packet';

/** Verdicts of classify(). */
export const DROP = 0, SEND = 1;
/** The priority an RTR's locator is registered with (draft-farinacci-lisp-lispers-net-nat). */
export const RTR_PRIORITY = 254;
/**
 * The priority a route via an RTR lists the member behind it with (never chosen: RFC 9301 §5.4,
 * 255 = do not use for unicast): the relay target that LISP-crypto seals for and names in the
 * relay shim (src/wire/relay-shim.ts; decent-to-decent, README "Behind NAT").
 */
export const RELAY_TARGET_PRIORITY = 255;
/** emit()'s sending group of IPv4 slots that may be fragmented (txFrag4). */
const FRAG4 = 5;
/** emit()'s sending groups of slots that leave from the data socket (UDP 4341): see setDataSockets. */
const DATA4 = 7, DATA6 = 8;
const DATA_PORT_HI = DATA_PORT >> 8, DATA_PORT_LO = DATA_PORT & 0xff;

/**
 * What the hook between classify and emit sees: slot i of `pool` is sent iff verdict[i] is
 * SEND, to the address entry i of `addrs` (family 4/6, port, address; the entry's family picks
 * the outer family and socket). `keySet[i]` (0 = clear, the default) becomes the slot's D.KEY:
 * the key set the endpoint seals it with; `entry` is the slot's FIB entry. To drop a slot set
 * its verdict to DROP and count it.
 */
export interface EncapBatch {
  readonly pool: Pool;
  readonly addrs: AddressTable;
  readonly verdict: Uint8Array;
  readonly keySet: Int32Array;
  readonly entry: Int32Array;
  /**
   * 1: the slot goes to an RTR that relays it to a member behind a NAT (its RLOC was registered
   * at priority 254). The RTR must be able to read the inner header, so encryption never seals
   * it with the RTR's key (crypto.ts).
   */
  readonly viaRtr: Uint8Array;
  /**
   * For a slot via an RTR: the member behind it (address entry i, family 0 = unknown), from the
   * route's RELAY_TARGET_PRIORITY RLOC of the outer family. A slot to the RTR's own EIDs is not
   * via an RTR.
   */
  readonly targets: AddressTable;
  /** 1: emit writes a TO relay shim naming targets entry i in front of the LISP header (the hook sets it). */
  readonly shim: Uint8Array;
}

export interface EncapOptions {
  tun: PacketDevice;
  /**
   * Sending sockets per outer family (empty: that family is unavailable). Each is bound to its
   * own ephemeral port and the inner flow hash picks one, so the outer UDP source port is a
   * function of the inner flow (RFC 9300 §5.3: ECMP in the underlay spreads flows, never
   * reorders one). The kernel cannot take a per-packet source port on one bound socket.
   */
  tx4: readonly DatagramEndpoint[];
  tx6: readonly DatagramEndpoint[];
  /**
   * IPv4 socket that sends with DF=0 (the others send DF=1, RFC 9300 §7.1): for inner IPv4
   * packets without DF that do not fit the path, which the kernel then fragments. Without it
   * they go through tx4 and are dropped by the kernel (counted as udpSendDrops).
   */
  txFrag4?: DatagramEndpoint;
  fib: FibReader;
  miss: MissQueue;
  icmp: IcmpTooBig;
  counters: DataPlaneCounters;
  instanceId: number;
  /** Called after a batch that produced misses due for onMiss. */
  onMissDue: () => void;
  /** Between classify and emit (see the top of this file); called for every batch. */
  afterClassify?: (batch: EncapBatch, n: number, nowMs: number) => void;
  /** Slots per batch (default 64). */
  batch?: number;
  /** Batches per readiness event before yielding to the decap side (default 4). */
  rounds?: number;
  /**
   * We are an RTR: our own sealed packets to a member behind NAT we relay for (a translated port)
   * carry a FROM relay shim naming our RLOC, like the packets we relay to it from other ITRs, so
   * every datagram of that UDP flow has the same layout and a GRO message of them opens per
   * datagram at the member (src/dataplane/crypto.ts).
   */
  shimOwnToBindings?: boolean;
  /** Path limit L (RFC 9300 §7): default 1500. */
  underlayMtu?: number;
  /**
   * Bytes LISP-crypto may add to a datagram (IV, ICV, padding; 0 without encryption): the
   * too-big limit leaves room for them, so a sealed packet never exceeds the path (DF=1).
   */
  sealOverhead?: number;
}

export class Encapsulator implements EncapBatch {
  readonly pool: Pool;
  readonly addrs: AddressTable;
  readonly verdict: Uint8Array;
  readonly keySet: Int32Array;
  readonly entry: Int32Array;
  readonly viaRtr: Uint8Array;
  readonly targets: AddressTable;
  readonly shim: Uint8Array;
  /** Inner flow hash and datagrams (segments) of each SEND slot, from classify for emit. */
  private readonly hash: Uint32Array;
  private readonly segments: Int32Array;
  /** 1: an IPv4 packet without DF too big for the path: outer fragments allowed (txFrag4). */
  private readonly fragment: Uint8Array;
  /** Sending group of each slot in emit: 4, 6, FRAG4 or 0 (not sent). */
  private readonly family: Uint8Array;
  /** Sending socket of each slot, and slots per (family, socket) in this batch. */
  private readonly sock: Uint8Array;
  private readonly perSock4: Int32Array;
  private readonly perSock6: Int32Array;
  private readonly perFrag = new Int32Array(1);
  private readonly rounds: number;
  private readonly flags: number;
  private readonly word1: number;
  private readonly limit4: number;
  private readonly limit6: number;
  /** D.AUX of IPv4 / IPv6 slots: 1 + the address-table entry of our source RLOC, 0 = kernel's choice. */
  private src4 = 0;
  private src6 = 0;
  private nonce = (Date.now() ^ (process.pid << 16)) | 1;
  private data4: DatagramEndpoint | undefined;
  private data6: DatagramEndpoint | undefined;
  private singleSource = false;
  private staged = 0;
  private busy = false;

  constructor(private readonly o: EncapOptions) {
    const batch = o.batch ?? 64;
    this.rounds = o.rounds ?? 4;
    // a TSO/USO super-packet is up to 64 KiB; without vnet headers one MTU-sized packet per slot
    const slotSize = (o.tun.offloads.vnetHdr ? 65536 : 2048) + 64;
    this.pool = new Pool({ slots: batch, slotSize, headroom: 64 });
    // one destination entry per slot, then our IPv4 and IPv6 source RLOC (setSources)
    this.addrs = new AddressTable(batch + 2);
    this.verdict = new Uint8Array(batch);
    this.keySet = new Int32Array(batch);
    this.entry = new Int32Array(batch);
    this.viaRtr = new Uint8Array(batch);
    this.targets = new AddressTable(batch);
    this.shim = new Uint8Array(batch);
    this.hash = new Uint32Array(batch);
    this.segments = new Int32Array(batch);
    this.fragment = new Uint8Array(batch);
    this.family = new Uint8Array(batch);
    this.sock = new Uint8Array(batch);
    if (o.tx4.length > 256 || o.tx6.length > 256) throw new RangeError('at most 256 sending sockets per family');
    this.perSock4 = new Int32Array(Math.max(1, o.tx4.length));
    this.perSock6 = new Int32Array(Math.max(1, o.tx6.length));
    // RFC 9300 §5.3: N with a nonce on every packet; I and the instance-id when it is not 0.
    this.flags = DATA_FLAG_N | (o.instanceId !== 0 ? DATA_FLAG_I : 0);
    this.word1 = o.instanceId !== 0 ? (o.instanceId << 8) >>> 0 : 0; // L=0: no locator-status-bits (RFC 9300 §5.3)
    const l = o.underlayMtu ?? UNDERLAY_MTU;
    this.limit4 = l - OVERHEAD4 - (o.sealOverhead ?? 0);
    this.limit6 = l - OVERHEAD6 - (o.sealOverhead ?? 0);
  }

  /**
   * Our RLOCs (config.rlocs, then DataPlane.setRlocs on roaming): when a family has exactly one
   * RLOC it becomes the outer source of every packet of that family (IP_PKTINFO / IPV6_PKTINFO
   * via D.AUX), so the ETR and the mapping system see the RLOC we registered rather than another
   * address the kernel's route might prefer (RFC 9300 §5.3: the outer source is "an RLOC of the
   * ITR"). With several RLOCs of a family (multihoming over several uplinks) the kernel chooses:
   * its route picks the uplink and that uplink's address, whereas pinning one RLOC would send it
   * out of the other uplink, where uRPF filters drop it. No RLOC of a family: the kernel chooses.
   */
  setSources(rlocs: readonly string[]): void {
    const slots = this.pool.slots, b = this.addrs.bytes;
    const only = (fam: (r: string) => boolean): string | undefined => {
      const of = rlocs.filter(fam);
      return of.length === 1 ? of[0] : undefined;
    };
    const v4 = only((r) => isIPv4(r)), v6 = only((r) => isIPv6(r));
    b.fill(0, slots * ADDR, (slots + 2) * ADDR);
    if (v4 !== undefined) this.addrs.set(slots, v4, 0);
    if (v6 !== undefined) this.addrs.set(slots + 1, v6, 0);
    this.src4 = v4 !== undefined ? slots + 1 : 0;
    this.src6 = v6 !== undefined ? slots + 2 : 0;
  }

  /**
   * The data sockets (UDP 4341, one per family). A slot to a translated port (we are the RTR of a
   * member behind a NAT) leaves from them: the member's NAT lets in only what comes from the
   * address and port its own packets went to, our 4341.
   */
  setDataSockets(udp4: DatagramEndpoint | undefined, udp6: DatagramEndpoint | undefined): void {
    this.data4 = udp4;
    this.data6 = udp6;
  }

  /**
   * Behind a NAT every outer datagram leaves from the data socket, whose translated port the RTR
   * learnt from our data-port Info-Requests: per-flow source ports would each need a NAT binding
   * of their own that nothing keeps alive (README "Behind NAT": this gives up ECMP spreading of
   * our flows in the underlay). Takes effect with the next batch.
   */
  setSingleSource(on: boolean): void {
    this.singleSource = on;
  }

  get isBusy(): boolean {
    return this.busy;
  }

  /** Readiness callback: drain the TUN in bounded batches. */
  drain(): void {
    this.busy = true;
    try {
      const p = this.o.tun;
      for (let r = 0; r < this.rounds; r++) {
        const n = p.read(this.pool);
        if (n === 0) break;
        this.forward(n, Date.now());
        if (n < this.pool.slots) break;
      }
    } finally {
      this.busy = false;
    }
    this.o.icmp.flush(this.o.tun);
    if (this.o.miss.reportDue) this.o.onMissDue();
  }

  /** Copy a held packet into the next slot; forwards a full batch. Pair with flushStaged(). */
  stage(src: Buffer, off: number, len: number, flags: number, gso: number): void {
    const p = this.pool;
    if (len > p.slotSize - p.headroom) return;
    if (this.staged === p.slots) this.flushStaged();
    const i = this.staged++;
    const d = i * DESC;
    p.desc.fill(0, d, d + DESC);
    p.desc[d + D_LEN] = len;
    p.desc[d + D_OFF] = p.headroom;
    p.desc[d + D_FLAGS] = flags;
    p.desc[d + D_GSO] = gso;
    src.copy(p.data, i * p.slotSize + p.headroom, off, off + len);
  }

  flushStaged(): void {
    if (this.staged === 0) return;
    const n = this.staged;
    this.staged = 0;
    this.forward(n, Date.now());
    this.o.icmp.flush(this.o.tun);
    // packets an RTR relays to EIDs it has not resolved yet are asked for like its own
    if (this.o.miss.reportDue) this.o.onMissDue();
  }

  private nextNonce(): number {
    // xorshift32: cheap and unpredictable enough for a data-plane nonce (not a security token)
    let x = this.nonce;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.nonce = x;
    return x & 0xffffff;
  }

  /** Encapsulate slots [0, n) of the pool and send them: classify, the hook, emit. */
  private forward(n: number, nowMs: number): void {
    this.classify(n, nowMs);
    this.o.afterClassify?.(this, n, nowMs);
    this.emit(n);
  }

  /**
   * Stage 1, per slot: parse the inner header, look the destination EID up, decide. A slot to
   * send gets SEND, its destination RLOC (port 4341) in address entry i, its outer TTL/TOS in
   * D.TTLTOS; every other slot is counted here (drop, held for a miss, ICMP too big) and left
   * with D.ADDR = -1.
   */
  private classify(n: number, nowMs: number): void {
    const o = this.o, c = o.counters, fib = o.fib, p = this.pool;
    const data = p.data, desc = p.desc, slotSize = p.slotSize, addrs = this.addrs.bytes;
    const verdict = this.verdict, hashes = this.hash, segments = this.segments, entries = this.entry, keySet = this.keySet;
    const fragment = this.fragment, viaRtr = this.viaRtr, shim = this.shim;
    const iid = o.instanceId;
    const nowSec = Math.floor(nowMs / 1000);
    const k4 = o.tx4.length, k6 = o.tx6.length;
    for (let i = 0; i < n; i++) {
      const d = i * DESC;
      const at = i * slotSize + desc[d + D_OFF];
      const len = desc[d + D_LEN];
      desc[d + D_ADDR] = -1;
      verdict[i] = DROP;
      keySet[i] = 0;
      shim[i] = 0;
      const ver = data[at] >> 4;
      let v4: boolean, ttl: number, tos: number, entry: number;
      if (ver === 4 && len >= 20) {
        v4 = true;
        ttl = data[at + 8];
        tos = data[at + 1];
        entry = fib.lookup4Bytes(iid, data, at + 16);
      } else if (ver === 6 && len >= 40) {
        v4 = false;
        ttl = data[at + 7];
        tos = ((data[at] & 0x0f) << 4) | (data[at + 1] >> 4);
        entry = fib.lookup6Bytes(iid, data, at + 24);
      } else {
        c.dropBadInner++;
        continue;
      }
      const flags = desc[d + D_FLAGS], gso = desc[d + D_GSO];
      let route = 0;
      if (entry >= 0 && !fib.entryExpired(entry, nowSec)) route = fib.route(entry);
      else entry = -1;
      if (entry < 0 && (v4 ? data[at + 16] >= 224 : data[at + 24] === 0xff || (data[at + 24] === 0xfe && (data[at + 25] & 0xc0) === 0x80))) {
        // Multicast / broadcast / link-local (e.g. the kernel's own MLD reports on the TUN):
        // not a unicast EID the mapping system can resolve, so no Map-Request for it.
        c.dropNotUnicast++;
        continue;
      }
      if (entry < 0 || (fib.routeRlocCount(route) === 0 && fib.routeAction(route) === FibAction.SendMapRequest)) {
        // No mapping (or a negative entry asking for a Map-Request): hold it, ask the control plane.
        c.missPackets++;
        if (o.miss.hold(data, at, len, flags, gso, iid, v4, nowMs)) c.missHeld++;
        else c.missDropped++;
        continue;
      }
      if (fib.routeRlocCount(route) === 0) {
        // Drop / Natively-Forward (RFC 9301 §5.4): a TUN has no native path to hand it to.
        c.dropNegative++;
        continue;
      }
      const hash = flowHash(data, at, len, v4);
      const ordinal = fib.selectRlocOfRoute(route, hash);
      if (ordinal < 0) {
        c.dropNoRloc++;
        continue;
      }
      const outer6 = fib.selectedFamily === 6;
      if ((outer6 ? k6 : k4) === 0) {
        c.dropNoRloc++;
        continue;
      }
      // RFC 9300 §7.1 (stateless): too big after encapsulation -> ICMP with S = L - H, unless it
      // is IPv4 without DF, which the kernel fragments (outer fragments with DF=0 through
      // txFrag4 over IPv4, source fragments over IPv6; the ETR's kernel reassembles them
      // before our socket sees them). Everything else leaves with DF=1.
      const hdr = gso > 0 ? segmentHeaderLength(data, at, v4, flags) : 0;
      const segLen = gso > 0 ? hdr + gso : len;
      const limit = outer6 ? this.limit6 : this.limit4;
      const tooBig = segLen > limit;
      if (tooBig && (!v4 || (data[at + 6] & 0x40) !== 0)) {
        c.dropTooBigEncap++;
        o.icmp.tooBig(data, at, len, v4, v4 ? limit : Math.max(limit, IPV6_MIN_MTU));
        continue;
      }
      fragment[i] = tooBig ? 1 : 0;
      // destination RLOC and port: 4341, or the translated port of a member behind a NAT when we
      // are its RTR (address entry layout: src/native/address.ts)
      const a = i * ADDR;
      const w = fib.selectedAddress, port = fib.selectedPort;
      addrs[a] = outer6 ? 6 : 4;
      addrs[a + 2] = port >> 8;
      addrs[a + 3] = port & 0xff;
      for (let k = 0, words = outer6 ? 4 : 1; k < words; k++) {
        const x = w[k], q = a + 4 + 4 * k;
        addrs[q] = x >>> 24;
        addrs[q + 1] = (x >>> 16) & 0xff;
        addrs[q + 2] = (x >>> 8) & 0xff;
        addrs[q + 3] = x & 0xff;
      }
      // outer TTL and TOS (DSCP + ECN, RFC 6040 normal mode) copied from the inner header
      desc[d + D_TTLTOS] = ttl | (tos << 8) | 0x10000;
      verdict[i] = SEND;
      viaRtr[i] = fib.selectedPriority === RTR_PRIORITY && this.relayTarget(route, a) ? 1 : 0;
      hashes[i] = hash;
      entries[i] = entry;
      segments[i] = gso > 0 && (flags & F_GSO_ANY) !== 0 ? Math.ceil((len - hdr) / gso) : 1;
    }
  }

  /**
   * For a slot whose address entry `a` is an RTR (priority 254): writes the member behind it
   * (the route's first RELAY_TARGET_PRIORITY RLOC of the same family) into targets entry `a`
   * (family 0 when none). False when that member is the RTR itself: it is the endpoint, not a relay.
   */
  private relayTarget(route: number, a: number): boolean {
    const fib = this.o.fib, t = this.targets.bytes, addrs = this.addrs.bytes, fam = addrs[a];
    t[a] = 0;
    for (let r = 0, count = fib.routeRlocCount(route); r < count; r++) {
      if (fib.rlocPriority(route, r) !== RELAY_TARGET_PRIORITY || fib.rlocFamily(route, r) !== fam) continue;
      let same = true;
      for (let k = 0, words = fam === 6 ? 4 : 1; k < words; k++) {
        const x = fib.rlocAddressWord(route, r, k), q = a + 4 + 4 * k;
        t[q] = x >>> 24;
        t[q + 1] = (x >>> 16) & 0xff;
        t[q + 2] = (x >>> 8) & 0xff;
        t[q + 3] = x & 0xff;
        if (t[q] !== addrs[q] || t[q + 1] !== addrs[q + 1] || t[q + 2] !== addrs[q + 2] || t[q + 3] !== addrs[q + 3]) same = false;
      }
      if (same) return false;
      t[a] = fam;
      return true;
    }
    return true;
  }

  /**
   * Stage 2, per SEND slot: the LISP header into the headroom, the key set, the outer
   * source, the sending socket (by the outer family of address entry i, which a hook may have
   * changed), the counters; then one send per socket.
   */
  private emit(n: number): void {
    const o = this.o, c = o.counters, fib = o.fib, p = this.pool;
    const data = p.data, desc = p.desc, slotSize = p.slotSize, addrs = this.addrs.bytes, fam = this.family;
    const verdict = this.verdict, hashes = this.hash, segments = this.segments, entries = this.entry, keySet = this.keySet;
    const per4 = this.perSock4, per6 = this.perSock6, sock = this.sock, fragment = this.fragment;
    const single = this.singleSource, frag4 = o.txFrag4 !== undefined && !single;
    const k4 = o.tx4.length, k6 = o.tx6.length, flags = this.flags, word1 = this.word1;
    let perData4 = 0, perData6 = 0;
    per4.fill(0);
    per6.fill(0);
    this.perFrag[0] = 0;
    for (let i = 0; i < n; i++) {
      fam[i] = 0;
      if (verdict[i] !== SEND) continue;
      const d = i * DESC;
      const outer6 = addrs[i * ADDR] === 6;
      const k = outer6 ? k6 : k4;
      // behind a NAT, or to a translated port: from the data socket when there is one (setDataSockets)
      const fromData = (single || addrs[i * ADDR + 2] !== DATA_PORT_HI || addrs[i * ADDR + 3] !== DATA_PORT_LO)
        && (outer6 ? this.data6 : this.data4) !== undefined;
      if (!fromData && k === 0) {
        c.dropNoRloc++;
        continue;
      }
      const at = i * slotSize + desc[d + D_OFF];
      // LISP header (RFC 9300 §5.1) right in front of the inner packet
      writeDataHeader(data, at - LISP_HEADER_LEN, flags, this.nextNonce(), word1);
      desc[d + D_HDR] = LISP_HEADER_LEN;
      if (this.shim[i] !== 0) {
        // sealed for the member behind the RTR: the TO relay shim in front, left clear by the addon
        const e = i * ADDR, n = this.targets.bytes[e] === 6 ? 20 : 8;
        writeShim(data, at - LISP_HEADER_LEN - n, SHIM_TO, this.targets.bytes, e);
        desc[d + D_HDR] = LISP_HEADER_LEN + n;
        desc[d + D_FLAGS] |= n << FLAG_SHIM_SHIFT;
      } else if (keySet[i] !== 0 && o.shimOwnToBindings === true && (addrs[i * ADDR + 2] !== DATA_PORT_HI || addrs[i * ADDR + 3] !== DATA_PORT_LO)) {
        // as an RTR, sealed to a member behind NAT: a FROM shim naming our own RLOC (shimOwnToBindings)
        const src = outer6 ? this.src6 : this.src4;
        if (src !== 0) {
          const n = outer6 ? 20 : 8;
          writeShim(data, at - LISP_HEADER_LEN - n, SHIM_FROM, addrs, (src - 1) * ADDR);
          desc[d + D_HDR] = LISP_HEADER_LEN + n;
          desc[d + D_FLAGS] |= n << FLAG_SHIM_SHIFT;
        }
      }
      desc[d + D_KEY] = keySet[i];
      desc[d + D_AUX] = outer6 ? this.src6 : this.src4;
      // high hash bits for the socket: the low ones already chose the RLOC
      const s = fromData ? 0 : (hashes[i] >>> 16) % k;
      sock[i] = s;
      if (fromData) { if (outer6) { fam[i] = DATA6; perData6++; } else { fam[i] = DATA4; perData4++; } }
      else if (outer6) { fam[i] = 6; per6[s]++; } else if (fragment[i] !== 0 && frag4) { fam[i] = FRAG4; sock[i] = 0; this.perFrag[0]++; } else { fam[i] = 4; per4[s]++; }
      const len = desc[d + D_LEN];
      fib.count(entries[i], len);
      c.encapPackets += segments[i];
      c.encapBytes += len;
    }
    this.send(n, 4, o.tx4, per4);
    this.send(n, 6, o.tx6, per6);
    if (this.perFrag[0] !== 0 && o.txFrag4) this.send(n, FRAG4, [o.txFrag4], this.perFrag);
    if (perData4 !== 0 && this.data4) { this.perFrag[0] = perData4; this.send(n, DATA4, [this.data4], this.perFrag); }
    if (perData6 !== 0 && this.data6) { this.perFrag[0] = perData6; this.send(n, DATA6, [this.data6], this.perFrag); }
  }

  /** One send per socket that has slots: the others' slots are masked with D_ADDR = -1. */
  private send(n: number, family: number, tx: readonly DatagramEndpoint[], per: Int32Array): void {
    const desc = this.pool.desc, fam = this.family, sock = this.sock;
    for (let s = 0; s < tx.length; s++) {
      if (per[s] === 0) continue;
      for (let i = 0; i < n; i++) desc[i * DESC + D_ADDR] = fam[i] === family && sock[i] === s ? i : -1;
      tx[s].send(this.pool, n, this.addrs);
    }
  }
}
