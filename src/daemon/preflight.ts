// Checks made before a node starts anything (issue 14, "half-starts fail closed"): what would
// otherwise fail half-way, after the control worker and the TUN are up, fails here with a message
// that names the setting and the fix, and nothing has to be undone.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export class PreflightError extends Error {
  override readonly name = 'PreflightError';
}

/**
 * The API socket's directory exists (or is created) and nothing live answers on the socket: a
 * socket file left by a killed node is stale (connect is refused) and may be replaced; one that
 * answers belongs to a running node, whose socket we must never delete.
 */
export async function checkApiSocket(sock: string): Promise<void> {
  const dir = path.dirname(sock);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new PreflightError(`cannot create the API socket directory ${dir} (api.socket): ${err.code ?? err.message}; create it, or set api.socket to a writable place`);
  }
  let st: fs.Stats;
  try {
    st = fs.lstatSync(sock);
  } catch {
    return; // not there: fine
  }
  if (!st.isSocket()) throw new PreflightError(`${sock} (api.socket) exists and is not a socket: remove it or set api.socket elsewhere`);
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(sock);
    const done = (v: boolean): void => {
      c.destroy();
      resolve(v);
    };
    c.setTimeout(1000, () => done(true)); // something holds it but does not answer: still not ours to delete
    c.once('connect', () => done(true));
    c.once('error', (e: NodeJS.ErrnoException) => done(e.code !== 'ECONNREFUSED' && e.code !== 'ENOENT'));
  });
  if (live) throw new PreflightError(`another node is running on the API socket ${sock} (api.socket): stop it first, or give this node its own api.socket`);
}

/**
 * An interface with the TUN's name must not exist yet: opening it would silently take over a
 * persistent TUN (`ip tuntap add`) or another program's device, and leave our addresses on it.
 * /sys/class/net shows the network namespace sysfs was mounted in: the node's own under systemd
 * and `ip netns exec` (which remounts it).
 */
export function checkTunAbsent(name: string): void {
  if (fs.existsSync(path.join('/sys/class/net', name))) {
    throw new PreflightError(`an interface named ${name} already exists (a persistent TUN, or another node's): decent creates its own TUN and does not take one over; remove it (ip link del ${name}) or set dataplane.tun to another name`);
  }
}
