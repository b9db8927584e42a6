// Main-thread handle on the control worker: starts it, forwards map-cache changes, answers
// queries, and restarts it if it dies, so forwarding of cached mappings never stops.
//
// Crash recovery (issue 12, finding 3): a dead worker fires 'error' and then 'exit'; only the
// first event of the *active* worker counts, so one crash is one restart, and events of a worker
// that is no longer the active one are ignored. Restarts back off exponentially; more than
// MAX_CRASHES within CRASH_WINDOW_MS is fatal ('fatal' event: the daemon stops and exits non-zero
// so systemd restarts the whole process). A worker that cannot bind UDP 4342 posts a 'fatal'
// message and exits: the start fails with that error.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ControlPlaneError, fromWireError } from './errors';
import type { LigResult, LogLevel } from './node';
import type { MapCacheEvent } from './map-cache';
import type { EidSpaceChange } from '../mapping/entry';
import type { KeyEvent } from '../crypto';
import type { FromWorker, KeyUsage, Query, RelayPeers, ToWorker, WorkerOptions } from './protocol';

type Pending = { resolve(v: unknown): void; reject(e: Error): void };
type Request = { t: 'query'; what: Query } | { t: 'lig'; eid: string; resolver: string | undefined; timeoutMs: number } | { t: 'clear-map-cache' } | { t: 'stop'; withdraw: boolean };

/** First restart delay; doubled per crash within the window, up to MAX_BACKOFF_MS. */
export const FIRST_BACKOFF_MS = 200;
export const MAX_BACKOFF_MS = 5000;
/** More crashes than this within the window end the process (systemd restarts it). */
export const MAX_CRASHES = 5;
export const CRASH_WINDOW_MS = 60_000;
/** Batches of head-end replicated packets posted to the worker and not yet acknowledged. */
export const MAX_ENCAPSULATED_IN_FLIGHT = 2;

export interface ControlThreadEvents {
  'map-cache': [MapCacheEvent];
  rlocs: [readonly string[]];
  'eid-space': [EidSpaceChange];
  'member-rlocs': [readonly string[] | null];
  'relay-peers': [RelayPeers];
  /** A LISP-crypto key to install in or remove from the data plane's key table. */
  'crypto-keys': [KeyEvent];
  ready: [readonly string[]];
  log: [LogLevel, string, Record<string, unknown> | undefined];
  restart: [Error];
  /** The worker keeps crashing (or cannot restart): the process should stop and exit non-zero. */
  fatal: [Error];
  /** The worker took a batch of encapsulated packets: the data plane may hand over the next. */
  'encapsulated-drained': [];
  /** A datagram to send from the data socket (data-port Info-Requests behind a NAT). */
  'send-data': [string, number, Uint8Array];
  /** Behind a NAT with RTRs (true) or not. */
  nat: [boolean];
}

export interface ControlThreadOptions {
  readonly firstBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly maxCrashes?: number;
  readonly crashWindowMs?: number;
}

export class ControlThread extends EventEmitter<ControlThreadEvents> {
  /** The active worker, once it said 'ready'; undefined while starting, restarting or stopped. */
  private worker: Worker | undefined;
  /** The worker being started (not ready yet). */
  private starting: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly crashTimes: number[] = [];
  private encapsulatedInFlight = 0;
  private readonly tuning: Required<ControlThreadOptions>;
  restarts = 0;

  constructor(private options: WorkerOptions, tuning: ControlThreadOptions = {}) {
    super();
    this.tuning = {
      firstBackoffMs: tuning.firstBackoffMs ?? FIRST_BACKOFF_MS, maxBackoffMs: tuning.maxBackoffMs ?? MAX_BACKOFF_MS,
      maxCrashes: tuning.maxCrashes ?? MAX_CRASHES, crashWindowMs: tuning.crashWindowMs ?? CRASH_WINDOW_MS,
    };
  }

