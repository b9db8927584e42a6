// The data plane's I/O, behind two small interfaces: a packet device that reads and writes
// batches of pool slots (the TUN) and a datagram endpoint that sends and receives batches (a UDP
// socket). The native addon's Tun and UdpEndpoint implement them; so do the in-memory doubles of
// the rootless tests, which is what lets encap -> decap round trips run without a namespace.
// Both sides speak the addon's batch contract (src/native/layout.ts): one pool of fixed slots,
// eight Int32 descriptor fields per slot, destinations and sources as AddressTable entries.
import { NO_TUN_OFFLOADS, Tun, UdpEndpoint, type AddressTable, type KeyTable, type Pool, type RecvPool } from '../native';

/** A device carrying inner packets (the TUN). */
export interface PacketDevice {
  readonly name: string;
  /** virtio_net_hdr offloads: reads may return 64 KiB TSO/USO super-packets (D.FLAGS F.GSO_*, D.GSO = MSS). */
  readonly offloads: { readonly vnetHdr: boolean };
  /** Fill slots from 0 with up to `max` packets (default: all slots); 0 = nothing waiting. */
  read(pool: Pool, max?: number): number;
  /** Write slots [0, count): D.ADDR < 0 skips a slot, D.HDR bytes are stripped per D.GSO segment. */
  write(pool: Pool, count: number): number;
  /** Call `onReadable` when packets wait; it drains with read(). */
  onReadable(onReadable: () => void, onError?: (message: string) => void): void;
  close(): void;
}

/** A packet device that also takes routes into itself (the overlay's EID space). */
export interface RoutedDevice extends PacketDevice {
  addRoute(prefix: string): void;
  removeRoute(prefix: string): void;
}

/** A datagram socket carrying LISP data (UDP 4341). */
export interface DatagramEndpoint {
  /** UDP GSO on send, GRO on receive, as in effect. */
  readonly offloads: { readonly gso: boolean; readonly gro: boolean };
  /**
   * Send slots [0, count) to addrs[D.ADDR] (skipped if < 0), with the D.HDR bytes in front of
   * each; D.AUX = 1 + the source entry (0: the kernel chooses); D.TTLTOS the outer TTL/TOS.
   */
  send(pool: Pool, count: number, addrs: AddressTable): number;
  /** Receive into slots from 0, with each datagram's source and local destination (pool.src, pool.dst). */
  recv(pool: RecvPool, max?: number): number;
  onReadable(onReadable: () => void, onError?: (message: string) => void): void;
  readonly stats: Readonly<Record<string, number>>;
  /** LISP-crypto: seal slots with D.KEY under this key table (the addon's UdpEndpoint; doubles may omit it). */
  setKeys?(keys: KeyTable | null): void;
  close(): void;
}

export interface DeviceOptions {
  name: string;
  mtu: number;
  /** Host EIDs put on the device (address/length). */
  addresses: string[];
  /** TSO/USO and the virtio_net_hdr. */
  offloads: boolean;
}

export interface EndpointOptions {
  /** Local address ('0.0.0.0' / '::' for any). */
  address: string;
  /** 0 = an ephemeral port. */
  port: number;
  gso: boolean;
  gro: boolean;
  /** IPv4: DF=0, the kernel fragments what does not fit (default DF=1, RFC 9300 §7.1). */
  fragment?: boolean;
  maxBatch?: number;
}

/** Opens the data plane's devices and endpoints: the addon, or a test's doubles. */
export interface DataPlaneIo {
  openDevice(o: DeviceOptions): RoutedDevice & { readonly stats: Readonly<Record<string, number>> };
  openEndpoint(o: EndpointOptions): DatagramEndpoint;
}

/** The addon: a TUN device and UDP sockets in our network namespace. */
export const NATIVE_IO: DataPlaneIo = {
  openDevice: (o) => Tun.open({
    name: o.name, mtu: o.mtu, addresses: o.addresses, up: true, offloads: o.offloads ? undefined : NO_TUN_OFFLOADS,
  }),
  openEndpoint: (o) => UdpEndpoint.open(o),
};
