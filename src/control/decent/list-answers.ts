// Anti-entropy both ways (push-pull gossip). Each registration period a member sends its member
// list to one other member (push.ts periodic()); on its own that only teaches the receiver. Two
// members that missed each other (a lost delta or registration while the group formed) were
// found only when some third member happened to push a list to one of them: with a 60 s period
// and 3 % loss, 100 simulated members had not converged after 300 s. So the receiver of a whole
// list answers with the members it knows that the list lacked: both ends learn in one exchange.
// Small lists (a newcomer's delta, recent joiners) and lists much shorter than ours are notices,
// not a member's whole view, and get no answer; an answer is short, so it is never answered.
import type { RleEntry } from '../../wire';
import { rleEntry } from '../locators';

/** Pages of one list arrive together: collected this long before answering. */
const PAGES_WINDOW_MS = 100;
/** Fewer members than this in a list: a notice (delta, recent joiners), not a whole list. */
const MIN_WHOLE_LIST = 8;
/** Senders whose pages are being collected at once (more are not answered: bounded work). */
const MAX_COLLECTING = 16;

export interface ListAnswerEnv {
  setTimeout(fn: () => void, ms: number): unknown;
}

export class ListAnswers {
  private readonly collecting = new Map<string, Set<string>>();

  /**
   * `members()`: the members we know (our group entry); `isOwn(ip)`: one of our RLOCs; `send`:
   * sends `src` a member list, false if nothing was sent.
   */
  constructor(
    private readonly env: ListAnswerEnv, private readonly members: () => readonly string[],
    private readonly isOwn: (ip: string) => boolean, private readonly send: (dst: string, named: readonly RleEntry[]) => boolean,
  ) {}

  /** A member list (one page) from `src`, authenticated. */
  heard(ips: readonly string[], src: string): void {
    let named = this.collecting.get(src);
    if (!named) {
      if (ips.length < MIN_WHOLE_LIST || this.collecting.size >= MAX_COLLECTING) return;
      const collected = new Set<string>();
      named = collected;
      this.collecting.set(src, collected);
      this.env.setTimeout(() => {
        this.collecting.delete(src);
        this.answer(src, collected);
      }, PAGES_WINDOW_MS);
    }
    for (const ip of ips) named.add(ip);
  }

  clear(): void {
    this.collecting.clear();
  }

  /** Answers `src` with what its list lacked, when the list was a whole view (at least half of ours). */
  private answer(src: string, named: ReadonlySet<string>): boolean {
    const mine = this.members();
    if (named.size * 2 < mine.length) return false;
    const lacked = mine.filter((ip) => !named.has(ip) && ip !== src && !this.isOwn(ip));
    return lacked.length > 0 && this.send(src, lacked.map((ip) => rleEntry(ip)));
  }
}