  /** Starts the worker; rejects when it dies or cannot bind before it is ready (nothing is left running). */
  start(): Promise<readonly string[]> {
    if (this.stopping) return Promise.reject(new ControlPlaneError('CONTROL_STOPPED', 'control plane is stopping'));
    return new Promise((resolve, reject) => {
      const w = new Worker(path.join(__dirname, 'worker.js'), { workerData: this.options });
      this.starting = w;
      let ready = false;
      let dead = false;
      let fatal: Error | undefined;
      let firstError: Error | undefined;
      const died = (err: Error): void => {
        if (dead) return;
        dead = true;
        if (this.starting === w) this.starting = undefined;
        if (!ready) {
          reject(err);
          return;
        }
        // only the active worker's death is a crash; a replaced or stopped one is history
        if (this.worker === w) this.crashed(err);
      };
      w.on('message', (m: FromWorker) => {
        if (dead) return;
        if (m.t === 'ready') {
          if (this.stopping) {
            // stop() came while this one started: it never becomes active
            dead = true;
            void w.terminate();
            reject(new ControlPlaneError('CONTROL_STOPPED', 'control plane stopped while starting'));
            return;
          }
          ready = true;
          this.starting = undefined;
          this.worker = w;
          this.encapsulatedInFlight = 0;
          this.emit('ready', m.rlocs);
          this.emit('encapsulated-drained');
          resolve(m.rlocs);
        } else if (m.t === 'fatal') {
          fatal = fromWireError(m.error);
        } else if (this.worker === w) {
          this.onMessage(m);
        }
      });
      // An uncaught exception fires 'error' and then 'exit': remember the error, act on the first.
      w.on('error', (err) => {
        firstError ??= err;
        died(err);
        void w.terminate();
      });
      w.on('exit', (code) => {
        if (this.starting === w) this.starting = undefined;
        died(fatal ?? firstError ?? new ControlPlaneError('CONTROL_CRASHED', `control worker exited with code ${code}${ready ? '' : ' before it was ready'}`));
      });
    });
  }

  private crashed(err: Error): void {
    this.worker = undefined;
    this.encapsulatedInFlight = 0;
    const lost = new ControlPlaneError('CONTROL_CRASHED', `control worker died: ${err.message}`);
    for (const p of this.pending.values()) p.reject(lost);
    this.pending.clear();
    if (this.stopping) return;
    this.restarts++;
    this.emit('restart', err);
    this.scheduleRestart(err);
  }

