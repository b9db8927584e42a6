// `decent decode --crypto-key`: decrypts LISP-crypto data packets (RFC 8061) of a capture. The
// key exchanges are read from the capture itself — a Map-Request whose ITR-RLOC carries the ITR's
// key, the Map-Reply with the same nonce carrying the ETR's — and a private key of either side
// derives the keys of that direction (RFC 8061 §6, or lispers.net's variant: both are tried, the
// ICV tells which one the sender used).
import {
  deriveTrafficKeys, keyPairFromPrivate, openData, type CryptoVariant, type TrafficKeys, type X25519KeyPair,
} from '../crypto';
import type { Address, SecurityKeyLcaf } from '../wire';
import type { DecodedDatagram } from './decode-analyze';

export type DecryptVerdict = 'ok' | 'icv' | 'no-key';

export interface Decrypted {
  readonly verdict: DecryptVerdict;
  readonly suite?: number;
  readonly variant?: CryptoVariant;
  readonly inner?: Buffer;
}

/** Parses `HEX[,HEX…]`: 32-byte X25519 private keys. Returns an error message on bad input. */
export function parsePrivateKeys(text: string): Uint8Array[] | string {
  const out: Uint8Array[] = [];
  for (const part of text.split(',')) {
    const h = part.trim();
    if (!/^[0-9a-fA-F]{64}$/.test(h)) return `--crypto-key wants 64 hex digits (a 32-byte X25519 private key) per key, comma-separated; got ${JSON.stringify(h.slice(0, 80))}`;
    out.push(Buffer.from(h, 'hex'));
  }
  return out;
}

function securityKey(a: Address): SecurityKeyLcaf | undefined {
  if (a.kind !== 'lcaf') return undefined;
  if (a.lcaf.type === 'security-key') return a.lcaf;
  if (a.lcaf.type === 'afi-list') for (const i of a.lcaf.items) {
    const k = securityKey(i);
    if (k) return k;
  }
  return undefined;
}

function ipOf(k: SecurityKeyLcaf): string | undefined {
  const a = k.address;
  return a && (a.kind === 'ipv4' || a.kind === 'ipv6') ? a.ip : undefined;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class CaptureKeys {
  private readonly pairs: X25519KeyPair[];
  /** Map-Requests with a key, by nonce: the ITR's RLOC, key, key-id and suite. */
  private readonly requests = new Map<bigint, { itr: string; key: Uint8Array; keyId: number; suite: number }>();
  /** Derived keys by `ITR RLOC>ETR RLOC>key-id`, newest first. */
  private readonly keys = new Map<string, TrafficKeys[]>();

  constructor(privateKeys: readonly Uint8Array[]) {
    this.pairs = privateKeys.map((k) => keyPairFromPrivate(k));
  }

  /** Learns the key exchanges of a decoded datagram (outer or ECM-inner messages). */
  learn(d: DecodedDatagram): void {
    for (const m of [d.message, d.inner]) {
      if (!m) continue;
      if (m.type === 'map-request' && m.itrRlocs.length) {
        const k = securityKey(m.itrRlocs[0]);
        const itr = k && ipOf(k);
        if (k && itr && k.keys.length) this.requests.set(m.nonce, { itr, key: k.keys[k.keys.length - 1], keyId: k.keys.length, suite: k.cipherSuite });
      }
      if (m.type === 'map-reply') {
        const req = this.requests.get(m.nonce);
        if (!req) continue;
        for (const l of m.records.flatMap((r) => r.locators)) {
          const k = securityKey(l.address);
          const etr = k && ipOf(k);
          if (k && etr && k.keys.length) this.derive(req.itr, req.key, etr, k.keys[Math.min(req.keyId, k.keys.length) - 1], req.keyId, k.cipherSuite, m.nonce);
        }
      }
    }
  }

  private derive(itr: string, itrKey: Uint8Array, etr: string, etrKey: Uint8Array, keyId: number, suite: number, nonce: bigint): void {
    for (const p of this.pairs) {
      const mine = hex(p.publicKey);
      const peerPublic = mine === hex(itrKey) ? etrKey : mine === hex(etrKey) ? itrKey : undefined;
      if (!peerPublic) continue;
      for (const variant of ['rfc', 'lispers'] as const) {
        const r = deriveTrafficKeys({ variant, suite, privateKey: p.privateKey, ownPublic: p.publicKey, peerPublic, itrNonce: nonce });
        if (!r.ok) continue;
        const k = `${itr}>${etr}>${keyId}`;
        const list = this.keys.get(k) ?? [];
        if (!list.some((x) => x.encryptKey.equals(r.keys.encryptKey) && x.spec.variant === variant)) list.unshift(r.keys);
        this.keys.set(k, list.slice(0, 8));
      }
    }
  }

  /** Opens an encrypted data packet (KK != 0); undefined for anything else. */
  open(d: DecodedDatagram): Decrypted | undefined {
    const m = d.message;
    if (!m || m.type !== 'data' || m.header.keyId === 0) return undefined;
    const g = d.datagram;
    const candidates = this.keys.get(`${g.ip.source}>${g.ip.destination}>${m.header.keyId}`);
    if (!candidates?.length) return { verdict: 'no-key' };
    for (const keys of candidates) {
      const o = openData(keys, g.payload);
      if (o.ok) return { verdict: 'ok', suite: keys.spec.suite, variant: keys.spec.variant, inner: o.inner };
    }
    return { verdict: 'icv' };
  }
}
