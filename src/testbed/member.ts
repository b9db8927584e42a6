// One `decent run` process in a namespace, for the NAT testbeds (src/testbed/nat-group.ts and the
// NAT netns tests): its config file in `dir`, its EID on the namespace's loopback, its stderr
// kept (the tail) in `logs[name]` for a failing test to show.
import { type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Netns } from './netns';

/** bin/decent, from dist/src/testbed. */
export const DECENT_BIN = path.resolve(__dirname, '../../../bin/decent');

export interface MemberLaunch {
  /** Where the config file and the API socket go. */
  readonly dir: string;
  readonly name: string;
  readonly ns: Netns;
  /** A host EID (/32), added to the namespace's loopback. */
  readonly eid: string;
  readonly seeds: readonly string[];
  readonly group: string;
  /** `nat.rtr`: offer to relay for members behind NAT. */
  readonly rtr: boolean;
  /** `nat.keepalive` (default 2s: tests time recoveries in keepalives). */
  readonly keepalive?: string;
  readonly encryption: 'off' | 'preferred' | 'required';
  /** Extra YAML lines. */
  readonly extra?: readonly string[];
  /** Where the tail of its stderr goes. */
  readonly logs: Record<string, string>;
}

/** The API socket of member `name` launched in `dir`. */
export function memberSocket(dir: string, name: string): string {
  return path.join(dir, `${name}.sock`);
}

export function launchMember(o: MemberLaunch): ChildProcess {
  const file = path.join(o.dir, `${o.name}.yaml`);
  fs.writeFileSync(file, [
    `name: ${o.name}`, 'eids:', `  - ${o.eid}/32`, 'rlocs: {interfaces: [eth0]}',
    `decent: {group: ${o.group}, seeds: [${o.seeds.join(', ')}]}`, 'auth: {key: decent-password}',
    `nat: {keepalive: ${o.keepalive ?? '2s'}, rtr: ${o.rtr}}`,
    `dataplane: {tun: decent0, encryption: ${o.encryption}}`, `api: {socket: ${memberSocket(o.dir, o.name)}}`, ...(o.extra ?? []), '',
  ].join('\n'));
  o.ns.ip(['addr', 'add', `${o.eid}/32`, 'dev', 'lo']);
  const child = o.ns.spawn([process.execPath, DECENT_BIN, 'run', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  o.logs[o.name] = '';
  child.stderr?.on('data', (d: Buffer) => { o.logs[o.name] = (o.logs[o.name] + d.toString()).slice(-60_000); });
  return child;
}
