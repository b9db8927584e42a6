// Two `decent run` processes on a bridge (src/testbed/bridge.ts) for the LISP-crypto end-to-end
// tests: push mode, one EID each on lo, the default `dataplane.encryption` unless `extra` config
// lines say otherwise; the API on a Unix socket per node. Everything is removed by stop().
import type { ExecutionContext } from 'ava';
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../../src/api/client';
import type { SiteCacheRow } from '../../src/control/protocol';
import { createTestbed, type Testbed } from '../../src/testbed/bridge';
import { run, TCP_RECEIVER } from '../../src/testbed/netns';

export const EIDS = ['10.0.0.1', '10.0.0.2'];
export const BIN = path.resolve(__dirname, '../../../bin/decent');

/** A TCP sender of `hex` repeated `count` times, in `chunks` writes `gapMs` apart; prints {bytes, sha256}. */
const SENDER = `const net=require('net'),c=require('crypto');
const b=Buffer.from(Buffer.from(process.argv[4],'hex').toString().repeat(+process.argv[5]));
const chunks=+process.argv[6],gap=+process.argv[7],step=Math.ceil(b.length/chunks);
const k=net.connect({port:+process.argv[2],host:process.argv[1],localAddress:process.argv[3]},()=>{
let i=0;const next=()=>{if(i>=b.length){k.end(()=>console.log(JSON.stringify({bytes:b.length,sha256:c.createHash('sha256').update(b).digest('hex')})));return;}
k.write(b.subarray(i,i+step));i+=step;setTimeout(next,gap);};next();});`;

export interface CryptoNodes {
  readonly bed: Testbed;
  readonly dir: string;
  sock(i: number): string;
  get<T>(i: number, p: string): Promise<T>;
  /** The last lines of both nodes' logs after `what`, for a failure message. */
  failWith(what: string): string;
  /** One ping from node `from`'s EID to node `to`'s, `size` bytes of `pattern` (hex); true when answered. */
  ping(from: number, to: number, waitS: number, pattern: string): boolean;
  /** TCP from node 0's EID to node 1's: `hex` × `count` bytes in `chunks` writes `gapMs` apart. */
  transfer(port: number, hex: string, count: number, chunks?: number, gapMs?: number): Promise<{ sent: Digest; received: Digest }>;
  /** Both site caches hold both EIDs (false after 20 s). */
  converged(): Promise<boolean>;
  /** Stops the nodes (SIGTERM, then SIGKILL) and anything in `also`. */
  stopNodes(also?: ChildProcess[]): Promise<void>;
}

export interface Digest { bytes: number; sha256: string }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function stopAll(list: ChildProcess[]): Promise<void> {
  await Promise.all(list.map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.kill('SIGTERM');
    setTimeout(() => { c.kill('SIGKILL'); resolve(); }, 5000).unref();
  })));
}

function config(i: number, dir: string, seed: string, extra: readonly string[]): string {
  return [
    `name: n${i + 1}`, 'eids:', `  - ${EIDS[i]}/32`, 'rlocs:', '  interfaces: [eth0]',
    'decent:', '  group: 224.1.1.1', `  seeds: [${seed}]`, 'auth:', '  key: decent-password',
    'timers:', '  register-interval: 10s', '  registration-ttl: 30s',
    'dataplane:', '  tun: decent0', 'api:', `  socket: ${path.join(dir, `n${i + 1}.sock`)}`, ...extra, '',
  ].join('\n');
}

/** `beforeStart` runs once the bed exists and before the nodes start (e.g. a capture). */
export async function startCryptoNodes(t: ExecutionContext, subnet: string, extra: readonly string[] = [], beforeStart?: (bed: Testbed, dir: string) => Promise<void>): Promise<CryptoNodes> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-crypto-node-'));
  const bed = createTestbed({ prefix: 'cry', nodes: 2, subnet, firstHost: 5 });
  const children: ChildProcess[] = [];
  t.teardown(async () => {
    await stopAll(children);
    bed.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await beforeStart?.(bed, dir);
  const logs: string[] = ['', ''];
  const nodes = bed.nodes;
  for (const n of nodes) {
    const file = path.join(dir, `n${n.index + 1}.yaml`);
    fs.writeFileSync(file, config(n.index, dir, nodes[1 - n.index].address, extra));
    n.ns.ip(['addr', 'add', `${EIDS[n.index]}/32`, 'dev', 'lo']);
    const child = n.ns.spawn([process.execPath, BIN, 'run', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => { logs[n.index] = (logs[n.index] + d.toString()).slice(-4000); });
    children.push(child);
  }
  const sock = (i: number): string => path.join(dir, `n${i + 1}.sock`);
  const get = <T>(i: number, p: string): Promise<T> => apiRequest<T>(sock(i), 'GET', p, 2000);
  return {
    bed, dir, sock, get,
    failWith: (what) => `${what}\nn1: ${logs[0].slice(-1500)}\nn2: ${logs[1].slice(-1500)}`,
    ping: (from, to, waitS, pattern) => spawnSync('ip', ['netns', 'exec', nodes[from].ns.name, 'ping', '-n', '-c', '1', '-W', String(waitS), '-s', '1000',
      '-p', pattern, '-I', EIDS[from], EIDS[to]]).status === 0,
    async transfer(port, hex, count, chunks = 1, gapMs = 0) {
      let ready!: () => void;
      const listening = new Promise<void>((r) => { ready = r; });
      const rx = run(nodes[1].ns, [process.execPath, '-e', TCP_RECEIVER, EIDS[1], String(port)], (l) => { if (l === 'listening') ready(); });
      await Promise.race([listening, rx.done]);
      const tx = run(nodes[0].ns, [process.execPath, '-e', SENDER, EIDS[1], String(port), EIDS[0], hex, String(count), String(chunks), String(gapMs)]);
      const [sent, received] = (await Promise.all([tx.done, rx.done])).map((o) => JSON.parse(o.trim().split('\n').pop() ?? '{}') as Digest);
      return { sent, received };
    },
    async converged() {
      const by = Date.now() + 20_000;
      for (;;) {
        const done = await Promise.all([0, 1].map((i) => get<SiteCacheRow[]>(i, '/api/site-cache')
          .then((rows) => EIDS.every((e) => rows.some((r) => r.eid === `[0]${e}/32`)), () => false)));
        if (done.every(Boolean)) return true;
        if (Date.now() > by) return false;
        await sleep(100);
      }
    },
    stopNodes: (also = []) => stopAll([...children, ...also]),
  };
}
