// Two or more `decent run` nodes with a data plane in a bridge testbed, each with a host EID
// (172.16.i.1/32) on its TUN, for tests that ping through the overlay. Removed in teardown.
import type { ExecutionContext } from 'ava';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../../src/api/client';
import { createTestbed, type Testbed } from '../../src/testbed/bridge';
import { DECENT_BIN, stopChildren } from './nodes';

export interface Overlay {
  readonly bed: Testbed;
  readonly dir: string;
  sock(i: number): string;
  eid(i: number): string;
  child(i: number): ChildProcess;
  /** Everything node i wrote on stderr so far. */
  stderr(i: number): string;
}

export async function startOverlay(t: ExecutionContext, o: { prefix: string; subnet: string; count?: number; env?: NodeJS.ProcessEnv; extra?: (i: number) => string[] }): Promise<Overlay> {
  const count = o.count ?? 2;
  const bed = createTestbed({ prefix: o.prefix, nodes: count, subnet: o.subnet, firstHost: 11 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `decent-${o.prefix}-`));
  const children: ChildProcess[] = [];
  const errs: string[] = [];
  t.teardown(async () => {
    await stopChildren(children);
    bed.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const sock = (i: number): string => path.join(dir, `n${i}.sock`);
  const eid = (i: number): string => `172.16.${i}.1`;
  for (const n of bed.nodes) {
    const i = n.index + 1;
    fs.writeFileSync(path.join(dir, `n${i}.yaml`), [
      `name: n${i}`, 'eids:', `  - ${eid(i)}/32`, 'rlocs:', '  interfaces: [eth0]', 'decent:', '  group: 224.9.9.9',
      `  seeds: [${bed.nodes[(n.index + 1) % count].address}]`, 'auth:', '  key: k', 'api:', `  socket: ${sock(i)}`,
      'dataplane:', '  tun: dcnt0', ...(o.extra?.(i) ?? []), '',
    ].join('\n'));
    errs[i - 1] = '';
    const c = n.ns.spawn([process.execPath, DECENT_BIN, 'run', '--config', path.join(dir, `n${i}.yaml`)], { env: { ...process.env, ...o.env } });
    c.stderr?.on('data', (d: Buffer) => { if (errs[i - 1].length < 1 << 20) errs[i - 1] += d.toString(); });
    children[i - 1] = c;
  }
  const want = count + 1;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const sizes = await Promise.all(bed.nodes.map((n) => apiRequest<unknown[]>(sock(n.index + 1), 'GET', '/api/site-cache', 1000).then((r) => r.length, () => 0)));
    if (sizes.every((s) => s === want)) break;
    if (Date.now() > deadline) throw new Error(`overlay did not converge: site cache sizes ${sizes.join(', ')}, want ${want}\n${errs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { bed, dir, sock, eid, child: (i) => children[i - 1], stderr: (i) => errs[i - 1] };
}

/** Pings dst from src through the overlay; resolves with the icmp_seq numbers answered and the count sent. */
export function pingSeries(ns: { spawn(argv: string[]): ChildProcess }, src: string, dst: string, count: number, intervalS: number): Promise<{ sent: number; answered: Set<number> }> {
  const p = ns.spawn(['ping', '-n', '-c', String(count), '-i', String(intervalS), '-W', '1', '-I', src, dst]);
  let out = '';
  p.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  // 'close': the output is complete only once the pipe is (at 'exit' the last lines may be in it)
  return new Promise((resolve) => p.once('close', () => {
    const answered = new Set<number>();
    for (const m of out.matchAll(/icmp_seq=(\d+)/g)) answered.add(Number(m[1]));
    const sent = Number(/(\d+) packets transmitted/.exec(out)?.[1] ?? 0);
    resolve({ sent, answered });
  }));
}
