// The last check before a control datagram leaves the worker (issue 12, finding 2): the target
// address and port usually come from a packet (ITR-RLOCs, an ECM's inner UDP source port, a
// registerer's address), and dgram.send throws synchronously on port 0 or a bad address, which
// would kill the worker. Every send goes through here: a bad target, a family we have no socket
// for, or a send error is a counted drop, never an exception.
import { isIP } from 'node:net';

/** The part of dgram.Socket we use. */
export interface DatagramSocket {
  send(msg: Uint8Array, port: number, address: string, callback: (err: Error | null) => void): void;
}

export type SendDrop = 'bad-port' | 'bad-address' | 'no-socket' | 'failed';

/** Counter names, as `decent show stats` and /metrics show them. */
export const SEND_COUNTERS: Readonly<Record<SendDrop, string>> = {
  'bad-port': 'send.dropped.bad-port',
  'bad-address': 'send.dropped.bad-address',
  'no-socket': 'send.dropped.no-socket',
  failed: 'send.failed',
};

/** Is `ip` an address we may send unicast to (not unspecified, multicast or IPv4 broadcast)? */
export function unicastFamily(ip: string): 4 | 6 | undefined {
  const f = isIP(ip);
  if (f === 4) {
    const first = Number(ip.slice(0, ip.indexOf('.')));
    if (ip === '0.0.0.0' || ip === '255.255.255.255' || (first >= 224 && first <= 239)) return undefined;
    return 4;
  }
  if (f === 6) {
    const lower = ip.toLowerCase();
    if (/^ff/.test(lower) || /^(0*:)*:?0*$/.test(lower) || lower === '::') return undefined;
    return 6;
  }
  return undefined;
}

function multicastFamily(ip: string): 4 | 6 | undefined {
  const f = isIP(ip);
  if (f === 4) {
    const first = Number(ip.slice(0, ip.indexOf('.')));
    return first >= 224 && first <= 239 ? 4 : undefined;
  }
  return f === 6 && /^ff/i.test(ip) ? 6 : undefined;
}

export function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

export class SendGuard {
  readonly drops: Record<SendDrop, number> = { 'bad-port': 0, 'bad-address': 0, 'no-socket': 0, failed: 0 };

  /**
   * @param socketFor the socket for a family, if we have one
   * @param onDrop told about every drop (the caller rate-limits its log)
   */
  constructor(
    private readonly socketFor: (family: 4 | 6) => DatagramSocket | undefined,
    private readonly onDrop: (reason: SendDrop, what: string, dst: string, port: number, error?: string) => void,
  ) {}

  /** Unicast `bytes` to dst:port; `what` names the kind of message for the log. */
  send(what: string, dst: string, port: number, bytes: Uint8Array): boolean {
    return this.sendTo(what, dst, port, bytes, unicastFamily(dst));
  }

  /** To a multicast group (underlay replication). */
  sendMulticast(what: string, group: string, port: number, bytes: Uint8Array): boolean {
    return this.sendTo(what, group, port, bytes, multicastFamily(group));
  }

  private sendTo(what: string, dst: string, port: number, bytes: Uint8Array, family: 4 | 6 | undefined): boolean {
    if (!validPort(port)) return this.drop('bad-port', what, dst, port);
    if (family === undefined) return this.drop('bad-address', what, dst, port);
    const s = this.socketFor(family);
    if (!s) return this.drop('no-socket', what, dst, port);
    try {
      s.send(bytes, port, dst, (err) => {
        if (err) this.drop('failed', what, dst, port, err.message);
      });
    } catch (e) {
      // e.g. the socket was closed under us (stopping) or the kernel refused synchronously
      return this.drop('failed', what, dst, port, (e as Error).message);
    }
    return true;
  }

  private drop(reason: SendDrop, what: string, dst: string, port: number, error?: string): false {
    this.drops[reason]++;
    this.onDrop(reason, what, dst, port, error);
    return false;
  }

  /** The drop counters under their public names. */
  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.drops)) out[SEND_COUNTERS[k as SendDrop]] = v;
    return out;
  }
}
