// In-memory doubles of the data plane's I/O (src/dataplane/io.ts): a packet device (TUN) and
// datagram endpoints (UDP sockets) on a simulated underlay, speaking the addon's batch contract
// (pool slots, descriptors, address tables). No root, no namespace: encap -> decap round trips
// run in a plain ava process. What they do not model: TSO/USO super-packets and GRO (create
// the data plane with offloads off), fragmentation, and the kernel's routing.
import { isIPv4 } from 'node:net';
import type { DataPlaneIo, DatagramEndpoint, DeviceOptions, EndpointOptions, RoutedDevice } from '../../src/dataplane/io';
import { AddressTable, bytesToIp, D, DESC_STRIDE, ipToBytes, Pool, readAddress, RecvPool } from '../../src/native';

/** One datagram on the simulated underlay. */
export interface Datagram {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** Outer TTL / hop limit and TOS / traffic class as sent. */
  ttl: number;
  tos: number;
  /** The sender's D.KEY: the key set a real endpoint would have sealed it with (0 = clear; the double does not encrypt). */
  keySet: number;
  /** IPv4 outer DF as the socket sets it (false for IPv6, which has none). */
  df: boolean;
  payload: Buffer;
}

type Readable = { pending(): boolean; fire(): void };

function putAddress(table: Uint8Array, i: number, ip: string, port: number): void {
  const o = i * 20;
  table.fill(0, o, o + 20);
  table[o] = isIPv4(ip) ? 4 : 6;
  table[o + 2] = port >> 8;
  table[o + 3] = port & 0xff;
  table.set(ipToBytes(ip), o + 4);
}

/** The simulated underlay: hosts with addresses, endpoints bound to ports, a log of every datagram. */
export class MemNet {
  /** Every datagram sent, in order (after onWire). */
  readonly sent: Datagram[] = [];
  /** Datagrams no endpoint was bound for. */
  readonly undelivered: Datagram[] = [];
  /** Called for each datagram before delivery: change it (a router lowering the TTL, marking CE) or return false to lose it. */
  onWire: (d: Datagram) => boolean | void = () => undefined;
  readonly endpoints: MemEndpoint[] = [];
  private readonly readables: Readable[] = [];

  host(addresses: string[]): MemHost {
    return new MemHost(this, addresses);
  }

  watch(r: Readable): void {
    this.readables.push(r);
  }

  /** Put a datagram on the wire (what an endpoint's send does; tests use it to forge one). */
  transmit(d: Datagram): void {
    if (this.onWire(d) === false) return;
    this.sent.push(d);
    const to = this.endpoints.find((e) => !e.closed && e.port === d.dport && e.accepts(d.dst));
    if (to) to.queue.push(d);
    else this.undelivered.push(d);
  }

  /** Run readiness callbacks until nothing is waiting anywhere. */
  pump(limit = 1000): void {
    for (let n = 0; n < limit; n++) {
      const r = this.readables.find((x) => x.pending());
      if (!r) return;
      r.fire();
    }
    throw new Error('MemNet.pump: still busy after the limit (a forwarding loop?)');
  }
}

/** One node's view: its underlay addresses; opens devices and endpoints like the addon. */
export class MemHost implements DataPlaneIo {
  readonly devices: MemDevice[] = [];
  private nextPort = 40000;

  constructor(readonly net: MemNet, readonly addresses: string[]) {}

  openDevice(o: DeviceOptions): MemDevice {
    const d = new MemDevice(this.net, o);
    this.devices.push(d);
    return d;
  }

  openEndpoint(o: EndpointOptions): MemEndpoint {
    const port = o.port === 0 ? this.nextPort++ : o.port;
    if (o.port !== 0 && this.net.endpoints.some((e) => !e.closed && e.host === this && e.port === port && isIPv4(e.address) === isIPv4(o.address))) {
      throw new Error(`port ${port} in use`);
    }
    const e = new MemEndpoint(this, o.address, port, o.fragment ?? false);
    this.net.endpoints.push(e);
    return e;
  }

  /** The outer source the kernel would pick: our first address of that family. */
  sourceFor(v4: boolean): string {
    const a = this.addresses.find((x) => isIPv4(x) === v4);
    if (a === undefined) throw new Error(`host has no IPv${v4 ? 4 : 6} address`);
    return a;
  }
}

