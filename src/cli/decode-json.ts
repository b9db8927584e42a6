// `decent decode --json`: one JSON object per LISP datagram.
// bigint → "0x…" hex (nonces, xTR-IDs keep their full width), bytes → plain hex strings.
import type { DecodedDatagram } from './decode-analyze';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Fixed hex widths (in digits) of the bigint fields, so leading zero bytes stay visible. */
const BIGINT_WIDTH: Readonly<Record<string, number>> = { nonce: 16, xtrId: 32, siteId: 16 };

export function toJson(value: unknown, key = ''): Json | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return `0x${value.toString(16).padStart(BIGINT_WIDTH[key] ?? 0, '0')}`;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (Array.isArray(value)) return value.map((v: unknown) => toJson(v) ?? null);
  if (typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) {
      const j = toJson(v, k);
      if (j !== undefined) out[k] = j;
    }
    return out;
  }
  return String(value);
}

export function datagramJson(d: DecodedDatagram): string {
  const { datagram } = d;
  let message: unknown = d.message;
  if (d.message?.type === 'ecm') {
    // The ECM's inner header and message are lifted to top-level `innerIp` / `inner`.
    const { inner: _header, message: _inner, ...rest } = d.message;
    message = rest;
  }
  const obj = {
    frame: datagram.frame.number,
    time: Math.round(d.time * 1e6) / 1e6,
    src: datagram.ip.source,
    sport: datagram.udp.sourcePort,
    dst: datagram.ip.destination,
    dport: datagram.udp.destinationPort,
    length: datagram.payload.length,
    type: d.type,
    message,
    innerIp: d.innerIp,
    inner: d.inner,
    innerPacket: d.innerPacket,
    unknownType: d.unknownType,
    auth: d.auth,
    decrypted: d.decrypted,
    error: d.error,
  };
  return `${JSON.stringify(toJson(obj))}\n`;
}
