// IP address <-> bytes for the addon's address tables (entry layout: see ADDR_STRIDE in
// layout.ts and dn.h) and CIDR parsing for TUN addresses and routes.
import { isIP } from 'node:net';
import { ADDR_STRIDE } from './layout';

export type Family = 4 | 6;

export function familyOf(ip: string): Family {
  const f = isIP(ip);
  if (f !== 4 && f !== 6) throw new TypeError(`"${ip}" is not an IPv4 or IPv6 address`);
  return f;
}

/** Address to network-order bytes (4 or 16). RFC 4291 §2.2 text forms, incl. "::" and an embedded IPv4 tail. */
export function ipToBytes(ip: string): Uint8Array {
  const family = familyOf(ip);
  if (family === 4) return Uint8Array.from(ip.split('.').map(Number));
  const out = new Uint8Array(16);
  let text = ip.split('%')[0];
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = ipToBytes(text.slice(lastColon + 1));
    tail.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    text = text.slice(0, lastColon + 1) + '0:0'; // two placeholder groups, replaced below
  }
  const [head, rest] = text.split('::');
  const groups = (s: string | undefined): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  let words = groups(head);
  if (rest !== undefined) {
    const back = groups(rest);
    words = [...words, ...new Array<number>(8 - words.length - back.length).fill(0), ...back];
  }
  if (tail.length) words = [...words.slice(0, 6), ...tail];
  words.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 0xff; });
  return out;
}

export function bytesToIp(b: Uint8Array, family: Family): string {
  if (family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i] << 8) | b[i + 1]).toString(16));
  // RFC 5952 §4.2: compress the longest run of zero words
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

export interface Cidr {
  address: string;
  family: Family;
  bytes: Uint8Array;
  prefixLength: number;
}

export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  if (slash < 0) throw new TypeError(`"${text}" is not a prefix: expected address/length, e.g. 10.1.0.0/16`);
  const address = text.slice(0, slash);
  const family = familyOf(address);
  const lenText = text.slice(slash + 1);
  const prefixLength = Number(lenText);
  const max = family === 4 ? 32 : 128;
  if (!/^\d+$/.test(lenText) || prefixLength > max) {
    throw new RangeError(`"${text}": prefix length must be 0..${max}`);
  }
  return { address, family, bytes: ipToBytes(address), prefixLength };
}

/** Zero the host bits (routes must be given by their network address). */
export function maskBytes(b: Uint8Array, prefixLength: number): Uint8Array {
  const out = Uint8Array.from(b);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixLength - 8 * i));
    out[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return out;
}

/** A table of (address, port) entries that descriptors refer to by index (D.ADDR). */
export class AddressTable {
  readonly bytes: Uint8Array;

  constructor(readonly capacity: number) {
    this.bytes = new Uint8Array(capacity * ADDR_STRIDE);
  }

  set(index: number, ip: string, port: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.capacity) {
      throw new RangeError(`address index ${index} is outside the table (capacity ${this.capacity})`);
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port ${port} is not 0..65535`);
    const family = familyOf(ip);
    const o = index * ADDR_STRIDE;
    this.bytes.fill(0, o, o + ADDR_STRIDE);
    this.bytes[o] = family;
    this.bytes[o + 2] = port >> 8;
    this.bytes[o + 3] = port & 0xff;
    this.bytes.set(ipToBytes(ip), o + 4);
  }

  get(index: number): { address: string; port: number; family: Family } | undefined {
    return readAddress(this.bytes, index);
  }
}

export function readAddress(table: Uint8Array, index: number): { address: string; port: number; family: Family } | undefined {
  const o = index * ADDR_STRIDE;
  const family = table[o];
  if (family !== 4 && family !== 6) return undefined;
  return {
    family,
    port: (table[o + 2] << 8) | table[o + 3],
    address: bytesToIp(table.subarray(o + 4, o + 4 + (family === 4 ? 4 : 16)), family),
  };
}
