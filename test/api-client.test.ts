// The API client holds no idle connection after an answer: with Node 20's keep-alive agent a later
// request could go out on a connection the node had just closed as idle and fail with EPIPE.
import test from 'ava';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiRequest } from '../src/api/client';

test('apiRequest leaves no connection open once it has its answer', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'decent-client-'));
  const sock = path.join(dir, 'api.sock');
  const server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  t.teardown(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  for (let i = 0; i < 3; i++) t.deepEqual(await apiRequest(sock, 'GET', '/x'), { ok: true });
  await new Promise((r) => setTimeout(r, 100));
  const open = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
  t.is(open, 0, 'connections still open after the answers');
});
