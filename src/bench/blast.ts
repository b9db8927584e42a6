// 64-byte UDP generator and sink on the addon's batched UDP (sendmmsg/recvmmsg): iperf3 sends
// one datagram per system call and tops out near 230 kpps on this class of machine, below what
// the tunnels under test forward. Run as a child in a namespace:
//   node blast.js send LOCAL DST PORT SECONDS   -> {"sent":n}
//   node blast.js recv BIND PORT SECONDS         -> "listening", then {"received":n,"pps":x}
import { AddressTable, D, Pool, RecvPool, UdpEndpoint } from '../native';

const PAYLOAD = 64;
const BATCH = 64;

function send(local: string, dst: string, port: number, secs: number): void {
  const udp = UdpEndpoint.open({ address: local, port: 0, gso: false, gro: false });
  const pool = new Pool({ slots: BATCH, slotSize: 256 });
  const payload = Buffer.alloc(PAYLOAD, 0x5a);
  for (let i = 0; i < BATCH; i++) { pool.put(i, payload); pool.setField(i, D.ADDR, 0); }
  const to = new AddressTable(1);
  to.set(0, dst, port);
  const end = Date.now() + secs * 1000;
  let sent = 0;
  while (Date.now() < end) sent += udp.send(pool, BATCH, to);
  process.stdout.write(`${JSON.stringify({ sent })}\n`);
  udp.close();
}

function recv(bind: string, port: number, secs: number): void {
  const udp = UdpEndpoint.open({ address: bind, port, gso: false, gro: false, bufferBytes: 32 << 20 });
  const pool = new RecvPool({ slots: 256, slotSize: 256 });
  let got = 0, first = 0n, last = 0n;
  udp.onReadable(() => {
    for (let n; (n = udp.recv(pool)) > 0;) {
      const now = process.hrtime.bigint();
      if (got === 0) first = now;
      got += n;
      last = now;
    }
  });
  process.stdout.write('listening\n');
  // The rate is taken from the first to the last packet, so start-up and drain do not count;
  // one idle second after traffic (or the deadline) ends the measurement.
  const deadline = Date.now() + (secs + 10) * 1000;
  const timer = setInterval(() => {
    const idle = got > 0 && Number(process.hrtime.bigint() - last) / 1e9 > 1;
    if (!idle && Date.now() < deadline) return;
    clearInterval(timer);
    const s = Number(last - first) / 1e9;
    process.stdout.write(`${JSON.stringify({ received: got, pps: s > 0 ? got / s : 0 })}\n`);
    udp.close();
    process.exit(0);
  }, 200);
}

const [role, ...a] = process.argv.slice(2);
if (role === 'send') send(a[0], a[1], Number(a[2]), Number(a[3]));
else if (role === 'recv') recv(a[0], Number(a[1]), Number(a[2]));
else {
  process.stderr.write('usage: blast.js send LOCAL DST PORT SECONDS | recv BIND PORT SECONDS\n');
  process.exit(2);
}
