// ICMP echo RTTs from inside a namespace. Node has no raw sockets and some images have no
// iputils ping, but the benchmark needs python3 anyway, so a few lines of Python send the echoes
// (IPv4 only: the testbed is IPv4). scripts/dataplane-ping.ts does more (DF, ICMP errors, IPv6)
// but scripts/ is not shipped, and `decent bench` must work from an installed package.
import type { Netns } from '../testbed/netns';

const PY = String.raw`
import socket, struct, sys, time, json, os, select
dst, count, interval, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = (os.getpid() * 7) & 0xffff
def csum(b):
    x = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while x > 0xffff: x = (x & 0xffff) + (x >> 16)
    return ~x & 0xffff
rtt = []
for seq in range(count):
    pkt = struct.pack('!BBHHH', 8, 0, 0, ident, seq) + bytes(56)
    pkt = pkt[:2] + struct.pack('!H', csum(pkt)) + pkt[4:]
    t0 = time.perf_counter()
    s.sendto(pkt, (dst, 0))
    while True:
        left = t0 + timeout - time.perf_counter()
        if left <= 0 or not select.select([s], [], [], left)[0]: break
        data = s.recv(65535)
        icmp = data[(data[0] & 15) * 4:]
        if icmp[0] == 0 and struct.unpack('!HH', icmp[4:8]) == (ident, seq):
            rtt.append((time.perf_counter() - t0) * 1000)
            break
    if seq + 1 < count: time.sleep(interval)
print(json.dumps(rtt))
`;

/** Round-trip times (ms) of the echoes answered, out of `count` sent `intervalSec` apart. */
export function pingRtts(ns: Netns, dst: string, count: number, intervalSec = 0.02, timeoutSec = 1): number[] {
  const out = ns.exec(['python3', '-c', PY, dst, String(count), String(intervalSec), String(timeoutSec)]);
  return JSON.parse(out.trim().split('\n').pop() ?? '[]') as number[];
}
