import test from 'ava';
import * as path from 'node:path';
import { Netns, netnsAvailable, uniqueName } from '../scripts/lib/netns';
import * as ex from './fixtures/spec-examples';

const root = netnsAvailable();
const bin = path.resolve(__dirname, '../../bin/decent');

test('decent trace decodes live LISP traffic captured with libpcap (cap)', async (t) => {
  if (!root.ok) {
    t.log(`skipped: ${root.reason}`);
    t.pass();
    return;
  }
  const ns = new Netns(uniqueName('trc'));
  t.teardown(() => ns.destroy());
  const trace = ns.spawn([process.execPath, bin, 'trace', '-i', 'lo', '-n', '2', '--json', '--key', 'test', '--duration', '20']);
  let out = '';
  let err = '';
  trace.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  trace.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((r) => trace.once('close', (code) => r(code)));
  // Keep sending until the capture has started and seen two datagrams.
  const sender = `const s=require('dgram').createSocket('udp4');const m=[${JSON.stringify(ex.ex14_8)},${JSON.stringify(ex.ex14_1)}];let i=0;
    setInterval(()=>s.send(Buffer.from(m[i++%2],'hex'),4342,'127.0.0.1'),100);setTimeout(()=>process.exit(0),15000);`;
  const send = ns.spawn([process.execPath, '-e', sender]);
  t.teardown(() => { send.kill(); trace.kill(); });
  const code = await exited;
  send.kill();
  t.is(code, 0, err);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; auth?: string; dport: number });
  t.is(lines.length, 2);
  t.true(lines.every((l) => l.dport === 4342));
  const types = new Set(lines.map((l) => l.type));
  t.true(types.has('map-request') || types.has('map-register'));
  for (const l of lines) if (l.type === 'map-register') t.is(l.auth, 'ok');
});

test('decent trace rejects a bad count with exit 2', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, [bin, 'trace', '-n', 'lots'], { encoding: 'utf8' });
  t.is(r.status, 2);
  t.regex(r.stderr, /--count takes a positive whole number, got 'lots'/);
});
