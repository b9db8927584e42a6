// RLOC reachability by ICMP echo, for peers that do not answer RLOC-probes (e.g. some NATed or
// firewalled xTRs). Runs on the main thread: `raw-socket` is a classic addon that cannot load in
// a worker. Every answer is reported; the control plane treats it like a probe reply.
import { isIPv4 } from 'node:net';
import type { RawSocket } from 'raw-socket';

export interface IcmpReachabilityOptions {
  readonly intervalMs: number;
  /** Called for every echo reply from a target. */
  readonly onAlive: (rloc: string) => void;
  readonly onError?: (e: Error) => void;
}

const ECHO_REQUEST_V4 = 8;
const ECHO_REPLY_V4 = 0;
const ECHO_REQUEST_V6 = 128;
const ECHO_REPLY_V6 = 129;

export class IcmpReachability {
  private readonly id = process.pid & 0xffff;
  private seq = 0;
  private targets: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private v4: RawSocket | undefined;
  private v6: RawSocket | undefined;

  constructor(private readonly opts: IcmpReachabilityOptions) {}

  /** Opens the raw sockets; throws with a clear message without CAP_NET_RAW. */
  start(): void {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const raw = require('raw-socket') as typeof import('raw-socket');
    try {
      this.v4 = raw.createSocket({ protocol: raw.Protocol.ICMP, addressFamily: raw.AddressFamily.IPv4 });
      this.v6 = raw.createSocket({ protocol: raw.Protocol.ICMPv6, addressFamily: raw.AddressFamily.IPv6 });
    } catch (e) {
      this.stop();
      throw new Error(`ICMP reachability needs raw sockets (CAP_NET_RAW): ${(e as Error).message}`);
    }
    this.v4.on('message', (buf, source) => {
      // IPv4 raw sockets deliver the IP header too (RFC 791 IHL in 32-bit words).
      const off = (buf[0] & 0x0f) * 4;
      if (buf.length >= off + 8 && buf[off] === ECHO_REPLY_V4 && buf.readUInt16BE(off + 4) === this.id) this.opts.onAlive(source);
    });
    this.v6.on('message', (buf, source) => {
      if (buf.length >= 8 && buf[0] === ECHO_REPLY_V6 && buf.readUInt16BE(4) === this.id) this.opts.onAlive(source);
    });
    for (const s of [this.v4, this.v6]) s.on('error', (e) => this.opts.onError?.(e));
    const tick = (): void => this.round();
    this.timer = setInterval(tick, this.opts.intervalMs);
    this.timer.unref();
    tick();
  }

  setTargets(rlocs: readonly string[]): void {
    this.targets = [...new Set(rlocs)];
  }

  private round(): void {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const raw = require('raw-socket') as typeof import('raw-socket');
    this.seq = (this.seq + 1) & 0xffff;
    for (const t of this.targets) {
      const v4 = isIPv4(t);
      const pkt = Buffer.alloc(16);
      pkt[0] = v4 ? ECHO_REQUEST_V4 : ECHO_REQUEST_V6;
      pkt.writeUInt16BE(this.id, 4);
      pkt.writeUInt16BE(this.seq, 6);
      pkt.write('decent!!', 8, 'latin1');
      // The kernel fills the ICMPv6 checksum (RFC 3542 §3.1); ICMPv4 needs ours.
      if (v4) raw.writeChecksum(pkt, 2, raw.createChecksum(pkt));
      const s = v4 ? this.v4 : this.v6;
      s?.send(pkt, 0, pkt.length, t, (err) => {
        if (err) this.opts.onError?.(new Error(`echo to ${t}: ${err.message}`));
      });
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.v4?.close();
    this.v6?.close();
    this.v4 = this.v6 = undefined;
  }
}
