// LISP-crypto cipher suites (RFC 8061 §5, IANA "LISP Crypto Cipher Suite"): the numbers carried
// in the Security Key LCAF. Names only; the cryptography is in src/crypto.

export const CS_MODP2048_AES128_CBC_SHA256 = 1;
export const CS_X25519_AES128_CBC_SHA256 = 2;
export const CS_MODP2048_AES128_GCM = 3;
export const CS_MODP3072_AES128_GCM = 4;
export const CS_X25519_AES128_GCM = 5;
export const CS_X25519_CHACHA20_POLY1305 = 6;

const NAMES: Readonly<Record<number, string>> = {
  // lispers.net's own suite 0 (1024-bit MODP); "Reserved" in RFC 8061.
  0: 'reserved (lispers: 1024-bit MODP)',
  [CS_MODP2048_AES128_CBC_SHA256]: '2048-bit MODP + AES-128-CBC + HMAC-SHA-256',
  [CS_X25519_AES128_CBC_SHA256]: 'X25519 + AES-128-CBC + HMAC-SHA-256',
  [CS_MODP2048_AES128_GCM]: '2048-bit MODP + AES-128-GCM',
  [CS_MODP3072_AES128_GCM]: '3072-bit MODP + AES-128-GCM',
  [CS_X25519_AES128_GCM]: 'X25519 + AES-128-GCM',
  [CS_X25519_CHACHA20_POLY1305]: 'X25519 + ChaCha20-Poly1305',
};

/** Human name of a cipher suite number, `unknown` for the unassigned ones. */
export function cipherSuiteName(suite: number): string {
  return NAMES[suite] ?? 'unknown';
}
