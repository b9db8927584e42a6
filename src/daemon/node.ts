// One running decent node: the control worker, the data plane (when configured) and the local
// API, wired together on the main thread.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nodeRoutes } from '../api/routes';
import { ApiServer } from '../api/server';
import type { LoadedConfig } from '../config/load';
import { eidKey } from '../mapping/eid';
import { ControlThread } from '../control/thread';
import type { DataPlane, DataPlaneConfig, DataPlaneHooks } from '../dataplane/types';
import type { KeyEvent } from '../crypto';
import type { KeyUsage } from '../control/protocol';
import { IcmpReachability } from './icmp-reachability';
import { checkApiSocket, checkTunAbsent } from './preflight';
import type { Level, Logger } from './log';

export interface RunningNode {
  readonly control: ControlThread;
  readonly dataPlane?: DataPlane;
  /** Settles when the node cannot go on (the control worker keeps crashing): stop it and exit non-zero. */
  readonly fatal: Promise<Error>;
  stop(withdraw?: boolean): Promise<void>;
}

/** How often the data plane's per-key packet counts go to the key exchange (the packet-count rekey). */
const KEY_USAGE_MS = 1000;

type DataPlaneFactory = (config: DataPlaneConfig, hooks: DataPlaneHooks) => DataPlane;

function dataPlaneFactory(): DataPlaneFactory {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('../dataplane') as { createDataPlane?: DataPlaneFactory };
  if (!mod.createDataPlane) throw new Error('this build has no data plane (src/dataplane/index.ts)');
  return mod.createDataPlane;
}

export async function startNode(cfg: LoadedConfig, log: Logger, logLevel: Level = cfg.raw.log.level): Promise<RunningNode> {
  const dp = cfg.dataplane;
  // What could fail half-way fails before anything starts (issue 14): socket, token, TUN name.
  if (cfg.apiSocket) await checkApiSocket(cfg.apiSocket);
  const token = readToken(cfg.raw.api['token-file'], cfg.file);
  if (dp) checkTunAbsent(dp.tun);
  const control = new ControlThread({
    config: cfg.control,
    rlocInterfaces: cfg.rlocInterfaces,
    bindDataPort: dp === undefined,
    rlocPollMs: cfg.raw.timers['rloc-poll'],
    // The worker filters before posting, so it gets the control subsystem's own level.
    logLevel: cfg.raw.log.subsystems.control ?? logLevel,
  });
  control.on('log', (level, msg, fields) => log(level, 'control', msg, fields));
  control.on('restart', (err) => log('error', 'control', 'control worker died; restarting it (forwarding continues)', { error: err.message, stack: err.stack }));
  const fatal = new Promise<Error>((resolve) => control.once('fatal', resolve));

  let dataPlane: DataPlane | undefined;
  if (dp) {
    const create = dataPlaneFactory();
    dataPlane = create(dp, {
      onEncapsulatedControl: (packets, sources, ports) => control.encapsulated(packets, sources, ports),
      onMiss: (eid) => control.resolve(eidKey(eid)),
      log: (level, msg, fields) => log(level, 'dataplane', msg, fields),
    });
    control.on('encapsulated-drained', () => dataPlane?.controlReady());
    control.on('map-cache', (e) => dataPlane?.applyMapCache(e));
    control.on('eid-space', (change) => dataPlane?.changeRoutedEids(change));
    control.on('rlocs', (r) => dataPlane?.setRlocs(r));
    control.on('member-rlocs', (r) => dataPlane?.setMemberRlocs(r));
    control.on('nat', (behind) => dataPlane?.setBehindNat(behind));
    control.on('relay-peers', (p) => dataPlane?.setRelayPeers(p));
    control.on('send-data', (dst, port, bytes) => dataPlane?.sendFromDataPort(dst, port, bytes));
    control.on('crypto-keys', (e) => applyKeyEvent(dataPlane, e, log));
  }
  let icmp: IcmpReachability | undefined;
  const icmpMs = cfg.raw.timers['icmp-interval'];
  if (icmpMs > 0) {
    icmp = new IcmpReachability({
      intervalMs: icmpMs,
      onAlive: (rloc) => control.rlocAlive(rloc),
      onError: (e) => log('debug', 'reachability', e.message),
    });
    icmp.start();
    const targets = new Map<string, readonly string[]>();
    control.on('map-cache', (e) => {
      if (e.op === 'remove') targets.delete(e.key);
      else targets.set(e.entry.key, e.entry.rlocs.map((r) => r.address));
      icmp?.setTargets([...targets.values()].flat());
    });
  }
  // The TUN and the control worker come up side by side: each takes a few hundred ms.
  const [controlUp, dataUp] = await Promise.allSettled([control.start(), dataPlane?.start()]);
  if (controlUp.status === 'rejected' || dataUp.status === 'rejected') {
    // Whichever half came up must not outlive the failure (nor keep the process alive).
    icmp?.stop();
    if (controlUp.status === 'fulfilled') await control.stop(true);
    if (dataUp.status === 'fulfilled') await dataPlane?.stop();
    throw (controlUp.status === 'rejected' ? controlUp.reason : (dataUp as PromiseRejectedResult).reason) as Error;
  }
  const stopKeyUsage = dataPlane && dp?.encryption !== undefined && dp.encryption !== 'off' ? reportKeyUsage(dataPlane, control) : undefined;
  const rlocs = controlUp.value;
  log('info', 'node', 'started', { node: cfg.control.name, rlocs, group: cfg.control.group.address, dataplane: dataPlane !== undefined });

  const api: ApiServer = new ApiServer(nodeRoutes({
    name: cfg.control.name, instanceId: cfg.control.group.instanceId, control, dataPlane, apiCounters: () => api.counters(),
  }), { socket: cfg.apiSocket, http: cfg.raw.api.http, token });
  try {
    await api.start();
  } catch (e) {
    // e.g. api.http's port is taken: undo everything, the node does not run half
    const err = e as NodeJS.ErrnoException;
    icmp?.stop();
    stopKeyUsage?.();
    await control.stop(true);
    await dataPlane?.stop();
    await api.stop();
    throw new Error(`cannot start the local API (${err.code ?? 'error'}: ${err.message}); check api.socket and api.http`);
  }

  let stopped = false;
  return {
    control,
    dataPlane,
    fatal,
    async stop(withdraw = true) {
      if (stopped) return;
      stopped = true;
      icmp?.stop();
      stopKeyUsage?.();
      await control.stop(withdraw);
      await dataPlane?.stop();
      await api.stop();
      log('info', 'node', 'stopped', { withdraw });
    },
  };
}

