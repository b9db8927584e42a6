// Network namespace testbeds for tests and benchmarks (ip-netns(8), veth(4)).
//
//   const bed = createPair({ prefix: 'dnt' });   // two namespaces joined by a veth pair
//   ... bed.a.exec(['ping', '-c1', bed.b.address]) ...
//   bed.destroy();                               // idempotent; also runs on process exit
//
// Names are unique per process and call (prefix + pid + counter, kept within the 15-byte
// interface limit), so parallel test files and other engineers' runs never collide.
// Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2.
import { execFileSync, spawn, ChildProcess, SpawnOptions } from 'node:child_process';

let counter = 0;
const live = new Set<() => void>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => { for (const f of [...live]) f(); });
}

export function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A short unique name: prefix (<= 5 chars) + pid in base 36 + counter. */
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix.slice(0, 5)}${process.pid.toString(36)}${counter.toString(36)}`.slice(0, 15);
}

/** True when we can create namespaces (root with iproute2). */
export function netnsAvailable(): { ok: boolean; reason: string } {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { ok: false, reason: 'needs root for ip netns' };
  try {
    ip(['-V']);
  } catch {
    return { ok: false, reason: 'iproute2 (ip) is not installed' };
  }
  return { ok: true, reason: '' };
}

export class Netns {
  private alive = true;
  private readonly remover = (): void => this.destroy();

  constructor(readonly name: string) {
    ip(['netns', 'add', name]);
    live.add(this.remover);
    hookExit();
    this.ip(['link', 'set', 'lo', 'up']);
  }

  /** Path for setns(2) / the addon's netns option. */
  get path(): string {
    return `/var/run/netns/${this.name}`;
  }

  ip(args: string[]): string {
    return ip(['-n', this.name, ...args]);
  }

  /** Run a command to completion inside the namespace; returns stdout. */
  exec(argv: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): string {
    return execFileSync('ip', ['netns', 'exec', this.name, ...argv], {
      encoding: 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 60_000, stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** Start a process inside the namespace. */
  spawn(argv: string[], opts: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  }

  /** Interface names present in the namespace. */
  links(): string[] {
    const out = this.ip(['-o', 'link', 'show']);
    return out.split('\n').filter(Boolean).map((l) => l.split(':')[1].trim().split('@')[0]);
  }

  destroy(): void {
    if (!this.alive) return;
    this.alive = false;
    live.delete(this.remover);
    try { ip(['netns', 'del', this.name]); } catch { /* already gone */ }
  }
}

export interface Pair {
  a: Netns;
  b: Netns;
  /** veth ends: a.veth in namespace a, b.veth in namespace b. */
  vethA: string;
  vethB: string;
  addrA: string;
  addrB: string;
  /** Optional IPv6 underlay addresses (when `ipv6` was asked for). */
  addr6A?: string;
  addr6B?: string;
  destroy(): void;
}

export interface PairOptions {
  prefix?: string;
  /** Underlay /24, e.g. "10.201.7" -> .1 and .2 (default: derived from pid). */
  subnet?: string;
  mtu?: number;
  ipv6?: boolean;
}

/** Two namespaces joined by a veth pair with addresses on both ends, links up. */
export function createPair(opts: PairOptions = {}): Pair {
  const prefix = opts.prefix ?? 'dn';
  const a = new Netns(uniqueName(prefix + 'a'));
  let b: Netns | undefined;
  try {
    b = new Netns(uniqueName(prefix + 'b'));
    const vethA = uniqueName('va'), vethB = uniqueName('vb');
    ip(['link', 'add', vethA, 'netns', a.name, 'type', 'veth', 'peer', 'name', vethB, 'netns', b.name]);
    const subnet = opts.subnet ?? '10.250.0';
    const addrA = `${subnet}.1`, addrB = `${subnet}.2`;
    a.ip(['addr', 'add', `${addrA}/24`, 'dev', vethA]);
    b.ip(['addr', 'add', `${addrB}/24`, 'dev', vethB]);
    let addr6A: string | undefined, addr6B: string | undefined;
    if (opts.ipv6) {
      addr6A = 'fd00:250::1';
      addr6B = 'fd00:250::2';
      a.ip(['addr', 'add', `${addr6A}/64`, 'dev', vethA, 'nodad']);
      b.ip(['addr', 'add', `${addr6B}/64`, 'dev', vethB, 'nodad']);
    }
    const mtu = String(opts.mtu ?? 1500);
    a.ip(['link', 'set', vethA, 'mtu', mtu, 'up']);
    b.ip(['link', 'set', vethB, 'mtu', mtu, 'up']);
    const bb = b;
    return { a, b: bb, vethA, vethB, addrA, addrB, addr6A, addr6B, destroy: () => { a.destroy(); bb.destroy(); } };
  } catch (e) {
    a.destroy();
    b?.destroy();
    throw e;
  }
}

/** Run `argv` in a namespace and collect stdout; rejects with stderr on a non-zero exit. */
export function run(ns: Netns, argv: string[], onLine?: (line: string) => void): { done: Promise<string>; child: ChildProcess } {
  const child = ns.spawn(argv);
  const done = new Promise<string>((resolve, reject) => {
    let out = '', err = '', partial = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      partial += d.toString();
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        onLine?.(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
    });
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    // 'close', not 'exit': a child's stdout can still hold its last line when it exits, and a
    // transfer whose JSON result line had not arrived failed with "Unexpected end of JSON input".
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${argv.join(' ')} in ${ns.name} exited with ${code ?? signal}: ${err.trim()}`));
    });
  });
  return { done, child };
}

