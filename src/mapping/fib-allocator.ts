/**
 * Allocator of word blocks inside one typed-array pool, used by the writer only.
 *
 * Block sizes are rounded up to size classes ~1.2× apart (not powers of two: nodes are rebuilt
 * at their exact size on every change, and power-of-two rounding wasted a third of the trie) and
 * freed blocks are reused by their class. A freed block may still be read by a reader that
 * loaded a pointer to it just before the writer swapped it out, so it waits `reclaimDelayMs` in
 * quarantine before reuse (see the concurrency note in fib.ts). With a delay of 0 (single thread:
 * no reader can be mid-lookup while the writer runs) blocks are reusable at once.
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
  private top = 0;
  /** Size in words of each class, ascending; every size is a multiple of the granularity. */
  private readonly classSizes: number[] = [];
  private readonly free: number[][] = [];
  private quarantine: Retired[] = [];
  private quarantineHead = 0;
  /** Words in live blocks (rounded to their class). */
  liveWords = 0;

  constructor(
    private readonly poolName: string,
    private readonly capacityWords: number,
    /** Offsets and sizes are multiples of this (the RLOC pool needs 2: routes store offset / 2). */
    granularity: number,
    private readonly reclaimDelayMs: number,
    private readonly clock: () => number,
  ) {
    let size = granularity;
    while (size < capacityWords) {
      this.classSizes.push(size);
      const grown = Math.ceil((size * 1.2) / granularity) * granularity;
      size = Math.max(size + granularity, grown);
    }
    this.classSizes.push(size);
  }

  /** Highest word ever handed out: the part of the pool that has been touched. */
  get highWaterWords(): number {
    return this.top;
  }

  private classOf(words: number): number {
    if (!(words >= 1)) throw new FibInputError(this.poolName, `internal: bad block size ${words}`);
    let lo = 0;
    let hi = this.classSizes.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.classSizes[mid] as number) >= words) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  allocate(words: number): number {
    const sizeClass = this.classOf(words);
    const size = this.classSizes[sizeClass] as number;
    this.reclaim();
    const list = this.free[sizeClass];
    let offset = list !== undefined && list.length > 0 ? list.pop() : undefined;
    if (offset === undefined) {
      offset = this.top;
      if (offset + size > this.capacityWords) {
        throw new FibFullError(`FIB ${this.poolName} pool is full (${this.capacityWords} words)`);
      }
      this.top = offset + size;
    }
    this.liveWords += size;
    return offset;
  }

  /** Gives a block back; it becomes reusable after the reclaim delay. */
  release(offset: number, words: number): void {
    const sizeClass = this.classOf(words);
    this.liveWords -= this.classSizes[sizeClass] as number;
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
}
