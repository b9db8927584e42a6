/**
 * The one error the wire decoders throw: what was wrong and at which byte offset of the input.
 * Anything else escaping a decoder is a bug (scripts/fuzz-wire hunts for those).
 */
export class WireError extends Error {
  override readonly name = 'WireError';
  constructor(
    /** Short description of the problem, without the offset. */
    readonly reason: string,
    /** Byte offset in the decoded buffer where the problem was found. */
    readonly offset: number,
  ) {
    super(`${reason} (at byte ${offset})`);
  }
}