// A TCP receiver that hashes what it gets and a sender of random bytes that hashes what it
// sends: the two SHA-256 sums must be equal for a byte-identical transfer.
/**
 * `node -e TCP_RECEIVER ADDRESS PORT`: prints 'listening', then {bytes, sha256} of the first
 * connection's data when it ends (the tests' senders print the same for what they sent).
 */
export const TCP_RECEIVER = `const net=require('net'),c=require('crypto');
const s=net.createServer((k)=>{const h=c.createHash('sha256');let n=0;
k.on('data',(d)=>{h.update(d);n+=d.length;});
k.on('end',()=>{console.log(JSON.stringify({bytes:n,sha256:h.digest('hex')}));s.close();});});
s.listen(+process.argv[2],process.argv[1],()=>console.log('listening'));`;
// argv: host port bytes [localAddress] [hexPattern]: random bytes, or the pattern repeated.
const SENDER = `const net=require('net'),c=require('crypto');const N=+process.argv[3];const h=c.createHash('sha256');let sent=0;
const p=process.argv[5]?Buffer.from(process.argv[5],'hex'):null;const chunk=p?Buffer.alloc(p.length*Math.max(1,Math.floor(65536/p.length)),p):null;
const k=net.connect({port:+process.argv[2],host:process.argv[1],localAddress:process.argv[4]||undefined},()=>{const t0=process.hrtime.bigint();
const w=()=>{while(sent<N){const n=Math.min(chunk?chunk.length:65536,N-sent);const b=chunk?chunk.subarray(0,n):c.randomBytes(n);h.update(b);sent+=b.length;if(!k.write(b)){k.once('drain',w);return;}}
k.end(()=>console.log(JSON.stringify({bytes:sent,sha256:h.digest('hex'),ms:Number(process.hrtime.bigint()-t0)/1e6})));};w();});`;

export interface TransferResult {
  sent: { bytes: number; sha256: string; ms: number };
  received: { bytes: number; sha256: string };
}

export interface TransferOptions {
  /** Bind the sender here (an EID on the namespace's loopback, so the flow takes the overlay). */
  readonly localAddress?: string;
  /** Send this pattern repeated instead of random bytes (a capture can then look for it). */
  readonly pattern?: Buffer;
}

/** Send `bytes` bytes over TCP from namespace `from` to `toAddr`:`port` in namespace `to`. */
export async function tcpTransfer(from: Netns, to: Netns, toAddr: string, port: number, bytes: number, o: TransferOptions = {}): Promise<TransferResult> {
  let listening!: () => void;
  const ready = new Promise<void>((r) => { listening = r; });
  const rx = run(to, [process.execPath, '-e', TCP_RECEIVER, toAddr, String(port)], (l) => { if (l === 'listening') listening(); });
  await Promise.race([ready, rx.done]);
  const tx = run(from, [process.execPath, '-e', SENDER, toAddr, String(port), String(bytes), o.localAddress ?? '', o.pattern?.toString('hex') ?? '']);
  try {
    const [s, r] = await Promise.all([tx.done, rx.done]);
    const last = (t: string): string => t.trim().split('\n').pop() ?? '';
    return { sent: JSON.parse(last(s)) as TransferResult['sent'], received: JSON.parse(last(r)) as TransferResult['received'] };
  } finally {
    tx.child.kill();
    rx.child.kill();
  }
}
