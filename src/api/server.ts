// The node's local API: JSON over HTTP on a unix socket (for the CLI), optionally on TCP with a
// bearer token (for scripts and the web UI). Whatever arrives, however malformed, is answered
// with a status (or the connection is closed) and counted; nothing throws out of a handler.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import * as path from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { ApiError, errorAnswer } from './errors';
import { toJson } from './json';

export { ApiError };

export type Handler = (query: URLSearchParams) => Promise<unknown> | unknown;

export interface ApiRoutes {
  readonly get: Readonly<Record<string, Handler>>;
  readonly post: Readonly<Record<string, Handler>>;
}

/** A non-JSON answer (the web UI page, Prometheus text). */
export class RawResponse {
  constructor(readonly contentType: string, readonly body: string) {}
}

export interface ApiServerOptions {
  readonly socket?: string;
  readonly http?: string;
  readonly token?: string;
  /** Largest request body read (no endpoint takes one today); more is a 413. */
  readonly maxBodyBytes?: number;
  /** Time a client has to send its request headers (a 408 after). */
  readonly headersTimeoutMs?: number;
  /** Time a client has to send its whole request. */
  readonly requestTimeoutMs?: number;
  /** Open connections per listener; further ones are closed at once. */
  readonly maxConnections?: number;
}

export const API_LIMITS = { maxBodyBytes: 64 * 1024, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxConnections: 64 } as const;

/** Names of the server's counters (`GET /api/counters` → `api`). */
export const API_COUNTER_NAMES = [
  'api.requests', 'api.errors', 'api.rejected.bad-request', 'api.rejected.malformed', 'api.rejected.too-large',
  'api.rejected.timeout', 'api.rejected.unauthorized', 'api.rejected.not-found', 'api.rejected.connections',
] as const;
type ApiCounter = (typeof API_COUNTER_NAMES)[number];

const STATUS_TEXT: Readonly<Record<number, string>> = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Content Too Large', 431: 'Request Header Fields Too Large' };

export class ApiServer {
  private readonly servers: http.Server[] = [];
  private readonly counts = new Map<ApiCounter, number>(API_COUNTER_NAMES.map((n) => [n, 0]));
  private readonly limits: Required<Pick<ApiServerOptions, 'maxBodyBytes' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'maxConnections'>>;

  constructor(private readonly routes: ApiRoutes, private readonly opts: ApiServerOptions) {
    this.limits = {
      maxBodyBytes: opts.maxBodyBytes ?? API_LIMITS.maxBodyBytes,
      headersTimeoutMs: opts.headersTimeoutMs ?? API_LIMITS.headersTimeoutMs,
      requestTimeoutMs: opts.requestTimeoutMs ?? Math.max(opts.headersTimeoutMs ?? 0, API_LIMITS.requestTimeoutMs),
      maxConnections: opts.maxConnections ?? API_LIMITS.maxConnections,
    };
  }

