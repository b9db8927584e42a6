// A TUN device (Documentation/networking/tuntap.rst) opened through the addon: batched,
// offload-aware reads and writes, rtnetlink configuration, readiness on Node's loop.
import { loadAddon } from './addon';
import { maskBytes, parseCidr } from './address';
import { track, untrack } from './cleanup';
import { tunError } from './errors';
import { isTunStat, OFF, readStats, STAT_NAMES, TunStats } from './layout';
import type { KeyTable } from './keys';
import { Pool } from './pool';
import { Readiness } from './readiness';

export interface TunOffloads {
  /** IFF_VNET_HDR: a virtio_net_hdr on every read/write; needed by all the others. */
  vnetHdr: boolean;
  /** Accept TCP super-packets (TUN_F_TSO4 / TUN_F_TSO6). */
  tso4: boolean;
  tso6: boolean;
  /** Accept UDP super-packets (TUN_F_USO4 / TUN_F_USO6, Linux 6.2+). */
  uso4: boolean;
  uso6: boolean;
  /** Coalesce received segments into GSO writes (after verifying each checksum). */
  coalesce: boolean;
}

export const ALL_TUN_OFFLOADS: TunOffloads = { vnetHdr: true, tso4: true, tso6: true, uso4: true, uso6: true, coalesce: true };
export const NO_TUN_OFFLOADS: TunOffloads = { vnetHdr: false, tso4: false, tso6: false, uso4: false, uso6: false, coalesce: false };

export interface TunOptions {
  /** Interface name, at most 15 bytes; a "%d" template lets the kernel pick the number. */
  name: string;
  /** Network namespace: a name under /var/run/netns or a path to a netns file. Default: ours. */
  netns?: string;
  /** IFF_MULTI_QUEUE: open the same name again to add queues. */
  multiQueue?: boolean;
  /** Offloads are all on by default; switch single ones off here. Refused ones fall back silently (see `offloads`). */
  offloads?: Partial<TunOffloads>;
  mtu?: number;
  /** Addresses with prefix length, e.g. "10.1.0.1/24", "fd00::1/64". */
  addresses?: string[];
  /** Bring the link up after configuring (default true when mtu or addresses are given). */
  up?: boolean;
}

function offloadMask(o: TunOffloads): number {
  if (!o.vnetHdr) return 0;
  return OFF.VNET | (o.tso4 ? OFF.TSO4 : 0) | (o.tso6 ? OFF.TSO6 : 0) | (o.uso4 ? OFF.USO4 : 0) |
    (o.uso6 ? OFF.USO6 : 0) | (o.coalesce ? OFF.COALESCE : 0);
}

function maskOffloads(m: number): TunOffloads {
  return {
    vnetHdr: (m & OFF.VNET) !== 0, tso4: (m & OFF.TSO4) !== 0, tso6: (m & OFF.TSO6) !== 0,
    uso4: (m & OFF.USO4) !== 0, uso6: (m & OFF.USO6) !== 0, coalesce: (m & OFF.COALESCE) !== 0,
  };
}

export function netnsPath(netns: string | undefined): string | null {
  if (!netns) return null;
  return netns.includes('/') ? netns : `/var/run/netns/${netns}`;
}

/** Linux dev_valid_name(): 1..15 bytes, not "." or "..", no "/", ":" or whitespace. */
export function checkInterfaceName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('a TUN needs a non-empty interface name');
  if (Buffer.byteLength(name) > 15) {
    throw new RangeError(`interface name "${name}" is ${Buffer.byteLength(name)} bytes; Linux allows at most 15 (IFNAMSIZ - 1)`);
  }
  if (name === '.' || name === '..' || /[/:\s]/.test(name)) {
    throw new RangeError(`interface name "${name}" is not valid on Linux: no "/", ":" or whitespace, and not "." or ".."`);
  }
}

export class Tun {
  readonly name: string;
  readonly ifindex: number;
  readonly fd: number;
  /** Offloads in effect (what the kernel accepted of what was asked). */
  readonly offloads: TunOffloads;
  readonly netns: string | null;
  private handle: object | undefined;
  private readonly statsArray: Float64Array;
  private readiness: Readiness | undefined;

  private constructor(opts: TunOptions) {
    checkInterfaceName(opts.name);
    const want = { ...ALL_TUN_OFFLOADS, ...opts.offloads };
    this.netns = netnsPath(opts.netns);
    this.statsArray = new Float64Array(STAT_NAMES.length);
    const a = loadAddon();
    try {
      const r = a.tunOpen(opts.name, this.netns, opts.multiQueue ?? false, offloadMask(want), this.statsArray);
      this.handle = r.handle;
      this.fd = r.fd;
      this.name = r.name;
      this.ifindex = r.ifindex;
      this.offloads = maskOffloads(r.offloads);
    } catch (e) {
      throw tunError(e, `cannot create TUN device "${opts.name}"`);
    }
    track(this);
  }

