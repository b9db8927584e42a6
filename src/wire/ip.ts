// Text forms of IP addresses for the decoded model. IPv6 text follows RFC 5952 §4 (lower case,
// longest run of two or more zero groups compressed, first run on a tie), so the text form is
// canonical and decode/encode round-trips.

const DEC = Array.from({ length: 256 }, (_, i) => String(i));
const HEX16 = (v: number): string => v.toString(16);

// Control messages name the same few RLOCs and EIDs again and again; a small direct-mapped cache
// of their text forms saves building a string per address (the codec benchmark's main cost).
const V4_CACHE_SIZE = 1024;
const v4Keys = new Uint32Array(V4_CACHE_SIZE);
const v4Texts: (string | undefined)[] = new Array<string | undefined>(V4_CACHE_SIZE).fill(undefined);

export function formatIpv4(b: Uint8Array, off: number): string {
  const key = ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
  const slot = (Math.imul(key, 0x9e3779b1) >>> 22) & (V4_CACHE_SIZE - 1);
  const cached = v4Texts[slot];
  if (cached !== undefined && v4Keys[slot] === key) return cached;
  const text = `${DEC[b[off]]}.${DEC[b[off + 1]]}.${DEC[b[off + 2]]}.${DEC[b[off + 3]]}`;
  v4Keys[slot] = key;
  v4Texts[slot] = text;
  return text;
}

export function formatIpv6(b: Uint8Array, off: number): string {
  const g = new Array<number>(8);
  for (let i = 0; i < 8; i++) g[i] = (b[off + 2 * i] << 8) | b[off + 2 * i + 1];
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return g.map(HEX16).join(':');
  const head = g.slice(0, bestStart).map(HEX16).join(':');
  const tail = g.slice(bestStart + bestLen).map(HEX16).join(':');
  return `${head}::${tail}`;
}

/** Parses dotted-quad IPv4 into `out[off..off+4]`; returns false when the text is not IPv4. */
export function parseIpv4(text: string, out: Uint8Array, off: number): boolean {
  const n = text.length;
  if (n < 7 || n > 15) return false;
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 46; // a virtual '.' closes the last part
    if (c === 46) {
      if (digits === 0 || part > 3) return false;
      out[off + part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return false; // no leading zeros: "01" is ambiguous (octal)
      value = value * 10 + (c - 48);
      if (value > 255) return false;
      digits++;
    } else {
      return false;
    }
  }
  return part === 4;
}

/** Parses IPv6 text (with optional embedded IPv4 tail) into 16 bytes; false when invalid. */
export function parseIpv6(text: string, out: Uint8Array, off: number): boolean {
  if (text.length < 2 || text.length > 45) return false;
  const dbl = text.indexOf('::');
  if (dbl !== -1 && text.indexOf('::', dbl + 1) !== -1) return false;
  const groups: number[] = [];
  const parseSide = (side: string, allowV4Tail: boolean): number[] | null => {
    if (side === '') return [];
    const items = side.split(':');
    const res: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (allowV4Tail && i === items.length - 1 && it.includes('.')) {
        const v4 = new Uint8Array(4);
        if (!parseIpv4(it, v4, 0)) return null;
        res.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return null;
      res.push(parseInt(it, 16));
    }
    return res;
  };
  if (dbl === -1) {
    const all = parseSide(text, true);
    if (!all || all.length !== 8) return false;
    groups.push(...all);
  } else {
    const head = parseSide(text.slice(0, dbl), false);
    const tail = parseSide(text.slice(dbl + 2), true);
    if (!head || !tail || head.length + tail.length > 7) return false;
    groups.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  }
  for (let i = 0; i < 8; i++) {
    out[off + 2 * i] = groups[i] >>> 8;
    out[off + 2 * i + 1] = groups[i] & 0xff;
  }
  return true;
}
