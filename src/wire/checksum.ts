// Internet checksum (RFC 1071) helpers for headers the control plane builds.

/** One's-complement sum of `buf[start..end)` folded to 16 bits, added to `initial`. */
export function onesSum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export function finishChecksum(sum: number): number {
  return ~sum & 0xffff;
}

/** UDP checksum over an IPv4 or IPv6 pseudo-header (RFC 768, RFC 8200 §8.1). */
export function udpChecksum(src: Uint8Array, dst: Uint8Array, udp: Uint8Array, udpStart: number, udpEnd: number): number {
  const len = udpEnd - udpStart;
  let sum = onesSum(src, 0, src.length);
  sum = onesSum(dst, 0, dst.length, sum);
  sum += 17 + (len & 0xffff) + (len >>> 16);
  sum = onesSum(udp, udpStart, udpEnd, sum);
  const c = finishChecksum(sum);
  // RFC 768: a computed zero is sent as all ones (zero means "no checksum" over IPv4).
  return c === 0 ? 0xffff : c;
}