  /** Create (or attach to) a TUN device and apply MTU, addresses and link state. */
  static open(opts: TunOptions): Tun {
    const t = new Tun(opts);
    try {
      if (opts.mtu !== undefined) t.setMtu(opts.mtu);
      for (const a of opts.addresses ?? []) t.addAddress(a);
      if (opts.up ?? (opts.mtu !== undefined || (opts.addresses?.length ?? 0) > 0)) t.setUp(true);
    } catch (e) {
      t.close();
      throw e;
    }
    return t;
  }

  private live(): object {
    if (!this.handle) throw new Error(`TUN device "${this.name}" is closed`);
    return this.handle;
  }

  /** Link MTU. 68 is the IPv4 minimum (RFC 791), 65535 the TUN maximum; IPv6 needs >= 1280 (RFC 8200 §5). */
  setMtu(mtu: number): void {
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
      throw new RangeError(`MTU ${mtu} is not valid for "${this.name}": use an integer from 68 to 65535 (at least 1280 for IPv6)`);
    }
    this.live();
    try {
      loadAddon().linkSet(this.netns, this.ifindex, mtu, -1);
    } catch (e) {
      throw tunError(e, `cannot set MTU ${mtu} on "${this.name}"`);
    }
  }

  setUp(up: boolean): void {
    this.live();
    try {
      loadAddon().linkSet(this.netns, this.ifindex, 0, up ? 1 : 0);
    } catch (e) {
      throw tunError(e, `cannot set "${this.name}" ${up ? 'up' : 'down'}`);
    }
  }

  addAddress(cidr: string): void {
    const c = parseCidr(cidr);
    this.live();
    try {
      loadAddon().addrAdd(this.netns, this.ifindex, c.family, c.bytes, c.prefixLength);
    } catch (e) {
      throw tunError(e, `cannot add address ${cidr} to "${this.name}"`);
    }
  }

  /** Route an EID prefix into the TUN (main table, scope link). */
  addRoute(prefix: string, metric = 0): void {
    this.route(true, prefix, metric);
  }

  removeRoute(prefix: string, metric = 0): void {
    this.route(false, prefix, metric);
  }

  private route(add: boolean, prefix: string, metric: number): void {
    const c = parseCidr(prefix);
    this.live();
    try {
      loadAddon().routeSet(this.netns, add, this.ifindex, c.family, maskBytes(c.bytes, c.prefixLength), c.prefixLength, metric);
    } catch (e) {
      throw tunError(e, `cannot ${add ? 'add' : 'remove'} route ${prefix} via "${this.name}"`);
    }
  }

  /**
   * Read up to `max` packets (default: the pool's slots) into the pool from slot 0, until the
   * device has nothing more (EAGAIN). With offloads a packet may be a super-packet of up to
   * 64 KiB (D.FLAGS has F.GSO_*, D.GSO the MSS). Checksums the kernel left to us are completed.
   */
  read(pool: Pool, max = pool.slots): number {
    const n = loadAddon().tunRead(this.live(), pool.data, pool.desc, pool.slotSize, pool.headroom, Math.min(max, pool.slots));
    pool.count = n;
    return n;
  }

  /**
   * Write slots [0, count) of a pool: each slot is split into D.GSO-sized segments (if set),
   * D.HDR bytes are stripped from the front of each, and segments of one flow are coalesced
   * into one GSO write. Slots with D.ADDR < 0 are skipped. Returns packets written.
   */
  write(pool: Pool, count: number): number {
    return loadAddon().tunWrite(this.live(), pool.data, pool.desc, pool.slotSize, Math.min(count, pool.slots));
  }

  /** Call `onReadable` whenever the device has packets; it should drain with read(). */
  onReadable(onReadable: () => void, onError: (message: string) => void = () => undefined): void {
    this.live();
    this.readiness?.stop();
    this.readiness = new Readiness(this.fd, onReadable, onError);
  }

  get stats(): TunStats {
    return readStats(this.statsArray, isTunStat);
  }

  /**
   * Decrypt slots whose D.KEY names a set of `keys` on write (RFC 8061 §7: each datagram verified
   * and decrypted before coalescing; failures dropped and counted per key). null detaches.
   */
  setKeys(keys: KeyTable | null): void {
    loadAddon().tunSetKeys(this.live(), keys ? keys.handle : null);
  }

  get closed(): boolean {
    return this.handle === undefined;
  }

  /** Stop watching and close the fd; a non-persistent TUN disappears with its last queue. */
  close(): void {
    this.readiness?.stop();
    this.readiness = undefined;
    if (this.handle) loadAddon().tunClose(this.handle);
    this.handle = undefined;
    untrack(this);
  }
}
