// The local API's request handling, on both listeners (TCP with a token, and the unix socket):
// no request, however malformed, throws out of a handler or takes the process down.
import test from 'ava';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiServer, type ApiRoutes } from '../src/api/server';
import { ControlPlaneError, LigTimeoutError, fromWireError } from '../src/control/errors';

const ROUTES: ApiRoutes = {
  get: { '/api/status': () => ({ ok: true }) },
  post: { '/api/map-cache/clear': () => ({ ok: true }) },
};

async function startServer(t: import('ava').ExecutionContext, routes: ApiRoutes = ROUTES): Promise<{ server: ApiServer; tcp: net.NetConnectOpts; unix: net.NetConnectOpts }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-api-'));
  const socket = path.join(dir, 'api.sock');
  const port = await freePort();
  const server = new ApiServer(routes, { socket, http: `127.0.0.1:${port}`, token: 'sesame' });
  await server.start();
  t.teardown(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { server, tcp: { host: '127.0.0.1', port }, unix: { path: socket } };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    }).on('error', reject);
  });
}

/** Sends raw bytes and returns everything the server answers until it closes (or 2 s pass). */
function raw(to: net.NetConnectOpts, text: string | Buffer, keepOpenMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(to);
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(e)));
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.setTimeout(2000 + keepOpenMs, () => s.destroy());
    s.write(text);
    if (keepOpenMs === 0) s.end();
  });
}

const status = (answer: string): number => Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1] ?? 0);
const AUTH = 'authorization: Bearer sesame\r\n';

for (const listener of ['tcp', 'unix'] as const) {
  test(`${listener}: an absolute URL that does not parse is a 400, and the server goes on`, async (t) => {
    const api = await startServer(t);
    const to = api[listener];
    const bad = await raw(to, `GET http://[/ HTTP/1.1\r\nhost: x\r\n${AUTH}\r\n`);
    t.is(status(bad), 400, bad);
    t.regex(bad, /bad request/i);
    const good = await raw(to, `GET /api/status HTTP/1.1\r\nhost: x\r\n${AUTH}connection: close\r\n\r\n`);
    t.is(status(good), 200, good);
    t.true(api.server.counters()['api.rejected.bad-request'] >= 1);
  });

  test(`${listener}: a body over the bound is a 413 and counted`, async (t) => {
    const api = await startServer(t);
    const body = 'x'.repeat(200_000);
    const answer = await raw(api[listener], `POST /api/map-cache/clear HTTP/1.1\r\nhost: x\r\n${AUTH}content-length: ${body.length}\r\n\r\n${body}`);
    t.is(status(answer), 413, answer);
    t.is(api.server.counters()['api.rejected.too-large'], 1);
  });

  test(`${listener}: garbage that is not HTTP is answered 400 and counted`, async (t) => {
    const api = await startServer(t);
    const answer = await raw(api[listener], Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]));
    t.is(status(answer), 400, answer);
    t.is(api.server.counters()['api.rejected.malformed'], 1);
  });
}

test('a handler that throws synchronously or rejects is an answer, not a crash', async (t) => {
  const api = await startServer(t, {
    get: {
      '/api/throws': () => {
        throw new TypeError('boom');
      },
      '/api/timeout': () => Promise.reject(new LigTimeoutError('no Map-Reply from 10.0.0.1 within 100 ms')),
      '/api/starting': () => Promise.reject(new ControlPlaneError('CONTROL_STARTING', 'control plane is starting')),
      '/api/eid': () => Promise.reject(fromWireError({ name: 'EidError', code: 'CONTROL_ERROR', message: 'not an EID' })),
    },
    post: {},
  });
  const get = (p: string): Promise<string> => raw(api.unix, `GET ${p} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
  const thrown = await get('/api/throws');
  t.is(status(thrown), 500, thrown);
  t.regex(thrown, /boom/);
  const timeout = await get('/api/timeout');
  t.is(status(timeout), 504, timeout);
  t.regex(timeout, /no Map-Reply from 10\.0\.0\.1 within 100 ms/);
  t.is(status(await get('/api/starting')), 503);
  t.is(status(await get('/api/eid')), 400);
});

test('tcp: without the token a request is a 401 and counted; the page itself needs none', async (t) => {
  const api = await startServer(t);
  t.is(status(await raw(api.tcp, 'GET /api/status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')), 401);
  t.is(status(await raw(api.tcp, 'GET /api/status HTTP/1.1\r\nhost: x\r\nauthorization: Bearer sesamf\r\nconnection: close\r\n\r\n')), 401);
  t.is(api.server.counters()['api.rejected.unauthorized'], 2);
  t.is(status(await raw(api.tcp, 'GET /nope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')), 401);
});

test('a client that never finishes its headers is cut off after the header timeout', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-api-'));
  const socket = path.join(dir, 'api.sock');
  const server = new ApiServer(ROUTES, { socket, headersTimeoutMs: 300 });
  await server.start();
  t.teardown(async () => {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const started = Date.now();
  const answer = await raw({ path: socket }, 'GET /api/status HTTP/1.1\r\nhost: x\r\n', 5000);
  t.true(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
  t.is(status(answer), 408, answer);
  t.is(server.counters()['api.rejected.timeout'], 1);
});
