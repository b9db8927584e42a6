// The control thread (worker_threads): owns the UDP 4342 sockets, the timers and the mapping
// state (ControlNode); talks to the main thread through typed messages (protocol.ts).
import * as dgram from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { parseEid } from '../mapping/eid';
import { CONTROL_PORT, ControlNode, DATA_PORT, type ControlEnv, type LogLevel } from './node';
import type { FromWorker, ToWorker, WorkerOptions } from './protocol';
import { peerRows, siteCacheRow } from './views';
import { encodeData } from '../wire';
import { randomInt } from 'node:crypto';
import { toWireError } from './errors';
import { LogLimiter } from './log-limit';
import { SendGuard } from './send-guard';
import { interfaceAddresses, interfaceProblems } from './interfaces';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function main(): void {
  const port = parentPort;
  if (!port) throw new Error('control worker must run in a worker thread');
  const opts = workerData as WorkerOptions;
  const send = (m: FromWorker): void => port.postMessage(m);
  const minLevel = LEVELS[opts.logLevel];
  // Rate-limited per reason before posting, so a flood of rejected messages costs neither the
  // log nor the main thread (issue 12, finding 6).
  const limiter = new LogLimiter((level, msg, fields) => send({ t: 'log', level, msg, fields }));
  setInterval(() => limiter.flush(), limiter.windowMs).unref();
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[level] >= minLevel) limiter.log(level, msg, fields);
  };
  /** Exceptions out of the control plane's handlers, caught here so one packet cannot end the worker. */
  let handlerExceptions = 0;
  /** Datagrams received on UDP 4342. */
  let controlDatagrams = 0;
  const guarded = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      handlerExceptions++;
      log('error', `${what} threw (dropped; please report)`, { error: (e as Error).message, stack: (e as Error).stack });
    }
  };

  const sockets = new Map<'4' | '6', dgram.Socket>();
  const dataSockets = new Map<'4' | '6', dgram.Socket>();
  const family = (ip: string): '4' | '6' => (isIPv4(ip) ? '4' : '6');
  const multicast = opts.config.group.replication === 'multicast';

  // Every datagram leaves through a guard: a bad target or a send error is a counted drop.
  const onDrop = (reason: string, what: string, dst: string, port: number, error?: string): void =>
    log('warn', `${what} send dropped: ${reason}`, { dst, port, error });
  const familyKey = (f: 4 | 6): '4' | '6' => (f === 4 ? '4' : '6');
  const guard = new SendGuard((f) => sockets.get(familyKey(f)), onDrop);
  const dataGuard = new SendGuard((f) => dataSockets.get(familyKey(f)) ?? sockets.get(familyKey(f)), onDrop);

  let node: ControlNode | undefined;
  const env: ControlEnv = {
    now: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    sendControl: (dst, dport, bytes) => {
      guard.send('control', dst, dport, bytes);
    },
    sendEncapsulated: (dst, inner) => {
      // LISP header for head-end replication: N with a random nonce, I with IID 0xFFFFFF
      // (lispers-decent README "HER"); the kernel adds outer IP and UDP to 4341.
      const bytes = encodeData({
        type: 'data', payload: inner,
        header: { noncepresent: true, lsbEnabled: false, echoNonce: false, mapVersioning: false, iidPresent: true, keyId: 0, nonce: randomInt(0x1000000), iid: 0xffffff, lsb: 0 },
      });
      dataGuard.send('replication', dst, DATA_PORT, bytes);
    },
    sendMulticast: multicast ? (group, bytes) => {
      guard.sendMulticast('multicast', group, CONTROL_PORT, bytes);
    } : undefined,
    // The system resolver, so /etc/hosts works as well as DNS (pull mode's Map-Server names).
    resolveName: async (name) => (await dnsLookup(name, { all: true })).map((a) => a.address),
    mapCacheChanged: (event) => send({ t: 'map-cache', event }),
    eidSpaceChanged: (change) => send({ t: 'eid-space', change }),
    memberRlocsChanged: (rlocs) => send({ t: 'member-rlocs', rlocs }),
    // Structured clone copies the key bytes; the worker's own copies are wiped by keys.ts.
    cryptoKeysChanged: (event) => send({ t: 'crypto-keys', event }),
    // The data socket is the data plane's (or ours in control-only mode).
    sendFromDataPort: (dst, dport, bytes) => {
      if (opts.bindDataPort) dataGuard.send('data-port', dst, dport, bytes);
      else send({ t: 'send-data', dst, port: dport, bytes });
    },
    natChanged: (behindNat) => send({ t: 'nat', behindNat }),
    relayPeersChanged: (peers) => send({ t: 'relay-peers', peers }),
    log,
  };

  const families = new Set([...opts.config.rlocs.map(family), family(opts.config.group.address)]);
  let pendingBinds = 0;
  const bound = (): void => {
    if (--pendingBinds > 0) return;
    const rlocs = opts.rlocInterfaces.length ? interfaceAddresses(opts.rlocInterfaces) : [...opts.config.rlocs];
    for (const problem of interfaceProblems(opts.rlocInterfaces)) env.log('warn', problem);
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

  /**
   * A socket that cannot bind (EADDRINUSE: another node or LISP router on this host) ends the
   * worker with the error, so the node fails to start instead of hanging (issue 12, finding 3).
   */
  const bindFailed = (port: number, f: '4' | '6', err: NodeJS.ErrnoException): void => {
    const hint = err.code === 'EADDRINUSE'
      ? `UDP port ${port} (IPv${f}) is in use: another decent node or LISP router is running on this host; stop it, or run this node in its own network namespace`
      : `cannot bind UDP port ${port} (IPv${f}): ${err.message}`;
    send({ t: 'fatal', error: { name: 'ControlPlaneError', code: 'CONTROL_BIND', message: `${hint} (${err.code ?? 'error'})` } });
    for (const x of [...sockets.values(), ...dataSockets.values()]) {
      try {
        x.close();
      } catch {
        /* not bound */
      }
    }
    process.exit(1);
  };
  const socketError = (port: number, f: '4' | '6', isBound: () => boolean) => (err: NodeJS.ErrnoException): void => {
    if (!isBound()) bindFailed(port, f, err);
    else log('error', `UDP ${port} socket error: ${err.message}`);
  };

  for (const f of families) {
    const s = dgram.createSocket({ type: f === '4' ? 'udp4' : 'udp6', reuseAddr: false, ipv6Only: f === '6' });
    let controlBound = false;
    s.on('message', (msg, rinfo) => {
      controlDatagrams++;
      guarded('control message', () => node?.receiveControl(msg, rinfo.address, rinfo.port));
    });
    s.on('error', socketError(CONTROL_PORT, f, () => controlBound));
    pendingBinds++;
    s.bind(CONTROL_PORT, f === '4' ? '0.0.0.0' : '::', () => {
      controlBound = true;
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
      let dataBound = false;
      d.on('message', (msg, rinfo) => guarded('encapsulated control message', () => node?.receiveEncapsulated(msg, rinfo.address, rinfo.port)));
      d.on('error', socketError(DATA_PORT, f, () => dataBound));
      pendingBinds++;
      d.bind(DATA_PORT, f === '4' ? '0.0.0.0' : '::', () => {
        dataBound = true;
        bound();
      });
      dataSockets.set(f, d);
    }
  }

  const reply = (id: number, fn: () => unknown): void => {
    try {
      send({ t: 'reply', id, ok: true, data: fn() });
    } catch (e) {
      send({ t: 'reply', id, ok: false, error: toWireError(e) });
    }
  };

  port.on('message', (m: ToWorker) => {
    if (m.t === 'crash-for-test') setImmediate(() => { throw new Error('crash requested by a test'); });
    else guarded(`'${m.t}' from the main thread`, () => onMainMessage(m));
  });
  const onMainMessage = (m: ToWorker): void => {
    if (!node) {
      if (m.t === 'query' || m.t === 'lig' || m.t === 'stop' || m.t === 'clear-map-cache') {
        send({ t: 'reply', id: m.id, ok: false, error: { name: 'ControlPlaneError', code: 'CONTROL_STARTING', message: 'control plane is starting' } });
      }
      if (m.t === 'encapsulated') send({ t: 'encapsulated-done', packets: m.packets.length });
      return;
    }
    const n = node;
    switch (m.t) {
      case 'encapsulated':
        // one batch from the data plane (bounded there); the ack lets it send the next one
        for (let i = 0; i < m.packets.length; i++) guarded('encapsulated control message', () => n.receiveEncapsulated(m.packets[i], m.sources[i], m.ports[i] ?? 0));
        send({ t: 'encapsulated-done', packets: m.packets.length });
        return;
      case 'reconfigure':
        n.reconfigure(m.config);
        return;
      case 'rloc-alive':
        n.rlocAnswered(m.rloc);
        return;
      case 'keys-used':
        for (const u of m.used) {
          if (u.direction === 'encap') n.keys.packetsSent(u.peerRloc, u.keyId, u.packets);
          else n.keys.packetsOpened(u.peerRloc, u.keyId, u.packets);
        }
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
            case 'peer-rows': return peerRows(n);
            case 'conflicts': return n.conflicts();
            case 'counters': return {
              ...Object.fromEntries(n.counters), ...guard.counters(),
              'send.replication.dropped': Object.values(dataGuard.drops).reduce((a, b) => a + b, 0),
              'log.suppressed': limiter.suppressed, 'handler.exceptions': handlerExceptions, 'control.datagrams': controlDatagrams,
            };
            case 'status': return {
              name: n.config.name, rlocs: n.rlocs, startedAt: n.startedAt, group: n.config.group, diagnostics: n.diagnostics(), nat: n.natStatus(),
            };
          }
        });
        return;
      case 'lig':
        try {
          n.lig(parseEid(m.eid), m.resolver, m.timeoutMs).then(
            (r) => send({ t: 'reply', id: m.id, ok: true, data: r }),
            // a timeout is a LigTimeoutError (code LIG_TIMEOUT: the API answers 504)
            (e: Error) => send({ t: 'reply', id: m.id, ok: false, error: toWireError(e) }),
          );
        } catch (e) {
          send({ t: 'reply', id: m.id, ok: false, error: toWireError(e) });
        }
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
  };
}

main();
