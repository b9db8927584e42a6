// What decent does with each LISP-crypto cipher suite (RFC 8061 §5), per key-derivation variant:
// `rfc` between decent nodes, `lispers` for lispers.net peers (test/vectors/next/lispers-crypto-README.md).
import {
  CS_MODP2048_AES128_CBC_SHA256, CS_MODP2048_AES128_GCM, CS_MODP3072_AES128_GCM, CS_X25519_AES128_CBC_SHA256,
  CS_X25519_AES128_GCM, CS_X25519_CHACHA20_POLY1305, cipherSuiteName,
} from '../wire/cipher-suites';

/** `rfc`: RFC 8061 as written. `lispers`: lispers.net's derivation and suite-2 format (decent.lispers-compat). */
export type CryptoVariant = 'rfc' | 'lispers';

export type CipherName = 'chacha20-poly1305' | 'aes-128-gcm' | 'aes-128-cbc';

export interface SuiteSpec {
  readonly suite: number;
  readonly variant: CryptoVariant;
  readonly cipher: CipherName;
  /** Bytes of IV after the LISP header (RFC 8061 §5 "IV length"). */
  readonly ivLength: number;
  /** Bytes of ICV at the end of the packet. */
  readonly icvLength: number;
  /** Bytes of the encryption key. */
  readonly encryptKeyLength: number;
  /** Bytes of the separate ICV (HMAC) key; 0 for the AEADs, whose tag needs none. */
  readonly icvKeyLength: number;
  /** The IV is a per-key counter (replay window applies); false: random per packet. */
  readonly counterIv: boolean;
}

export type SuiteCheck = { readonly ok: true; readonly spec: SuiteSpec } | { readonly ok: false; readonly error: string };

const SPECS: readonly SuiteSpec[] = [
  { suite: CS_X25519_CHACHA20_POLY1305, variant: 'rfc', cipher: 'chacha20-poly1305', ivLength: 8, icvLength: 16, encryptKeyLength: 32, icvKeyLength: 0, counterIv: true },
  { suite: CS_X25519_AES128_GCM, variant: 'rfc', cipher: 'aes-128-gcm', ivLength: 12, icvLength: 16, encryptKeyLength: 16, icvKeyLength: 0, counterIv: true },
  { suite: CS_X25519_AES128_CBC_SHA256, variant: 'rfc', cipher: 'aes-128-cbc', ivLength: 16, icvLength: 16, encryptKeyLength: 16, icvKeyLength: 16, counterIv: false },
  // lispers: AES-128-CBC with space padding, a counter IV and a 20-byte HMAC-SHA-256 ICV under a 20-byte key.
  { suite: CS_X25519_AES128_CBC_SHA256, variant: 'lispers', cipher: 'aes-128-cbc', ivLength: 16, icvLength: 20, encryptKeyLength: 16, icvKeyLength: 20, counterIv: true },
];

/** The suites decent negotiates, best first: ChaCha20 is the fast one without AES instructions (Raspberry Pi 4). */
export const SUPPORTED_SUITES: Readonly<Record<CryptoVariant, readonly number[]>> = {
  rfc: [CS_X25519_CHACHA20_POLY1305, CS_X25519_AES128_GCM, CS_X25519_AES128_CBC_SHA256],
  lispers: [CS_X25519_AES128_CBC_SHA256],
};

const MODP = new Set([CS_MODP2048_AES128_CBC_SHA256, CS_MODP2048_AES128_GCM, CS_MODP3072_AES128_GCM]);

/** The spec of a suite, or why decent refuses it (a counted drop and a log line at the caller). */
export function checkSuite(suite: number, variant: CryptoVariant): SuiteCheck {
  const spec = SPECS.find((s) => s.suite === suite && s.variant === variant);
  if (spec) return { ok: true, spec };
  const name = `cipher suite ${suite} (${cipherSuiteName(suite)})`;
  if (MODP.has(suite) || suite === 0) {
    return { ok: false, error: `${name} uses MODP Diffie-Hellman, which decent does not implement; it offers X25519 suites ${SUPPORTED_SUITES[variant].join(', ')}` };
  }
  if (variant === 'lispers' && (suite === CS_X25519_AES128_GCM || suite === CS_X25519_CHACHA20_POLY1305)) {
    // lispers' suite 5 appends an HMAC after the GCM tag; its suite 6 is Poly1305-AES, not RFC 8439.
    return { ok: false, error: `${name} in lispers.net's form is not supported; lispers uses suite 2 unless LISP_USE_AES_GCM or LISP_USE_CHACHA is set` };
  }
  return { ok: false, error: `${name} is not supported; decent offers ${SUPPORTED_SUITES[variant].join(', ')}` };
}
