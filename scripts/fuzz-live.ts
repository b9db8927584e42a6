// Live fuzzing of a running node (issue 12, "general defences"): two decent nodes with data planes
// in network namespaces; from a third namespace, mutated (from the captures in test/vectors) and
// random datagrams go to UDP 4341 and 4342 of node 1 at a fixed rate per port, with wrong-key
// head-end replicated Map-Registers among them, and malformed HTTP requests to its API, while
// node 1 pings node 2 through the overlay. Reports: node up, API median latency, worker
// restarts, handler exceptions, ping loss and RSS growth. Needs root.
//
//   node dist/scripts/fuzz-live.js [--seconds 180] [--rate 10000] [--http-rate 20] [--seed S] [--json]
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../src/api/client';
import { createTestbed, type Testbed } from '../src/testbed/bridge';
import { netnsAvailable } from '../src/testbed/netns';
import { positiveInt, scriptArgs } from './lib/args';
import type { SenderSpec } from './lib/fuzz-sender';

const USAGE = `usage: fuzz-live [--seconds N] [--rate R] [--http-rate H] [--senders K] [--seed S] [--json]
Starts two decent nodes in network namespaces and fuzzes node 1 for N seconds (default 180):
R datagrams/s (default 10000) each to UDP 4341 and 4342 (mutated captures, random bytes,
wrong-key HER registers) and H malformed HTTP requests/s (default 20) to its API, while node 1
pings node 2 through the overlay every 50 ms; K sender processes (default 2) share the rate. Prints the figures; exit 0 when the node stayed
up, its API answered and its control worker never restarted, 1 otherwise. Needs root.
`;

const REPO = path.resolve(__dirname, '../..');
const BIN = path.join(REPO, 'bin/decent');

