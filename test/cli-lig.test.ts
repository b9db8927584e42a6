// `decent lig` against a stub of the node's API: what it prints for negative Map-Replies.
import test from 'ava';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { lookupSummary } from '../src/api/routes';
import { main } from '../src/cli/main';
import { parseEid } from '../src/mapping/eid';
import type { EidRecord } from '../src/wire';

/** A node API on a unix socket that answers every lookup with the given records, summarised as the node does. */
async function stubNode(t: { teardown(fn: () => Promise<void> | void): void }, records: EidRecord[], mapCache: unknown[] = []): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-lig-'));
  const sock = path.join(dir, 'n.sock');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    const asked = parseEid(url.searchParams.get('eid') ?? '0.0.0.0/0');
    const body = url.pathname === '/api/lookup'
      ? { from: '192.0.2.9', rttMs: 1.5, resolver: '192.0.2.9', unanswered: [], totalMs: 2, reply: { type: 'map-reply', nonce: '0x1', records }, summary: records.map((r) => lookupSummary(r, asked)) }
      : mapCache;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.teardown(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return sock;
}

async function decent(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => { out += s; }, err: (s) => { err += s; } });
  return { code, out, err };
}

const negative = (ip: string, len: number, action: number): EidRecord => ({
  eid: { kind: 'ipv4', ip }, eidMaskLen: len, action, ttl: 1, authoritative: false, mapVersion: 0, locators: [],
});

test('lig warns when a negative Map-Reply does not cover the EID asked for (OOR answered 10.9.9.9 with 11.8.0.0/13)', async (t) => {
  const sock = await stubNode(t, [negative('11.8.0.0', 13, 1)]);
  const r = await decent(['lig', '10.9.9.9', '--socket', sock]);
  t.is(r.code, 0);
  t.regex(r.out, /11\.8\.0\.0\/13 {2}negative, natively-forward, TTL 1 min/);
  t.regex(r.err, /warning: the negative prefix 11\.8\.0\.0\/13 does not cover 10\.9\.9\.9\/32/);
});

test('lig prints actions by name (RFC 9301 §5.4) and does not warn about a covering prefix', async (t) => {
  const names: [number, string][] = [[0, 'no-action'], [1, 'natively-forward'], [2, 'send-map-request'], [3, 'drop'], [4, 'drop/policy-denied'], [5, 'drop/auth-failure'], [7, 'action 7']];
  for (const [action, name] of names) {
    const sock = await stubNode(t, [negative('10.8.0.0', 13, action)]);
    const r = await decent(['lig', '10.9.9.9', '--socket', sock]);
    t.is(r.code, 0);
    t.true(r.out.includes(`10.8.0.0/13  negative, ${name}, TTL 1 min\n`), r.out);
    t.is(r.err, '', 'a covering prefix is no surprise');
  }
  // A prefix asked for is covered by a shorter negative prefix, not by a longer one.
  t.is((await decent(['lig', '10.9.0.0/16', '--socket', await stubNode(t, [negative('10.0.0.0', 8, 1)])])).err, '');
  t.regex((await decent(['lig', '10.9.0.0/16', '--socket', await stubNode(t, [negative('10.9.9.0', 24, 1)])])).err, /does not cover 10\.9\.0\.0\/16/);
});

test('show map-cache names the action of negative entries', async (t) => {
  const sock = await stubNode(t, [], [{
    key: '[0]10.8.0.0/13', negative: true, action: 1, rlocs: [], expiresAt: Date.now() + 60_000, createdAt: Date.now(), packets: 0, source: 'reply',
  }]);
  const r = await decent(['show', 'map-cache', '--socket', sock]);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /\[0\]10\.8\.0\.0\/13 +- +negative \(natively-forward\)/);
});
