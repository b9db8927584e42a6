// Text forms of IP addresses for the decoded model. IPv6 text follows RFC 5952 §4 (lower case,
// longest run of two or more zero groups compressed, first run on a tie), so the text form is
// canonical and decode/encode round-trips.

const DEC = Array.from({ length: 256 }, (_, i) => String(i));
const HEX16 = (v: number): string => v.toString(16);

export function formatIpv4(b: Uint8Array, off: number): string {
  return `${DEC[b[off]]}.${DEC[b[off + 1]]}.${DEC[b[off + 2]]}.${DEC[b[off + 3]]}`;
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
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return false;
    const v = Number(p);
    if (v > 255) return false;
    out[off + i] = v;
  }
  return true;
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
