// JSON for the API: BigInt as "0x…" hex strings, bytes as hex, so every answer is plain JSON.
export function toJson(value: unknown, space?: number): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') return `0x${v.toString(16)}`;
    if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
    return v;
  }, space);
}
