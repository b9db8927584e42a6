// The control thread (worker_threads): owns the UDP 4342 sockets, the timers and the mapping
// state (ControlNode); talks to the main thread through typed messages (protocol.ts).
import * as dgram from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import * as os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { parseEid } from '../mapping/eid';
import { CONTROL_PORT, ControlNode, DATA_PORT, type ControlEnv, type LogLevel } from './node';
import type { FromWorker, ToWorker, WorkerOptions } from './protocol';
import { siteCacheRow } from './views';
import { encodeData } from '../wire';
import { randomInt } from 'node:crypto';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Addresses of the named interfaces, IPv4 first (the order RLOCs are registered in). */
export function interfaceAddresses(names: readonly string[]): string[] {
  const all = os.networkInterfaces();
  const out: string[] = [];
  for (const name of names) {
    for (const a of all[name] ?? []) {
      if (a.internal || (a.family === 'IPv6' && a.address.startsWith('fe80'))) continue;
      out.push(a.address);
    }
  }
  return out.sort((a, b) => Number(!isIPv4(a)) - Number(!isIPv4(b)));
}

function main(): void {
  const port = parentPort;
  if (!port) throw new Error('control worker must run in a worker thread');
  const opts = workerData as WorkerOptions;
  const send = (m: FromWorker): void => port.postMessage(m);
  const minLevel = LEVELS[opts.logLevel];
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[level] >= minLevel) send({ t: 'log', level, msg, fields });
  };

  const sockets = new Map<'4' | '6', dgram.Socket>();
  const dataSockets = new Map<'4' | '6', dgram.Socket>();
  const family = (ip: string): '4' | '6' => (isIPv4(ip) ? '4' : '6');
  const multicast = opts.config.group.replication === 'multicast';

  let node: ControlNode | undefined;
  const env: ControlEnv = {
    now: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    sendControl: (dst, dport, bytes) => sockets.get(family(dst))?.send(bytes, dport, dst, (err) => {
      if (err) log('debug', 'control send failed', { dst, error: err.message });
    }),
    sendEncapsulated: (dst, inner) => {
      // LISP header for head-end replication: N with a random nonce, I with IID 0xFFFFFF
      // (lispers-decent README "HER"); the kernel adds outer IP and UDP to 4341.
      const bytes = encodeData({
        type: 'data', payload: inner,
        header: { noncepresent: true, lsbEnabled: false, echoNonce: false, mapVersioning: false, iidPresent: true, keyId: 0, nonce: randomInt(0x1000000), iid: 0xffffff, lsb: 0 },
      });
      const s = dataSockets.get(family(dst)) ?? sockets.get(family(dst));
      s?.send(bytes, DATA_PORT, dst, (err) => {
        if (err) log('debug', 'replication send failed', { dst, error: err.message });
      });
    },
    sendMulticast: multicast ? (group, bytes) => sockets.get(family(group))?.send(bytes, CONTROL_PORT, group) : undefined,
    // The system resolver, so /etc/hosts works as well as DNS (pull mode's Map-Server names).
    resolveName: async (name) => (await dnsLookup(name, { all: true })).map((a) => a.address),
    mapCacheChanged: (event) => send({ t: 'map-cache', event }),
    eidSpaceChanged: (eids) => send({ t: 'eid-space', eids }),
    log,
  };

  const families = new Set([...opts.config.rlocs.map(family), family(opts.config.group.address)]);
  let pendingBinds = 0;
  const bound = (): void => {
    if (--pendingBinds > 0) return;
    const rlocs = opts.rlocInterfaces.length ? interfaceAddresses(opts.rlocInterfaces) : [...opts.config.rlocs];
    node = new ControlNode({ ...opts.config, rlocs: rlocs.length ? rlocs : opts.config.rlocs }, env);
    node.start();
    send({ t: 'ready', rlocs: node.rlocs });
    if (opts.rlocInterfaces.length) {
      setInterval(() => {
        const now = interfaceAddresses(opts.rlocInterfaces);
        if (now.length && node && now.join() !== node.rlocs.join()) {
          node.setRlocs(now);
          send({ t: 'rlocs', rlocs: now });
        }
      }, opts.rlocPollMs).unref();
    }
  };

  for (const f of families) {
    const s = dgram.createSocket({ type: f === '4' ? 'udp4' : 'udp6', reuseAddr: false, ipv6Only: f === '6' });
    s.on('message', (msg, rinfo) => node?.receiveControl(msg, rinfo.address, rinfo.port));
    s.on('error', (err) => log('error', `UDP ${CONTROL_PORT} socket error: ${err.message}`));
    pendingBinds++;
    s.bind(CONTROL_PORT, f === '4' ? '0.0.0.0' : '::', () => {
      if (multicast && family(opts.config.group.address) === f) {
        s.addMembership(opts.config.group.address);
        s.setMulticastLoopback(false);
        s.setMulticastTTL(32);
      }
      bound();
    });
    sockets.set(f, s);
    if (opts.bindDataPort) {
      const d = dgram.createSocket({ type: f === '4' ? 'udp4' : 'udp6', ipv6Only: f === '6' });
      d.on('message', (msg, rinfo) => node?.receiveEncapsulated(msg, rinfo.address));
      d.on('error', (err) => log('error', `UDP ${DATA_PORT} socket error: ${err.message}`));
      pendingBinds++;
      d.bind(DATA_PORT, f === '4' ? '0.0.0.0' : '::', bound);
      dataSockets.set(f, d);
    }
  }

  const reply = (id: number, fn: () => unknown): void => {
    try {
      send({ t: 'reply', id, ok: true, data: fn() });
    } catch (e) {
      send({ t: 'reply', id, ok: false, error: (e as Error).message });
    }
  };

  port.on('message', (m: ToWorker) => {
    if (!node) {
      if (m.t === 'query' || m.t === 'lig' || m.t === 'stop' || m.t === 'clear-map-cache') send({ t: 'reply', id: m.id, ok: false, error: 'control plane is starting' });
      return;
    }
    const n = node;
    switch (m.t) {
      case 'encapsulated':
        n.receiveEncapsulated(m.bytes, m.src);
        return;
      case 'reconfigure':
        n.reconfigure(m.config);
        return;
      case 'rloc-alive':
        n.rlocAnswered(m.rloc);
        return;
      case 'resolve':
        try {
          n.resolve(parseEid(m.eid));
        } catch (e) {
          log('warn', 'cannot resolve', { eid: m.eid, error: (e as Error).message });
        }
        return;
      case 'query':
        reply(m.id, () => {
          switch (m.what) {
            case 'site-cache': return n.siteCache.all().map(siteCacheRow);
            case 'map-cache': return n.mapCache.all();
            case 'database': return n.database();
            case 'peers': return n.peers();
            case 'counters': return Object.fromEntries(n.counters);
            case 'status': return { name: n.config.name, rlocs: n.rlocs, startedAt: n.startedAt, group: n.config.group };
          }
        });
        return;
      case 'lig':
        n.lig(parseEid(m.eid), m.resolver, m.timeoutMs).then(
          (r) => send({ t: 'reply', id: m.id, ok: true, data: r }),
          (e: Error) => send({ t: 'reply', id: m.id, ok: false, error: e.message }),
        );
        return;
      case 'clear-map-cache':
        reply(m.id, () => n.mapCache.clear());
        return;
      case 'stop':
        n.stop(m.withdraw);
        // Let the withdrawals leave before the sockets close.
        setTimeout(() => {
          for (const s of [...sockets.values(), ...dataSockets.values()]) s.close();
          send({ t: 'reply', id: m.id, ok: true, data: null });
        }, 50);
        return;
    }
  });
}

main();
