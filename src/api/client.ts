// Talks to a running node's local API over its unix socket.
import * as http from 'node:http';

export class ApiClientError extends Error {
  override readonly name = 'ApiClientError';
}

export function apiRequest<T = unknown>(socket: string, method: 'GET' | 'POST', pathAndQuery: string, timeoutMs = 10_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // agent: false — one connection per request. Node 20's global agent keeps connections alive,
    // and a request on one the node has just closed as idle failed with EPIPE/ECONNRESET; a
    // unix-socket connect costs microseconds.
    const req = http.request({ socketPath: socket, path: pathAndQuery, method, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          return reject(new ApiClientError(`the node answered with something that is not JSON: ${text.slice(0, 200)}`));
        }
        if ((res.statusCode ?? 500) >= 400) return reject(new ApiClientError((body as { error?: string }).error ?? `HTTP ${res.statusCode}`));
        resolve(body as T);
      });
    });
    req.on('timeout', () => req.destroy(new ApiClientError(`no answer from the node within ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
        reject(new ApiClientError(`no node is listening on ${socket} (is 'decent run' running? use --socket to name another)`));
      } else if (e.code === 'EACCES') {
        reject(new ApiClientError(`permission denied on ${socket}: run as root or as a member of the socket's group`));
      } else {
        reject(e instanceof ApiClientError ? e : new ApiClientError(`${socket}: ${e.message}`));
      }
    });
    req.end();
  });
}
