// Head-end replicated control packets (instance-id 0xFFFFFF) on their way from the data plane
// to the control worker (issue 12, finding 5): a bounded queue, drained in batches (one
// postMessage per batch, not per packet) as fast as the worker acknowledges them. A flood fills
// the queue and the excess is dropped and counted here, before it costs the worker anything; each
// outer source has its own budget first, so one flooding address cannot fill the queue.
import type { DataPlaneCounters } from './counters';
import { TokenBucket } from '../limits/token-bucket';

/** Packets waiting for the worker (beyond it: dropped, counted in dropControlQueueFull). */
export const CONTROL_QUEUE_PACKETS = 1024;
/** Bytes waiting for the worker. */
export const CONTROL_QUEUE_BYTES = 1 << 20;
/** Packets per hand-over. */
export const CONTROL_BATCH = 256;
/**
 * Per outer source: a burst of 200 packets, refilled at 100/s, so one flooding address cannot fill
 * the queue that members' registrations need (a member sends a few per second). Sources tracked
 * at once: 1,024 (full buckets are forgotten first; beyond that new sources share one bucket).
 */
export const SOURCE_BURST = 200;
export const SOURCE_REFILL_PER_S = 100;
export const SOURCES_MAX = 1024;

/** Takes a batch; false when the consumer is busy (the batch stays queued). */
export type ControlConsumer = (packets: readonly Uint8Array[], sources: readonly string[], ports: readonly number[]) => boolean;

export class ControlQueue {
  private packets: Uint8Array[] = [];
  private sources: string[] = [];
  /** Outer source ports: a data-port Info-Request tells the RTR a NAT's translated port. */
  private ports: number[] = [];
  private bytes = 0;
  private readonly sourceBuckets = new Map<string, TokenBucket>();
  private readonly shared = new TokenBucket(SOURCE_BURST, SOURCE_REFILL_PER_S);

  constructor(
    private readonly c: DataPlaneCounters,
    private readonly maxPackets = CONTROL_QUEUE_PACKETS,
    private readonly maxBytes = CONTROL_QUEUE_BYTES,
    private readonly batch = CONTROL_BATCH,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a token from the source's bucket; false when it used its budget. */
  private admit(src: string): boolean {
    const now = this.now();
    let b = this.sourceBuckets.get(src);
    if (!b) {
      if (this.sourceBuckets.size >= SOURCES_MAX) {
        for (const [k, v] of this.sourceBuckets) if (v.isFull(now)) this.sourceBuckets.delete(k);
      }
      if (this.sourceBuckets.size >= SOURCES_MAX) {
        b = this.shared;
      } else {
        b = new TokenBucket(SOURCE_BURST, SOURCE_REFILL_PER_S, now);
        this.sourceBuckets.set(src, b);
      }
    }
    return b.take(now);
  }

  get length(): number {
    return this.packets.length;
  }

  /** Queues a copy of b[at, at+len) from `src`:`sport`, or drops it when the queue is full. */
  push(b: Uint8Array, at: number, len: number, src: string, sport = 0): void {
    this.c.encapsulatedControl++;
    if (!this.admit(src)) {
      this.c.dropControlSourceBudget++;
      return;
    }
    if (this.packets.length >= this.maxPackets || this.bytes + len > this.maxBytes) {
      this.c.dropControlQueueFull++;
      return;
    }
    // a copy: b is the receive pool, reused by the next batch (Buffer#slice would be a view)
    this.packets.push(Uint8Array.prototype.slice.call(b, at, at + len));
    this.sources.push(src);
    this.ports.push(sport);
    this.bytes += len;
    if (this.packets.length > this.c.controlQueueHigh) this.c.controlQueueHigh = this.packets.length;
  }

  /** Hands queued packets over in batches until the queue is empty or the consumer is busy. */
  drain(consumer: ControlConsumer): void {
    while (this.packets.length > 0) {
      const n = Math.min(this.batch, this.packets.length);
      const packets = this.packets.slice(0, n), sources = this.sources.slice(0, n), ports = this.ports.slice(0, n);
      let taken: boolean;
      try {
        taken = consumer(packets, sources, ports);
      } catch {
        // a consumer that throws would otherwise get the same batch forever
        this.c.dropControlConsumerError += n;
        taken = true;
      }
      if (!taken) return;
      this.packets.splice(0, n);
      this.sources.splice(0, n);
      this.ports.splice(0, n);
      for (const p of packets) this.bytes -= p.length;
      this.c.controlBatches++;
      this.c.controlHandedOver += n;
    }
  }

  clear(): void {
    this.packets = [];
    this.sources = [];
    this.ports = [];
    this.bytes = 0;
  }
}
