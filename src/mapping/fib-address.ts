/**
 * String ⇄ number conversions for FIB addresses and prefixes. For configuration, tests and the
 * map-cache sync only: the hot path takes addresses as uint32 words and never sees a string.
 *
 * An address is held as 32-bit words, most significant first: IPv4 = one word, IPv6 = four words.
 */

/** Address family of an EID or RLOC, as the number of the IP version. */
export type AddressFamily = 4 | 6;

/** A bad prefix, address or argument given to the FIB; `field` names the offending input. */
export class FibInputError extends Error {
  override readonly name = 'FibInputError';
  constructor(readonly field: string, readonly reason: string) {
    super(`${field}: ${reason}`);
  }
}

/** A numeric EID prefix. `words` has 1 (IPv4) or 4 (IPv6) entries; bits past `length` are 0. */
export interface NumericPrefix {
  readonly family: AddressFamily;
  readonly words: readonly number[];
  readonly length: number;
}

/** A numeric address (e.g. an RLOC). */
export interface NumericAddress {
  readonly family: AddressFamily;
  readonly words: readonly number[];
}

const IPV4_PART = /^(0|[1-9][0-9]{0,2})$/;

/** Parses dotted-quad IPv4 into one uint32. */
export function parseIpv4(text: string, field = 'address'): number {
  const parts = text.split('.');
  if (parts.length !== 4) throw new FibInputError(field, `"${text}" is not an IPv4 address (need 4 dotted parts)`);
  let value = 0;
  for (const part of parts) {
    if (!IPV4_PART.test(part) || Number(part) > 255) {
      throw new FibInputError(field, `"${text}" is not an IPv4 address (bad part "${part}")`);
    }
    value = value * 256 + Number(part);
  }
  return value >>> 0;
}

/** Parses IPv6 text (with :: and an optional dotted IPv4 tail) into four uint32 words. */
export function parseIpv6(text: string, field = 'address'): [number, number, number, number] {
  const bad = (why: string): FibInputError => new FibInputError(field, `"${text}" is not an IPv6 address (${why})`);
  const halves = text.split('::');
  if (halves.length > 2) throw bad('more than one "::"');
  const groups = (half: string): number[] => {
    if (half === '') return [];
    const out: number[] = [];
    const pieces = half.split(':');
    pieces.forEach((piece, i) => {
      if (piece.includes('.') && i === pieces.length - 1) {
        const v4 = parseIpv4(piece, field);
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        throw bad(`bad group "${piece}"`);
      }
    });
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  let all: number[];
  if (halves.length === 2) {
    if (head.length + tail.length > 7) throw bad('too many groups around "::"');
    all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    if (head.length !== 8) throw bad(`need 8 groups, got ${head.length}`);
    all = head;
  }
  const word = (i: number): number => ((all[2 * i] ?? 0) * 65536 + (all[2 * i + 1] ?? 0)) >>> 0;
  return [word(0), word(1), word(2), word(3)];
}

/** Parses an IPv4 or IPv6 address (chosen by the presence of ':'). */
export function parseAddress(text: string, field = 'address'): NumericAddress {
  if (text.includes(':')) return { family: 6, words: parseIpv6(text, field) };
  return { family: 4, words: [parseIpv4(text, field)] };
}

/** Mask of the top `bits` bits (0..32) of a word. */
export function wordMask(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/**
 * Builds a prefix from numbers, checking the length and that no host bits are set (a set host
 * bit usually means a typo in the configuration, so it is an error rather than silently masked).
 */
export function makePrefix(family: AddressFamily, words: readonly number[], length: number, field = 'prefix'): NumericPrefix {
  const bits = family === 4 ? 32 : 128;
  const wordCount = family === 4 ? 1 : 4;
  if (!Number.isInteger(length) || length < 0 || length > bits) {
    throw new FibInputError(field, `prefix length ${length} is out of range 0..${bits} for IPv${family}`);
  }
  if (words.length !== wordCount) throw new FibInputError(field, `IPv${family} needs ${wordCount} address word(s), got ${words.length}`);
  const out: number[] = [];
  for (let i = 0; i < wordCount; i++) {
    const w = words[i] ?? 0;
    if (!Number.isInteger(w) || w < 0 || w > 0xffffffff) throw new FibInputError(field, `address word ${i} (${w}) is not a uint32`);
    const masked = (w & wordMask(length - 32 * i)) >>> 0;
    if (masked !== w) throw new FibInputError(field, `host bits are set beyond /${length}`);
    out.push(masked);
  }
  return { family, words: out, length };
}

/** Parses "10.0.0.0/8" or "2001:db8::/32". */
export function parsePrefix(text: string, field = 'prefix'): NumericPrefix {
  const slash = text.indexOf('/');
  if (slash < 0) throw new FibInputError(field, `"${text}" has no "/length"`);
  const lengthText = text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(lengthText)) throw new FibInputError(field, `"${text}" has a bad prefix length "${lengthText}"`);
  const address = parseAddress(text.slice(0, slash), field);
  return makePrefix(address.family, address.words, Number(lengthText), field);
}

/** Formats one uint32 as dotted-quad. */
export function formatIpv4(word: number): string {
  return `${word >>> 24}.${(word >>> 16) & 255}.${(word >>> 8) & 255}.${word & 255}`;
}

/** Formats four uint32 words as IPv6 text (RFC 5952: lowercase, longest zero run as "::"). */
export function formatIpv6(words: readonly number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 4; i++) groups.push(((words[i] ?? 0) >>> 16) & 0xffff, (words[i] ?? 0) & 0xffff);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = (list: number[]): string => list.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/** Formats an address of either family. */
export function formatAddress(family: AddressFamily, words: readonly number[]): string {
  return family === 4 ? formatIpv4(words[0] ?? 0) : formatIpv6(words);
}

/** Formats a prefix as "address/length". */
export function formatPrefix(prefix: NumericPrefix): string {
  return `${formatAddress(prefix.family, prefix.words)}/${prefix.length}`;
}
