// ICMP echo for the data-plane tests and benchmark. The CI image has no iputils ping but does
// have python3 (node-gyp needs it), and Node has no raw sockets, so this runs a small Python
// pinger inside the namespace: raw ICMP/ICMPv6 socket, optional DF (IP_PMTUDISC_DO), and it
// reports the ICMP errors it gets back (Frag-Needed / Packet-Too-Big with their MTU).
import type { Netns } from './lib/netns';

const PY = String.raw`
import socket, struct, sys, time, json, os, select
dst, count, size, df, timeout, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == '1', float(sys.argv[5]), float(sys.argv[6])
v6 = ':' in dst
if v6:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    if df:
        s.setsockopt(socket.IPPROTO_IPV6, 23, 2)  # IPV6_MTU_DISCOVER = IPV6_PMTUDISC_DO
        s.setsockopt(socket.IPPROTO_IPV6, 62, 1)  # IPV6_DONTFRAG
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setsockopt(socket.IPPROTO_IP, 10, 2 if df else 0)  # IP_MTU_DISCOVER: DO / DONT
ident = (os.getpid() * 7) & 0xffff
def csum(b):
    if len(b) % 2: b += b'\0'
    x = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while x > 0xffff: x = (x & 0xffff) + (x >> 16)
    return ~x & 0xffff
res = {'sent': 0, 'received': 0, 'rtt': [], 'errors': []}
for seq in range(count):
    payload = bytes((i & 0xff for i in range(size)))
    t = 128 if v6 else 8
    pkt = struct.pack('!BBHHH', t, 0, 0, ident, seq) + payload
    if not v6:  # the kernel fills the ICMPv6 checksum (RFC 3542 §3.1), not the ICMP one
        pkt = pkt[:2] + struct.pack('!H', csum(pkt)) + pkt[4:]
    t0 = time.perf_counter()
    try:
        s.sendto(pkt, (dst, 0))
        res['sent'] += 1
    except OSError as e:
        res['errors'].append({'local': e.errno})
        continue
    deadline = t0 + timeout
    while True:
        left = deadline - time.perf_counter()
        if left <= 0: break
        r, _, _ = select.select([s], [], [], left)
        if not r: break
        data, addr = s.recvfrom(65535)
        icmp = data if v6 else data[(data[0] & 15) * 4:]
        ty, code = icmp[0], icmp[1]
        if ty == (129 if v6 else 0):
            i, sq = struct.unpack('!HH', icmp[4:8])
            if i == ident and sq == seq:
                res['received'] += 1
                res['rtt'].append((time.perf_counter() - t0) * 1000)
                break
        elif (v6 and ty in (1, 2, 3)) or (not v6 and ty in (3, 11)):
            mtu = struct.unpack('!I', icmp[4:8])[0] if v6 else struct.unpack('!H', icmp[6:8])[0]
            res['errors'].append({'type': ty, 'code': code, 'mtu': mtu, 'from': addr[0]})
            break
    if seq + 1 < count: time.sleep(interval)
print(json.dumps(res))
`;

export interface PingResult {
  sent: number;
  received: number;
  /** Round-trip times in ms of the replies. */
  rtt: number[];
  /** ICMP errors received ({type, code, mtu, from}) or local send errors ({local: errno}). */
  errors: { type?: number; code?: number; mtu?: number; from?: string; local?: number }[];
}

export interface PingOptions {
  count?: number;
  /** ICMP payload bytes (after the 8-byte echo header). */
  size?: number;
  /** Set DF / forbid fragmentation. */
  df?: boolean;
  timeoutSec?: number;
  intervalSec?: number;
}

export function icmpPing(ns: Netns, dst: string, o: PingOptions = {}): PingResult {
  const out = ns.exec(['python3', '-c', PY, dst, String(o.count ?? 2), String(o.size ?? 56), o.df ? '1' : '0',
    String(o.timeoutSec ?? 3), String(o.intervalSec ?? 0.2)]);
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as PingResult;
}