export class MemDevice implements RoutedDevice {
  readonly name: string;
  readonly offloads: { readonly vnetHdr: boolean };
  readonly mtu: number;
  readonly addresses: string[];
  readonly routes = new Set<string>();
  /** Packets the host sends into the device (read by the data plane). */
  readonly inbound: Buffer[] = [];
  /** Packets the data plane wrote into the device (delivered to the host). */
  readonly written: Buffer[] = [];
  readonly stats: Record<string, number> = { tunReads: 0, tunWrites: 0 };
  closed = false;
  private cb: (() => void) | undefined;

  constructor(net: MemNet, o: DeviceOptions) {
    this.name = o.name;
    this.mtu = o.mtu;
    this.addresses = o.addresses;
    // no super-packets in the doubles: always one packet per slot
    this.offloads = { vnetHdr: false };
    net.watch({ pending: () => !this.closed && this.cb !== undefined && this.inbound.length > 0, fire: () => this.cb?.() });
  }

  /** A packet from the host's stack, routed into the device. */
  inject(packet: Buffer): void {
    this.inbound.push(packet);
  }

  read(pool: Pool, max = pool.slots): number {
    let n = 0;
    while (n < Math.min(max, pool.slots) && this.inbound.length > 0) pool.put(n++, this.inbound.shift()!);
    pool.count = n;
    this.stats.tunReads++;
    return n;
  }

  write(pool: Pool, count: number): number {
    let written = 0;
    for (let i = 0; i < Math.min(count, pool.slots); i++) {
      const d = i * DESC_STRIDE;
      if (pool.desc[d + D.ADDR] < 0) continue;
      const at = pool.start(i), len = pool.desc[d + D.LEN], hdr = pool.desc[d + D.HDR], gso = pool.desc[d + D.GSO];
      const seg = gso > 0 ? gso : len;
      for (let off = 0; off < len; off += seg) {
        const end = Math.min(len, off + seg);
        this.written.push(Buffer.from(pool.data.subarray(at + off + hdr, at + end)));
        written++;
      }
    }
    this.stats.tunWrites++;
    return written;
  }

  onReadable(onReadable: () => void): void {
    this.cb = onReadable;
  }

  addRoute(prefix: string): void {
    if (this.routes.has(prefix)) throw new Error(`route ${prefix} exists`);
    this.routes.add(prefix);
  }

  removeRoute(prefix: string): void {
    this.routes.delete(prefix);
  }

  close(): void {
    this.closed = true;
  }
}

export class MemEndpoint implements DatagramEndpoint {
  readonly offloads = { gso: false, gro: false };
  readonly queue: Datagram[] = [];
  readonly stats: Record<string, number> = { udpSendCalls: 0, udpSentDatagrams: 0, udpRecvCalls: 0, udpRecvDatagrams: 0 };
  closed = false;
  private cb: (() => void) | undefined;

  constructor(readonly host: MemHost, readonly address: string, readonly port: number, readonly fragment: boolean) {
    host.net.watch({ pending: () => !this.closed && this.cb !== undefined && this.queue.length > 0, fire: () => this.cb?.() });
  }

  private get wildcard(): boolean {
    return this.address === '0.0.0.0' || this.address === '::';
  }

  accepts(dst: string): boolean {
    if (isIPv4(dst) !== isIPv4(this.address)) return false;
    return this.wildcard ? this.host.addresses.includes(dst) : this.address === dst;
  }

  send(pool: Pool, count: number, addrs: AddressTable): number {
    this.stats.udpSendCalls++;
    let sent = 0;
    for (let i = 0; i < Math.min(count, pool.slots); i++) {
      const d = i * DESC_STRIDE;
      const ai = pool.desc[d + D.ADDR];
      if (ai < 0) continue;
      if ((pool.desc[d + D.FLAGS] & 7) !== 0) throw new Error('MemEndpoint: super-packets are not modelled (use offloads: false)');
      const dst = readAddress(addrs.bytes, ai);
      if (!dst) throw new Error(`slot ${i}: no destination in address entry ${ai}`);
      if (dst.family !== (isIPv4(this.address) ? 4 : 6)) throw new Error(`slot ${i}: IPv${dst.family} destination on an IPv${isIPv4(this.address) ? 4 : 6} socket`);
      const aux = pool.desc[d + D.AUX];
      const pinned = aux > 0 ? readAddress(addrs.bytes, aux - 1) : undefined;
      const src = pinned?.address ?? (this.wildcard ? this.host.sourceFor(dst.family === 4) : this.address);
      const tt = pool.desc[d + D.TTLTOS];
      const at = pool.start(i), hdr = pool.desc[d + D.HDR], len = pool.desc[d + D.LEN];
      this.host.net.transmit({
        src, sport: this.port, dst: dst.address, dport: dst.port,
        ttl: (tt & 0xff) || 64, tos: (tt & 0x10000) !== 0 ? (tt >> 8) & 0xff : 0, keySet: pool.desc[d + D.KEY], df: dst.family === 4 && !this.fragment,
        payload: Buffer.from(pool.data.subarray(at - hdr, at + len)),
      });
      sent++;
    }
    this.stats.udpSentDatagrams += sent;
    return sent;
  }