export interface FuzzReport {
  readonly seconds: number;
  readonly sent: { 4341: number; 4342: number; her: number; sendErrors: number; skipped: number; http: number; httpAnswered: number; httpStatus: Record<string, number> };
  /** Datagrams per second the kernel took from the sender, per port (the lower of the two). */
  readonly ratePerPort: number;
  /** What node 1's sockets received: UDP 4341 (data plane) and 4342 (control worker) datagrams per second. */
  readonly received: { 4341: number; 4342: number };
  readonly nodeUp: boolean;
  readonly apiAnswered: number;
  readonly apiFailed: number;
  readonly apiMedianMs: number;
  readonly apiMaxMs: number;
  readonly workerRestarts: number;
  readonly handlerExceptions: number;
  readonly pingSent: number;
  readonly pingLost: number;
  readonly pingLossPercent: number;
  readonly rssStartMb: number;
  readonly rssEndMb: number;
  readonly rssGrowthMb: number;
  readonly dropped: Record<string, number>;
  readonly ok: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function api<T>(sock: string, p: string, timeoutMs = 5000): Promise<T> {
  try {
    return await apiRequest<T>(sock, 'GET', p, timeoutMs);
  } catch {
    // an idle keep-alive connection the server closed: once more on a fresh one
    return apiRequest<T>(sock, 'GET', p, timeoutMs);
  }
}

export async function fuzzLive(o: { seconds: number; rate: number; httpRate: number; seed: number; senders?: number; log?: (s: string) => void }): Promise<FuzzReport> {
  const log = o.log ?? ((): void => undefined);
  const bed: Testbed = createTestbed({ prefix: 'fzl', nodes: 2, subnet: '10.77.7', firstHost: 11 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-fuzz-live-'));
  const children: ChildProcess[] = [];
  let cleaningUp = false;
  try {
    const token = 'fuzz-live-token';
    fs.writeFileSync(path.join(dir, 'token'), token);
    const sock = (i: number): string => path.join(dir, `n${i}.sock`);
    const eid = (i: number): string => `172.16.${i}.1`;
    for (const n of bed.nodes) {
      const i = n.index + 1;
      const file = path.join(dir, `n${i}.yaml`);
      fs.writeFileSync(file, [
        `name: n${i}`, 'eids:', `  - ${eid(i)}/32`, 'rlocs:', '  interfaces: [eth0]', 'decent:', '  group: 224.9.9.9',
        `  seeds: [${bed.nodes[(n.index + 1) % 2].address}]`, 'auth:', '  key: fuzz-group-key', 'api:', `  socket: ${sock(i)}`,
        ...(i === 1 ? [`  http: ${n.address}:8080`, `  token-file: ${path.join(dir, 'token')}`] : []),
        'dataplane:', '  tun: dcnt0', 'log:', '  level: warn', '',
      ].join('\n'));
      const c = n.ns.spawn([process.execPath, BIN, 'run', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let tail = '';
      c.stderr?.on('data', (d: Buffer) => { tail = (tail + d.toString()).slice(-4000); });
      c.once('exit', (code, sig) => { if (!cleaningUp) log(`node ${i} exited (${code ?? sig}); last log:\n${tail}`); });
      children.push(c);
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      const sizes = await Promise.all([1, 2].map((i) => api<unknown[]>(sock(i), '/api/site-cache', 1000).then((r) => r.length, () => 0)));
      if (sizes.every((s) => s === 3)) break;
      if (Date.now() > deadline) throw new Error(`nodes did not converge: site cache sizes ${sizes.join(', ')}`);
      await sleep(100);
    }
    const n1 = bed.nodes[0].ns;
    // The overlay is encrypted by default: the first packets wait for the key exchange.
    for (const until = Date.now() + 20_000; ;) {
      try {
        n1.exec(['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', '-I', eid(1), eid(2)], { timeoutMs: 10_000 });
        break;
      } catch (e) {
        if (Date.now() > until) throw e;
        await sleep(250);
      }
    }
    const status0 = await api<{ pid: number; restarts: number }>(sock(1), '/api/status');
    const counters0 = await api<{ control: Record<string, number>; dataplane: Record<string, number> }>(sock(1), '/api/counters');
    const rssStart = rssMb(status0.pid);
    log(`converged; node 1 pid ${status0.pid}, RSS ${rssStart.toFixed(1)} MB; fuzzing for ${o.seconds} s at ${o.rate}/s per port`);

    // several sender processes share the rate (one Node process cannot send 20k datagrams/s on a busy machine)
    const nSenders = o.senders ?? 2;
    const outs: string[] = [];
    let senderErr = '';
    const senderDone = Promise.all(Array.from({ length: nSenders }, (_, k) => {
      const spec: SenderSpec = {
        target: bed.nodes[0].address, seconds: o.seconds, rate: Math.ceil(o.rate / nSenders), seed: o.seed + k,
        http: k === 0 ? `${bed.nodes[0].address}:8080` : undefined, httpRate: o.httpRate, vectors: path.join(REPO, 'test/vectors'),
      };
      const sender = bed.bridgeNs.spawn([process.execPath, path.join(REPO, 'dist/scripts/lib/fuzz-sender.js'), JSON.stringify(spec)]);
      outs[k] = '';
      sender.stdout?.on('data', (d: Buffer) => { outs[k] += d.toString(); });
      sender.stderr?.on('data', (d: Buffer) => { senderErr += d.toString(); });
      return new Promise<void>((r) => sender.once('exit', () => r()));
    }));

    const pingCount = o.seconds * 20;
    const ping = n1.spawn(['ping', '-n', '-c', String(pingCount), '-i', '0.05', '-W', '1', '-I', eid(1), eid(2)]);
    let pingOut = '';
    ping.stdout?.on('data', (d: Buffer) => { pingOut += d.toString(); });
    const pingDone = new Promise<void>((r) => ping.once('close', () => r()));

    const latencies: number[] = [];
    let apiFailed = 0;
    const probing = (async () => {
      const end = Date.now() + o.seconds * 1000;
      let last = Date.now();
      while (Date.now() < end) {
        const t0 = process.hrtime.bigint();
        const ok = await apiRequest(sock(1), 'GET', '/api/status', 5000).then(() => true, () => false);
        if (ok) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        else apiFailed++;
        if (Date.now() - last >= 30_000) {
          last = Date.now();
          log(`  ${Math.round((end - Date.now()) / 1000)} s left; API median ${median(latencies).toFixed(2)} ms, RSS ${rssMb(status0.pid).toFixed(1)} MB`);
        }
        await sleep(100);
      }
    })();
    await Promise.all([senderDone, pingDone, probing]);
    type Sent = FuzzReport['sent'] & { seconds: number };
    const parts = outs.map((x) => JSON.parse(x.trim().split('\n').pop() || 'null') as Sent | null);
    if (parts.some((p) => p === null)) throw new Error(`a sender failed: ${senderErr.slice(-2000)}`);
    const sent = (parts as Sent[]).reduce((a, b) => ({
      4341: a[4341] + b[4341], 4342: a[4342] + b[4342], her: a.her + b.her, sendErrors: a.sendErrors + b.sendErrors, skipped: a.skipped + b.skipped,
      http: a.http + b.http, httpAnswered: a.httpAnswered + b.httpAnswered, httpStatus: { ...b.httpStatus, ...a.httpStatus }, seconds: Math.max(a.seconds, b.seconds),
    }));

    const nodeUp = children[0].exitCode === null && children[0].signalCode === null;
    let status = { restarts: -1 }, control: Record<string, number> = {}, dataplane: Record<string, number> = {};
    try {
      status = await api<{ restarts: number }>(sock(1), '/api/status');
      ({ control, dataplane } = await api<{ control: Record<string, number>; dataplane: Record<string, number> }>(sock(1), '/api/counters'));
    } catch {
      /* reported as not up */
    }
    const rssEnd = nodeUp ? rssMb(status0.pid) : NaN;
    const pingSent = Number(/(\d+) packets transmitted/.exec(pingOut)?.[1] ?? 0);
    const pingReceived = Number(/(\d+) received/.exec(pingOut)?.[1] ?? 0);
    const dropped: Record<string, number> = {};
    for (const [k, v] of Object.entries({ ...control, ...dataplane })) if (v > 0 && /drop|reject|suppressed|failed|rate-limited/i.test(k)) dropped[k] = v;
    const report: FuzzReport = {
      seconds: sent.seconds, sent, ratePerPort: Math.round(Math.min(sent[4341], sent[4342]) / sent.seconds),
      received: {
        4341: Math.round(((dataplane['udp4.udpRecvDatagrams'] ?? 0) - (counters0.dataplane['udp4.udpRecvDatagrams'] ?? 0)) / sent.seconds),
        4342: Math.round(((control['control.datagrams'] ?? 0) - (counters0.control['control.datagrams'] ?? 0)) / sent.seconds),
      },
      nodeUp: nodeUp && status.restarts >= 0, apiAnswered: latencies.length, apiFailed,
      apiMedianMs: Number(median(latencies).toFixed(2)), apiMaxMs: Number(Math.max(0, ...latencies).toFixed(2)),
      workerRestarts: status.restarts, handlerExceptions: control['handler.exceptions'] ?? 0,
      pingSent, pingLost: pingSent - pingReceived, pingLossPercent: pingSent ? Number((100 * (pingSent - pingReceived) / pingSent).toFixed(2)) : 100,
      rssStartMb: Number(rssStart.toFixed(1)), rssEndMb: Number(rssEnd.toFixed(1)), rssGrowthMb: Number((rssEnd - rssStart).toFixed(1)),
      dropped, ok: false,
    };
    return { ...report, ok: report.nodeUp && report.workerRestarts === 0 && report.apiAnswered > 0 && report.apiFailed === 0 };
  } finally {
    cleaningUp = true;
    await Promise.all(children.map((c) => new Promise<void>((r) => {
      if (c.exitCode !== null || c.signalCode !== null) return r();
      c.once('exit', () => r());
      c.kill('SIGTERM');
      setTimeout(() => c.kill('SIGKILL'), 5000).unref();
    })));
    bed.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const args = scriptArgs(USAGE, {
    seconds: { type: 'string', default: '180' },
    rate: { type: 'string', default: '10000' },
    'http-rate': { type: 'string', default: '20' },
    senders: { type: 'string', default: '2' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000_007) },
    json: { type: 'boolean', default: false },
  });
  const root = netnsAvailable();
  if (!root.ok) {
    process.stderr.write(`fuzz-live: ${root.reason}\n`);
    process.exit(2);
  }
  const opts = {
    seconds: positiveInt('seconds', args.seconds), rate: positiveInt('rate', args.rate), httpRate: positiveInt('http-rate', args['http-rate']),
    seed: positiveInt('seed', args.seed), senders: positiveInt('senders', args.senders), log: (s: string) => process.stderr.write(`${s}\n`),
  };
  process.stderr.write(`fuzz-live: seed ${opts.seed}\n`);
  fuzzLive(opts).then((r) => {
    process.stdout.write(args.json ? `${JSON.stringify(r)}\n` : `${JSON.stringify(r, null, 2)}\n`);
    process.exitCode = r.ok ? 0 : 1;
  }, (e: Error) => {
    process.stderr.write(`fuzz-live: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  });
}
