// Main-thread handle on the control worker: starts it, forwards map-cache changes, answers
// queries, and restarts it if it dies, so forwarding of cached mappings never stops.
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Eid } from '../mapping/eid';
import type { LigResult, LogLevel } from './node';
import type { MapCacheEvent } from './map-cache';
import type { FromWorker, Query, ToWorker, WorkerOptions } from './protocol';

type Pending = { resolve(v: unknown): void; reject(e: Error): void };
type Request = { t: 'query'; what: Query } | { t: 'lig'; eid: string; resolver: string; timeoutMs: number } | { t: 'clear-map-cache' } | { t: 'stop'; withdraw: boolean };

export interface ControlThreadEvents {
  'map-cache': [MapCacheEvent];
  rlocs: [readonly string[]];
  'eid-space': [readonly Eid[]];
  ready: [readonly string[]];
  log: [LogLevel, string, Record<string, unknown> | undefined];
  restart: [Error];
}

export class ControlThread extends EventEmitter<ControlThreadEvents> {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stopping = false;
  restarts = 0;

  constructor(private options: WorkerOptions) {
    super();
  }

  start(): Promise<readonly string[]> {
    return new Promise((resolve, reject) => {
      const w = new Worker(path.join(__dirname, 'worker.js'), { workerData: this.options });
      this.worker = w;
      let ready = false;
      w.on('message', (m: FromWorker) => {
        if (m.t === 'ready') {
          ready = true;
          this.emit('ready', m.rlocs);
          resolve(m.rlocs);
        } else {
          this.onMessage(m);
        }
      });
      w.on('error', (err) => {
        if (!ready) reject(err);
        this.crashed(err);
      });
      w.on('exit', (code) => {
        if (!ready) reject(new Error(`control worker exited with code ${code} before it was ready`));
        else if (!this.stopping) this.crashed(new Error(`control worker exited with code ${code}`));
      });
    });
  }

  private crashed(err: Error): void {
    if (this.stopping) return;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.worker = undefined;
    this.restarts++;
    this.emit('restart', err);
    // The data plane keeps its FIB; the new worker re-registers and rebuilds its state.
    setTimeout(() => {
      if (!this.stopping) this.start().catch((e: Error) => this.emit('log', 'error', `control worker restart failed: ${e.message}`, undefined));
    }, 200);
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
        this.emit('eid-space', m.eids);
        return;
      case 'log':
        this.emit('log', m.level, m.msg, m.fields);
        return;
      case 'reply': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok) p.resolve(m.data);
        else p.reject(new Error(m.error));
        return;
      }
      case 'ready':
        return;
    }
  }

  post(m: ToWorker): void {
    this.worker?.postMessage(m);
  }

  private request<T>(m: Request): Promise<T> {
    const w = this.worker;
    if (!w) return Promise.reject(new Error('control plane is not running'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      w.postMessage({ ...m, id } as ToWorker);
    });
  }

  query<T = unknown>(what: Query): Promise<T> {
    return this.request<T>({ t: 'query', what });
  }

  lig(eid: string, resolver: string, timeoutMs = 2000): Promise<LigResult> {
    return this.request<LigResult>({ t: 'lig', eid, resolver, timeoutMs });
  }

  clearMapCache(): Promise<void> {
    return this.request<void>({ t: 'clear-map-cache' });
  }

  /** Hands a decapsulated instance-id 0xFFFFFF packet to the control plane. */
  encapsulated(bytes: Uint8Array, src: string): void {
    this.post({ t: 'encapsulated', bytes, src });
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

  /** Kills the worker the hard way (tests of the restart path). */
  terminateForTest(): Promise<number> {
    return this.worker?.terminate() ?? Promise.resolve(0);
  }

  async stop(withdraw = true): Promise<void> {
    const w = this.worker;
    if (!w) return;
    try {
      await Promise.race([this.request({ t: 'stop', withdraw }), new Promise((r) => setTimeout(r, 1000))]);
    } finally {
      this.stopping = true;
      await w.terminate();
      this.worker = undefined;
    }
  }
}
