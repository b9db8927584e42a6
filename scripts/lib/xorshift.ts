// xorshift32: a small, fast generator the fuzzers use so a run is reproducible from its seed.

export class Xorshift32 {
  private state: number;

  constructor(seed: number) {
    this.state = (seed >>> 0) || 1;
  }

  next(): number {
    let s = this.state;
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    this.state = s;
    return s;
  }

  /** A whole number in [0, n). */
  below(n: number): number {
    return this.next() % n;
  }
}
