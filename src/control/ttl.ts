// Record TTLs (RFC 9301 §5.4): minutes, 0xffffffff = receiver decides. lispers.net's extension:
// with the high bit set the low 31 bits are seconds, which lets tests and mobile nodes use
// lifetimes shorter than a minute.

export const TTL_RECEIVER_DECIDES = 0xffffffff;

export function recordTtlToMs(ttl: number, fallbackMs: number): number {
  if (ttl === TTL_RECEIVER_DECIDES) return fallbackMs;
  if (ttl & 0x80000000) return (ttl & 0x7fffffff) * 1000;
  return ttl * 60_000;
}

export function msToRecordTtl(ms: number): number {
  if (ms <= 0) return 0;
  if (ms % 60_000 === 0) return ms / 60_000;
  return (0x80000000 | Math.max(1, Math.round(ms / 1000))) >>> 0;
}
