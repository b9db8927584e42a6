// Counts control traffic on a simulated (or captured) underlay: messages and bytes per sending
// and receiving node, per message type, and the largest datagram. Scale tests assert on these
// counts, never on times (the machine is shared); bench-scale reports them.

/** Outer IPv4 + UDP header bytes a datagram carries on the wire (IPv6: 48). */
export const OUTER_HEADERS_V4 = 28;

export interface NodeTraffic {
  sent: number;
  bytesSent: number;
  received: number;
  bytesReceived: number;
}

export interface TypeTraffic {
  count: number;
  bytes: number;
  largest: number;
}

export interface TallySnapshot {
  readonly messages: number;
  /** UDP payload bytes (LISP header and, for head-end replication, inner IP/UDP included). */
  readonly bytes: number;
  /** Largest UDP payload, and the IP packet it makes with outer IPv4/UDP headers. */
  readonly largestPayload: number;
  readonly largestPacket: number;
  readonly largestType: string;
  readonly byType: Readonly<Record<string, TypeTraffic>>;
  /** Per node (by the RLOC it sends from), sorted by messages sent, most first. */
  readonly perNode: readonly (NodeTraffic & { readonly rloc: string })[];
}

const CONTROL_TYPES: Record<number, string> = {
  1: 'map-request', 2: 'map-reply', 3: 'map-register', 4: 'map-notify', 5: 'map-notify-ack', 7: 'info', 8: 'ecm',
};

/**
 * The message type of a datagram: the LISP control type (RFC 9301 §5.1, high nibble of the first
 * byte) on port 4342; on 4341 a head-end replicated control message (RFC 9962 §4.2) is named
 * `her:TYPE` after the 8-byte LISP header and the inner IP and UDP headers.
 */
export function messageType(port: number, bytes: Uint8Array): string {
  if (port !== 4341) return CONTROL_TYPES[(bytes[0] ?? 0) >> 4] ?? 'control?';
  const ipStart = 8;
  const version = (bytes[ipStart] ?? 0) >> 4;
  const inner = ipStart + (version === 6 ? 40 : ((bytes[ipStart] ?? 0) & 0x0f) * 4) + 8;
  if (inner >= bytes.length) return 'data';
  return `her:${CONTROL_TYPES[(bytes[inner] ?? 0) >> 4] ?? '?'}`;
}

export class MessageTally {
  private messages = 0;
  private bytes = 0;
  private largest = 0;
  private largestType = '';
  private readonly byType = new Map<string, TypeTraffic>();
  private readonly nodes = new Map<string, NodeTraffic>();

  private node(rloc: string): NodeTraffic {
    let n = this.nodes.get(rloc);
    if (!n) {
      n = { sent: 0, bytesSent: 0, received: 0, bytesReceived: 0 };
      this.nodes.set(rloc, n);
    }
    return n;
  }

  /** One datagram from `from` to `to`:`port`. */
  record(from: string, to: string, port: number, bytes: Uint8Array): void {
    const size = bytes.length;
    const type = messageType(port, bytes);
    this.messages++;
    this.bytes += size;
    if (size > this.largest) {
      this.largest = size;
      this.largestType = type;
    }
    const t = this.byType.get(type) ?? { count: 0, bytes: 0, largest: 0 };
    t.count++;
    t.bytes += size;
    t.largest = Math.max(t.largest, size);
    this.byType.set(type, t);
    const s = this.node(from);
    s.sent++;
    s.bytesSent += size;
    const r = this.node(to);
    r.received++;
    r.bytesReceived += size;
  }

  /** Forgets everything counted so far (e.g. after a group has converged, before a join). */
  reset(): void {
    this.messages = 0;
    this.bytes = 0;
    this.largest = 0;
    this.largestType = '';
    this.byType.clear();
    this.nodes.clear();
  }

  snapshot(): TallySnapshot {
    return {
      messages: this.messages,
      bytes: this.bytes,
      largestPayload: this.largest,
      largestPacket: this.largest ? this.largest + OUTER_HEADERS_V4 : 0,
      largestType: this.largestType,
      byType: Object.fromEntries([...this.byType].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, { ...v }])),
      perNode: [...this.nodes].map(([rloc, n]) => ({ rloc, ...n })).sort((a, b) => b.sent - a.sent || a.rloc.localeCompare(b.rloc)),
    };
  }
}