  counters(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  private count(name: ApiCounter): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  private handler(requireToken: boolean): http.RequestListener {
    return (req, res) => {
      try {
        this.handle(requireToken, req, res);
      } catch (e) {
        this.count('api.errors');
        if (!res.headersSent) sendJson(res, 500, { error: errorAnswer(e).message });
        else res.destroy();
      }
    };
  }

  private handle(requireToken: boolean, req: http.IncomingMessage, res: http.ServerResponse): void {
    this.count('api.requests');
    const reject = (counter: ApiCounter, status: number, error: string): void => {
      this.count(counter);
      // The rest of the request is not read: close once the answer is out.
      res.setHeader('connection', 'close');
      sendJson(res, status, { error });
    };
    let url: URL;
    try {
      // An absolute-form request line (`GET http://host/path`) is legal HTTP; one that does not
      // parse as a URL is the client's error.
      url = new URL(req.url ?? '/', 'http://decent');
    } catch {
      return reject('api.rejected.bad-request', 400, `bad request: cannot parse the request target '${(req.url ?? '').slice(0, 100)}'`);
    }
    // The page itself holds no data; everything it shows comes from token-checked endpoints.
    const isPage = req.method === 'GET' && (url.pathname === '/' || url.pathname === '/ui');
    if (requireToken && this.opts.token && !isPage) {
      const given = Buffer.from((req.headers.authorization ?? '').replace(/^Bearer\s+/i, ''));
      const want = Buffer.from(this.opts.token);
      if (given.length !== want.length || !timingSafeEqual(given, want)) return reject('api.rejected.unauthorized', 401, 'missing or wrong access token');
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.limits.maxBodyBytes) return reject('api.rejected.too-large', 413, `request body over ${this.limits.maxBodyBytes} bytes`);
    const table = req.method === 'POST' ? this.routes.post : req.method === 'GET' ? this.routes.get : undefined;
    const route = table && Object.hasOwn(table, url.pathname) ? table[url.pathname] : undefined;
    if (!route) return reject('api.rejected.not-found', 404, `no such endpoint: ${req.method} ${url.pathname}`);
    // No endpoint reads a body, but a chunked one is drained (within the bound) before answering.
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > this.limits.maxBodyBytes && !tooLarge) {
        tooLarge = true;
        reject('api.rejected.too-large', 413, `request body over ${this.limits.maxBodyBytes} bytes`);
      }
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (tooLarge) return;
      Promise.resolve()
        .then(() => route(url.searchParams))
        .then((body) => {
          if (body instanceof RawResponse) {
            res.writeHead(200, { 'content-type': body.contentType, 'cache-control': 'no-store' });
            res.end(body.body);
          } else {
            sendJson(res, 200, body);
          }
        })
        .catch((e: unknown) => {
          const { status, message } = errorAnswer(e);
          if (status >= 500) this.count('api.errors');
          if (!res.headersSent) sendJson(res, status, { error: message });
          else res.destroy();
        });
    });
  }

  /** Malformed HTTP, oversized headers and slow clients, seen by the parser before any handler. */
  private clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    let status: number;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      this.count('api.rejected.timeout');
      status = 408;
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      this.count('api.rejected.too-large');
      status = 431;
    } else if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    } else {
      this.count('api.rejected.malformed');
      status = 400;
    }
    const body = `${toJson({ error: `${STATUS_TEXT[status]}: ${err.code ?? err.message}` })}\n`;
    socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  }

  private createServer(requireToken: boolean): http.Server {
    const s = http.createServer({
      headersTimeout: this.limits.headersTimeoutMs,
      requestTimeout: this.limits.requestTimeoutMs,
      // How often the two timeouts above are checked (Node's default is every 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, this.limits.headersTimeoutMs / 4)),
    }, this.handler(requireToken));
    s.maxConnections = this.limits.maxConnections;
    s.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.clientError(err, socket));
    s.on('drop', () => this.count('api.rejected.connections'));
    return s;
  }

  async start(): Promise<void> {
    if (this.opts.socket) {
      const sock = this.opts.socket;
      fs.mkdirSync(path.dirname(sock), { recursive: true });
      // A socket file left by a killed node would make listen() fail with EADDRINUSE.
      try {
        fs.unlinkSync(sock);
      } catch {
        /* not there */
      }
      const s = this.createServer(false);
      await new Promise<void>((resolve, reject) => s.once('error', reject).listen(sock, () => resolve()));
      fs.chmodSync(sock, 0o660);
      this.servers.push(s);
    }
    if (this.opts.http) {
      const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(this.opts.http);
      if (!m) throw new Error(`bad api.http address ${this.opts.http}`);
      const s = this.createServer(true);
      await new Promise<void>((resolve, reject) => s.once('error', reject).listen(Number(m[2]), m[1], () => resolve()));
      this.servers.push(s);
    }
  }

  async stop(): Promise<void> {
    for (const s of this.servers) s.closeAllConnections();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    if (this.opts.socket) {
      try {
        fs.unlinkSync(this.opts.socket);
      } catch {
        /* already gone */
      }
    }
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${toJson(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}
