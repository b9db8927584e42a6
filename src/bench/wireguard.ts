// The wireguard-go variant of the benchmark: a userspace WireGuard pair between the two xTR
// namespaces (Debian's wireguard-go + wireguard-tools), the tunnel users on kernels without
// WireGuard pick. Each side runs `wireguard-go -f` (foreground, so its CPU is measured like
// decent's) with its own interface name: the UAPI socket /var/run/wireguard/NAME.sock is not
// per namespace. Keys are fresh per start (wg genkey).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Netns, uniqueName } from '../testbed/netns';
import type { Children, Xtr } from './testbed';

/** Inner MTU over a 1500-byte IPv4 underlay: outer IPv4 (20) + UDP (8) + WireGuard data header (16) + tag (16). */
export const WIREGUARD_MTU = 1440;
const PORT = 51820;
const UAPI_DIR = '/var/run/wireguard';

export interface WireguardSide { ns: Netns; rloc: string; site: string }

/** wireguard-go refuses to start on a kernel with WireGuard unless told this. */
const ENV = { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' };

export function wireguardAvailable(): boolean {
  try {
    execFileSync('wg', ['--version'], { stdio: 'ignore' });
    return fs.existsSync('/usr/bin/wireguard-go') || (process.env.PATH ?? '').split(':').some((d) => d !== '' && fs.existsSync(path.join(d, 'wireguard-go')));
  } catch {
    return false;
  }
}

async function waitForSocket(dev: string, x: Xtr): Promise<void> {
  const sock = path.join(UAPI_DIR, `${dev}.sock`);
  const deadline = Date.now() + 10_000;
  while (!fs.existsSync(sock)) {
    if (x.child.exitCode !== null || x.child.signalCode !== null) throw new Error(`wireguard-go ${dev} exited: ${x.log.trim()}`);
    if (Date.now() > deadline) throw new Error(`wireguard-go ${dev}: no UAPI socket within 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts both ends, configures keys, endpoints and routes; returns the two processes. */
export async function startWireguardPair(dir: string, children: Children, a: WireguardSide, b: WireguardSide): Promise<Xtr[]> {
  const sides = [a, b].map((s) => {
    const key = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
    const keyFile = path.join(dir, `wg-${s.rloc}.key`);
    fs.writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
    return { ...s, keyFile, pub: execFileSync('wg', ['pubkey'], { input: key, encoding: 'utf8' }).trim(), dev: uniqueName('bwg') };
  });
  const xtrs: Xtr[] = sides.map((s) => {
    const child = children.track(s.ns.spawn(['wireguard-go', '-f', s.dev], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] }));
    const x: Xtr = { child, name: s.dev, log: '' };
    const keep = (d: Buffer): void => { x.log = (x.log + d.toString()).slice(-4000); };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    return x;
  });
  for (const [i, s] of sides.entries()) {
    await waitForSocket(s.dev, xtrs[i]);
    const far = sides[1 - i];
    s.ns.exec(['wg', 'set', s.dev, 'private-key', s.keyFile, 'listen-port', String(PORT),
      'peer', far.pub, 'endpoint', `${far.rloc}:${PORT}`, 'allowed-ips', far.site]);
    s.ns.ip(['link', 'set', s.dev, 'mtu', String(WIREGUARD_MTU), 'up']);
    s.ns.ip(['route', 'add', far.site, 'dev', s.dev]);
  }
  return xtrs;
}
