// The LISP data header (RFC 9300 §5.1, fields in §5.3).
import {
  DATA_FLAG_E as E, DATA_FLAG_I as I, DATA_FLAG_L as L, DATA_FLAG_N as N, DATA_FLAG_R as R, DATA_FLAG_V as V,
  DATA_HEADER_LENGTH, DATA_KEY_ID_MASK as KK, MAX_INSTANCE_ID,
} from './constants';
import { WireError } from './errors';
import type { DataHeader, DataPacket } from './types';

/** Reads the 8-byte header at `off`. The caller guarantees 8 bytes are there. */
export function readDataHeader(b: Uint8Array, off: number): DataHeader {
  const flags = b[off];
  const nonce = (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
  const iidPresent = (flags & I) !== 0;
  const h: { -readonly [K in keyof DataHeader]: DataHeader[K] } = {
    noncepresent: (flags & N) !== 0,
    lsbEnabled: (flags & L) !== 0,
    echoNonce: (flags & E) !== 0,
    mapVersioning: (flags & V) !== 0,
    iidPresent,
    keyId: flags & KK,
    nonce,
    lsb: iidPresent ? b[off + 7] : ((b[off + 4] << 24) | (b[off + 5] << 16) | (b[off + 6] << 8) | b[off + 7]) >>> 0,
  };
  if (iidPresent) h.iid = (b[off + 4] << 16) | (b[off + 5] << 8) | b[off + 6];
  if (flags & R) h.rBit = true;
  return h;
}

/**
 * Writes the 8-byte header at `off` from plain numbers: the data plane's form, with no object.
 * `flags` is the first byte (N L E V I R K K); `nonce` 24 bits; `word1` the second word as sent
 * (IID << 8 | LSBs when I is set, else the locator-status-bits).
 */
export function writeDataHeader(b: Uint8Array, off: number, flags: number, nonce: number, word1: number): void {
  b[off] = flags;
  b[off + 1] = (nonce >>> 16) & 0xff;
  b[off + 2] = (nonce >>> 8) & 0xff;
  b[off + 3] = nonce & 0xff;
  b[off + 4] = (word1 >>> 24) & 0xff;
  b[off + 5] = (word1 >>> 16) & 0xff;
  b[off + 6] = (word1 >>> 8) & 0xff;
  b[off + 7] = word1 & 0xff;
}

/** Decodes a UDP 4341 payload: the header and a copy of the inner packet. */
export function decodeData(bytes: Uint8Array): DataPacket {
  if (bytes.length < DATA_HEADER_LENGTH) {
    throw new WireError(`truncated LISP data header: need 8 bytes, ${bytes.length} left`, 0);
  }
  return { type: 'data', header: readDataHeader(bytes, 0), payload: bytes.slice(DATA_HEADER_LENGTH) };
}

export function encodeData(p: DataPacket): Buffer {
  const h = p.header;
  if (h.iidPresent && (h.iid === undefined || h.iid < 0 || h.iid > MAX_INSTANCE_ID)) {
    throw new RangeError(`instance-id must be 0..${MAX_INSTANCE_ID} when I is set, got ${h.iid}`);
  }
  const flags = (h.noncepresent ? N : 0) | (h.lsbEnabled ? L : 0) | (h.echoNonce ? E : 0) |
    (h.mapVersioning ? V : 0) | (h.iidPresent ? I : 0) | (h.rBit ? R : 0) | (h.keyId & KK);
  const word1 = h.iidPresent ? (((h.iid ?? 0) << 8) | (h.lsb & 0xff)) >>> 0 : h.lsb >>> 0;
  const out = Buffer.allocUnsafe(DATA_HEADER_LENGTH + p.payload.length);
  writeDataHeader(out, 0, flags, h.nonce & 0xffffff, word1);
  out.set(p.payload, DATA_HEADER_LENGTH);
  return out;
}