  /** One restart per crash, backing off exponentially; too many crashes in the window are fatal. */
  private scheduleRestart(err: Error): void {
    const now = Date.now();
    this.crashTimes.push(now);
    while (this.crashTimes.length && now - this.crashTimes[0] > this.tuning.crashWindowMs) this.crashTimes.shift();
    const recent = this.crashTimes.length;
    if (recent > this.tuning.maxCrashes) {
      this.emit('fatal', new ControlPlaneError('CONTROL_CRASHED',
        `control worker crashed ${recent} times within ${this.tuning.crashWindowMs / 1000} s (last: ${err.message}); giving up`));
      return;
    }
    const delay = Math.min(this.tuning.firstBackoffMs * 2 ** (recent - 1), this.tuning.maxBackoffMs);
    this.emit('log', 'warn', `restarting the control worker in ${delay} ms`, { crashesInWindow: recent });
    // The data plane keeps its FIB; the new worker re-registers and rebuilds its state.
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      // The new worker has an empty site cache. With `xtr-id: auto` it registers under a fresh
      // xTR-ID, so members count it as a restarted member (same RLOC, new xTR-ID) and send their
      // registrations at once instead of at their next round.
      if (this.options.config.xtrIdAuto) {
        this.options = { ...this.options, config: { ...this.options.config, xtrId: randomBytes(8).readBigUInt64BE(0) } };
      }
      this.start().catch((e: Error) => {
        if (this.stopping) return;
        if (e instanceof ControlPlaneError && e.code === 'CONTROL_BIND') {
          this.emit('fatal', e);
          return;
        }
        this.emit('log', 'error', `control worker restart failed: ${e.message}`, undefined);
        this.scheduleRestart(e);
      });
    }, delay);
  }

  private onMessage(m: FromWorker): void {
    switch (m.t) {
      case 'map-cache':
        this.emit('map-cache', m.event);
        return;
      case 'rlocs':
        this.emit('rlocs', m.rlocs);
        return;
      case 'eid-space':
        this.emit('eid-space', m.change);
        return;
      case 'crypto-keys':
        this.emit('crypto-keys', m.event);
        return;
      case 'member-rlocs':
        this.emit('member-rlocs', m.rlocs);
        return;
      case 'send-data':
        this.emit('send-data', m.dst, m.port, m.bytes);
        return;
      case 'nat':
        this.emit('nat', m.behindNat);
        return;
      case 'relay-peers':
        this.emit('relay-peers', m.peers);
        return;
      case 'log':
        this.emit('log', m.level, m.msg, m.fields);
        return;
      case 'encapsulated-done':
        if (this.encapsulatedInFlight > 0) this.encapsulatedInFlight--;
        this.emit('encapsulated-drained');
        return;
      case 'reply': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok) p.resolve(m.data);
        else p.reject(fromWireError(m.error));
        return;
      }
      case 'ready':
      case 'fatal':
        return;
    }
  }

  /** Is a worker running and answering? */
  get running(): boolean {
    return this.worker !== undefined;
  }

  post(m: ToWorker): void {
    this.worker?.postMessage(m);
  }

  private request<T>(m: Request): Promise<T> {
    const w = this.worker;
    if (!w) {
      return Promise.reject(this.stopping
        ? new ControlPlaneError('CONTROL_STOPPED', 'control plane is not running')
        : new ControlPlaneError('CONTROL_STARTING', 'control plane is starting'));
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      w.postMessage({ ...m, id } as ToWorker);
    });
  }

  query<T = unknown>(what: Query): Promise<T> {
    return this.request<T>({ t: 'query', what });
  }

  /** `resolver` undefined: the mapping system's choice (ControlNode.lig). */
  lig(eid: string, resolver: string | undefined, timeoutMs = 2000): Promise<LigResult> {
    return this.request<LigResult>({ t: 'lig', eid, resolver, timeoutMs });
  }

  clearMapCache(): Promise<void> {
    return this.request<void>({ t: 'clear-map-cache' });
  }

  /**
   * Hands a batch of decapsulated instance-id 0xFFFFFF packets to the control plane: one message
   * per batch. Returns false (the caller keeps them queued) while MAX_ENCAPSULATED_IN_FLIGHT
   * batches are unacknowledged or no worker runs; 'encapsulated-drained' says when to try again.
   */
  encapsulated(packets: readonly Uint8Array[], sources: readonly string[], ports: readonly number[] = []): boolean {
    const w = this.worker;
    if (!w || this.encapsulatedInFlight >= MAX_ENCAPSULATED_IN_FLIGHT) return false;
    this.encapsulatedInFlight++;
    w.postMessage({ t: 'encapsulated', packets, sources, ports } satisfies ToWorker);
    return true;
  }

  /** Applies a reloaded configuration; a later restart of the worker uses it too. */
  reconfigure(config: WorkerOptions['config']): void {
    this.options = { ...this.options, config: { ...config, xtrId: this.options.config.xtrId } };
    this.post({ t: 'reconfigure', config: this.options.config });
  }

  /** An ICMP echo reply from an RLOC (main-thread reachability checks). */
  rlocAlive(rloc: string): void {
    this.post({ t: 'rloc-alive', rloc });
  }

  resolve(eid: string): void {
    this.post({ t: 'resolve', eid });
  }

  /** The data plane's packet counts per send key (LISP-crypto packet-count rekey). */
  keysUsed(used: readonly KeyUsage[]): void {
    if (used.length > 0) this.post({ t: 'keys-used', used });
  }

  /** Kills the worker the hard way (tests of the restart path). */
  terminateForTest(): Promise<number> {
    return this.worker?.terminate() ?? Promise.resolve(0);
  }

  /** Makes the worker throw out of its message handler, as an uncaught exception would (tests). */
  crashForTest(): void {
    this.post({ t: 'crash-for-test' });
  }

  /**
   * Withdraws (when a worker runs and `withdraw`) and ends the worker, also while a restart is
   * pending or a worker is starting: nothing runs afterwards and no restart follows. Never throws.
   */
  async stop(withdraw = true): Promise<void> {
    if (this.stopping) return;
    const w = this.worker;
    if (w) {
      try {
        await Promise.race([this.request({ t: 'stop', withdraw }), new Promise((r) => setTimeout(r, 1000))]);
      } catch {
        /* it died meanwhile: nothing to withdraw from */
      }
    }
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const all = [w, this.worker, this.starting].filter((x): x is Worker => x !== undefined);
    this.worker = undefined;
    this.starting = undefined;
    for (const p of this.pending.values()) p.reject(new ControlPlaneError('CONTROL_STOPPED', 'control plane stopped'));
    this.pending.clear();
    await Promise.all([...new Set(all)].map((x) => x.terminate()));
  }
}