/**
 * Once a second, the packets sealed under each peer's send key and opened under each decap key
 * (the data plane's key table) go to the control worker's key exchange, which rekeys at
 * crypto.rekey-packets (default 2^32, RFC 8061 §6 leaves the policy to us) and keeps decap keys
 * that are in use: batched, and only the counts that changed.
 */
function reportKeyUsage(dataPlane: DataPlane, control: ControlThread): () => void {
  const last = new Map<string, number>();
  const timer = setInterval(() => {
    const used: KeyUsage[] = [];
    const seen = new Set<string>();
    for (const k of dataPlane.keyStats()) {
      if (k.direction === 'encap' && !k.sending) continue;
      const id = `${k.direction}#${k.peerRloc}#${k.keyId}`, packets = k.direction === 'encap' ? k.encrypted : k.decrypted;
      seen.add(id);
      if (last.get(id) === packets) continue;
      last.set(id, packets);
      used.push({ direction: k.direction, peerRloc: k.peerRloc, keyId: k.keyId, packets });
    }
    for (const id of last.keys()) if (!seen.has(id)) last.delete(id);
    control.keysUsed(used);
  }, KEY_USAGE_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * One key event from the control worker into the data plane's key table (RFC 8061 §6 keys per
 * RLOC pair). Structured clone gave us our own copy of the key bytes: wiped once the table has
 * taken them. A key the table refuses (full, a suite it does not run) is logged without its bytes.
 */
function applyKeyEvent(dataPlane: DataPlane | undefined, e: KeyEvent, log: Logger): void {
  const encryptKey = Buffer.from(e.encryptKey.buffer, e.encryptKey.byteOffset, e.encryptKey.byteLength);
  const icvKey = Buffer.from(e.icvKey.buffer, e.icvKey.byteOffset, e.icvKey.byteLength);
  try {
    const err = dataPlane?.applyKeyEvent({ ...e, encryptKey, icvKey });
    if (err) log('warn', 'dataplane', 'LISP-crypto key not installed', { peer: e.peerRloc, direction: e.direction, keyId: e.keyId, suite: e.suite, error: err });
    else log('debug', 'dataplane', `LISP-crypto key ${e.action === 'install' ? 'installed' : 'removed'}`, { peer: e.peerRloc, direction: e.direction, keyId: e.keyId, suite: e.suite });
  } finally {
    encryptKey.fill(0);
    icvKey.fill(0);
  }
}

function readToken(file: string | undefined, configFile: string): string | undefined {
  if (!file) return undefined;
  const p = path.resolve(path.dirname(configFile), file);
  const token = fs.readFileSync(p, 'utf8').trim();
  if (!token) throw new Error(`api.token-file ${p} is empty`);
  return token;
}
