/**
 * Allocator of word blocks inside one typed-array pool, used by the writer only.
 *
 * Blocks come in power-of-two size classes, aligned to their size, so freed blocks are reused
 * exactly. A freed block may still be read by a reader that loaded a pointer to it just before
 * the writer swapped it out, so it waits `reclaimDelayMs` in quarantine before reuse (see the
 * concurrency note in fib.ts). With a delay of 0 (single thread: no reader can be mid-lookup
 * while the writer runs) blocks are reusable at once.
 */
import { FibInputError } from './fib-address';

export class FibFullError extends Error {
  override readonly name = 'FibFullError';
}

interface Retired {
  readonly offset: number;
  readonly sizeClass: number;
  readonly releaseAt: number;
}

export class BlockAllocator {
  private top: number;
  private readonly free: number[][] = [];
  private quarantine: Retired[] = [];
  private quarantineHead = 0;
  /** Words in live blocks (rounded to their class). */
  liveWords = 0;

  constructor(
    private readonly poolName: string,
    private readonly capacityWords: number,
    private readonly minClass: number,
    private readonly reclaimDelayMs: number,
    private readonly clock: () => number,
    reservedWords = 0,
  ) {
    this.top = reservedWords;
  }

  /** Highest word ever handed out: the part of the pool that has been touched. */
  get highWaterWords(): number {
    return this.top;
  }

  static classOf(words: number, minClass: number): number {
    let c = minClass;
    while ((1 << c) < words) c++;
    return c;
  }

  allocate(words: number): number {
    const sizeClass = BlockAllocator.classOf(words, this.minClass);
    this.reclaim();
    const list = this.free[sizeClass];
    let offset = list !== undefined && list.length > 0 ? list.pop() : undefined;
    if (offset === undefined) {
      const size = 1 << sizeClass;
      offset = Math.ceil(this.top / size) * size;
      if (offset + size > this.capacityWords) {
        throw new FibFullError(`FIB ${this.poolName} pool is full (${this.capacityWords} words)`);
      }
      // Alignment gaps become free blocks of smaller classes rather than being lost.
      this.freeGap(this.top, offset);
      this.top = offset + size;
    }
    this.liveWords += 1 << sizeClass;
    return offset;
  }

  /** Gives a block back; it becomes reusable after the reclaim delay. */
  release(offset: number, words: number): void {
    const sizeClass = BlockAllocator.classOf(words, this.minClass);
    this.liveWords -= 1 << sizeClass;
    if (this.reclaimDelayMs <= 0) {
      this.pushFree(sizeClass, offset);
      return;
    }
    this.quarantine.push({ offset, sizeClass, releaseAt: this.clock() + this.reclaimDelayMs });
  }

  /** Moves blocks whose quarantine is over to the free lists. */
  reclaim(): void {
    if (this.quarantineHead >= this.quarantine.length) return;
    const now = this.clock();
    while (this.quarantineHead < this.quarantine.length) {
      const retired = this.quarantine[this.quarantineHead];
      if (retired === undefined || retired.releaseAt > now) break;
      this.pushFree(retired.sizeClass, retired.offset);
      this.quarantineHead++;
    }
    if (this.quarantineHead > 1024 && this.quarantineHead * 2 > this.quarantine.length) {
      this.quarantine = this.quarantine.slice(this.quarantineHead);
      this.quarantineHead = 0;
    }
  }

  private pushFree(sizeClass: number, offset: number): void {
    let list = this.free[sizeClass];
    if (list === undefined) {
      list = [];
      this.free[sizeClass] = list;
    }
    list.push(offset);
  }

  private freeGap(from: number, to: number): void {
    let at = from;
    while (at < to) {
      // Largest aligned power-of-two block starting at `at` that fits before `to`.
      let c = this.minClass;
      while ((at % (1 << (c + 1))) === 0 && at + (1 << (c + 1)) <= to) c++;
      if (at % (1 << c) !== 0 || at + (1 << c) > to) {
        throw new FibInputError(this.poolName, `internal: unaligned gap ${from}..${to}`);
      }
      this.pushFree(c, at);
      at += 1 << c;
    }
  }
}
