// The node's local API: JSON over HTTP on a unix socket (for the CLI), optionally on TCP with a
// bearer token (for scripts and the web UI).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { toJson } from './json';

export type Handler = (query: URLSearchParams) => Promise<unknown> | unknown;

export interface ApiRoutes {
  readonly get: Readonly<Record<string, Handler>>;
  readonly post: Readonly<Record<string, Handler>>;
}

/** A non-JSON answer (the web UI page, Prometheus text). */
export class RawResponse {
  constructor(readonly contentType: string, readonly body: string) {}
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface ApiServerOptions {
  readonly socket?: string;
  readonly http?: string;
  readonly token?: string;
}

export class ApiServer {
  private readonly servers: http.Server[] = [];

  constructor(private readonly routes: ApiRoutes, private readonly opts: ApiServerOptions) {}

  private handler(requireToken: boolean): http.RequestListener {
    return (req, res) => {
      const url = new URL(req.url ?? '/', 'http://decent');
      const send = (status: number, body: unknown): void => {
        const text = toJson(body);
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(`${text}\n`);
      };
      // The page itself holds no data; everything it shows comes from token-checked endpoints.
      const isPage = req.method === 'GET' && (url.pathname === '/' || url.pathname === '/ui');
      if (requireToken && this.opts.token && !isPage) {
        const given = Buffer.from((req.headers.authorization ?? '').replace(/^Bearer\s+/i, ''));
        const want = Buffer.from(this.opts.token);
        if (given.length !== want.length || !timingSafeEqual(given, want)) return send(401, { error: 'missing or wrong access token' });
      }
      const table = req.method === 'POST' ? this.routes.post : req.method === 'GET' ? this.routes.get : undefined;
      const route = table?.[url.pathname];
      if (!route) return send(404, { error: `no such endpoint: ${req.method} ${url.pathname}` });
      Promise.resolve()
        .then(() => route(url.searchParams))
        .then((body) => {
          if (body instanceof RawResponse) {
            res.writeHead(200, { 'content-type': body.contentType, 'cache-control': 'no-store' });
            res.end(body.body);
          } else {
            send(200, body);
          }
        }, (e: unknown) => {
          if (e instanceof ApiError) send(e.status, { error: e.message });
          else send(500, { error: (e as Error).message });
        });
    };
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
      const s = http.createServer(this.handler(false));
      await new Promise<void>((resolve, reject) => s.once('error', reject).listen(sock, () => resolve()));
      fs.chmodSync(sock, 0o660);
      this.servers.push(s);
    }
    if (this.opts.http) {
      const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(this.opts.http);
      if (!m) throw new Error(`bad api.http address ${this.opts.http}`);
      const s = http.createServer(this.handler(true));
      await new Promise<void>((resolve, reject) => s.once('error', reject).listen(Number(m[2]), m[1], () => resolve()));
      this.servers.push(s);
    }
  }

  async stop(): Promise<void> {
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