  recv(pool: RecvPool, max = pool.slots): number {
    this.stats.udpRecvCalls++;
    let n = 0;
    while (n < Math.min(max, pool.slots) && this.queue.length > 0) {
      const g = this.queue.shift()!;
      pool.put(n, g.payload);
      pool.desc[n * DESC_STRIDE + D.TTLTOS] = g.ttl | (g.tos << 8) | 0x10000;
      putAddress(pool.src, n, g.src, g.sport);
      putAddress(pool.dst, n, g.dst, g.dport);
      n++;
    }
    pool.count = n;
    this.stats.udpRecvDatagrams += n;
    return n;
  }

  onReadable(onReadable: () => void): void {
    this.cb = onReadable;
  }

  close(): void {
    this.closed = true;
  }
}

// ---- inner packets ----

function checksum(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i += 2) s += (b[i] << 8) | (i + 1 < end ? b[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export interface InnerOptions {
  ttl?: number;
  tos?: number;
  df?: boolean;
  /** Total length (IPv4) / 40 + payload (IPv6). */
  length?: number;
  proto?: number;
  ports?: [number, number];
  /** A byte pattern for the payload, so a test can tell packets apart. */
  mark?: number;
}

/** An IPv4 UDP (default) packet with a valid header checksum. */
export function ipv4Packet(src: string, dst: string, o: InnerOptions = {}): Buffer {
  const len = o.length ?? 60;
  const b = Buffer.alloc(len, o.mark ?? 0);
  b[0] = 0x45;
  b[1] = o.tos ?? 0;
  b.writeUInt16BE(len, 2);
  b.writeUInt16BE(0x1234, 4);
  b[6] = (o.df ?? true) ? 0x40 : 0;
  b[7] = 0;
  b[8] = o.ttl ?? 64;
  b[9] = o.proto ?? 17;
  b.writeUInt16BE(0, 10);
  b.set(ipToBytes(src), 12);
  b.set(ipToBytes(dst), 16);
  b.writeUInt16BE(checksum(b, 0, 20), 10);
  const [sp, dp] = o.ports ?? [1000, 2000];
  b.writeUInt16BE(sp, 20);
  b.writeUInt16BE(dp, 22);
  b.writeUInt16BE(len - 20, 24);
  b.writeUInt16BE(0, 26);
  return b;
}

export function ipv6Packet(src: string, dst: string, o: InnerOptions = {}): Buffer {
  const len = o.length ?? 80;
  const b = Buffer.alloc(len, o.mark ?? 0);
  const tc = o.tos ?? 0;
  b[0] = 0x60 | (tc >> 4);
  b[1] = (tc & 0x0f) << 4;
  b[2] = 0;
  b[3] = 0;
  b.writeUInt16BE(len - 40, 4);
  b[6] = o.proto ?? 17;
  b[7] = o.ttl ?? 64;
  b.set(ipToBytes(src), 8);
  b.set(ipToBytes(dst), 24);
  const [sp, dp] = o.ports ?? [1000, 2000];
  b.writeUInt16BE(sp, 40);
  b.writeUInt16BE(dp, 42);
  b.writeUInt16BE(len - 40, 44);
  b.writeUInt16BE(0, 46);
  return b;
}

/** Is the IPv4 header checksum of `b` valid? */
export function ipv4HeaderOk(b: Buffer): boolean {
  return checksum(b, 0, (b[0] & 0x0f) << 2) === 0;
}

export { bytesToIp };
