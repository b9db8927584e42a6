// Anti-replay for LISP-crypto data packets: a sliding window over the IV counters of one key
// (the RFC 6479 bitmap, as WireGuard keeps it), checked only after the ICV verified.

/** Counters this far behind the highest one accepted are still accepted once. */
export const REPLAY_WINDOW = 2048;
const WORD_BITS = 32;
// One word more than the window, so that advancing never clears bits still inside it.
const WORDS = REPLAY_WINDOW / WORD_BITS + 1;

export type ReplayVerdict = 'ok' | 'replay' | 'too-old';

export class ReplayWindow {
  private readonly bits = new Uint32Array(WORDS);
  /** Highest counter accepted; -1 before the first. */
  private greatest = -1;
  replays = 0;
  tooOld = 0;

  /** Would `counter` be accepted? (No state change: for a check before the work of decrypting.) */
  check(counter: number): ReplayVerdict {
    if (!Number.isSafeInteger(counter) || counter < 0) return 'too-old';
    if (counter > this.greatest) return 'ok';
    if (this.greatest - counter >= REPLAY_WINDOW) return 'too-old';
    const word = Math.floor(counter / WORD_BITS) % WORDS;
    return (this.bits[word] & (1 << (counter % WORD_BITS))) !== 0 ? 'replay' : 'ok';
  }

  /** Accepts `counter` once: call after the packet authenticated. Counts what it refuses. */
  accept(counter: number): ReplayVerdict {
    const verdict = this.check(counter);
    if (verdict === 'replay') {
      this.replays += 1;
      return verdict;
    }
    if (verdict === 'too-old') {
      this.tooOld += 1;
      return verdict;
    }
    const index = Math.floor(counter / WORD_BITS);
    if (counter > this.greatest) {
      const current = this.greatest < 0 ? index - WORDS : Math.floor(this.greatest / WORD_BITS);
      const advance = Math.min(index - current, WORDS);
      for (let i = 1; i <= advance; i++) this.bits[(index - advance + i) % WORDS] = 0;
      this.greatest = counter;
    }
    this.bits[index % WORDS] |= 1 << (counter % WORD_BITS);
    return 'ok';
  }

  /** Forgets everything (a key was replaced or wiped). */
  reset(): void {
    this.bits.fill(0);
    this.greatest = -1;
  }
}
