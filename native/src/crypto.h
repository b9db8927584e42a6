/* crypto.h - LISP-crypto (RFC 8061) data-plane encryption: the key table shared with JavaScript
 * and per-segment seal/open. src/native/layout.ts mirrors the shared layout (KEY_*); the addon
 * checks the strides against it at load time.
 *
 * The table is an array of key *sets*, one per peer direction that JS chose; a slot descriptor's
 * DN_KEY holds the set index (0 = clear). A set has one entry per key-id 1..3 (the KK bits of the
 * LISP header, RFC 8061 §7), so a rekey installs the next key-id and then switches the set's
 * tx_kid: the receiver accepts every installed key-id, nothing is lost in between.
 *
 * What JS sees (counters, IV counter, replay window) lives in the shared buffer; the key material
 * lives only in the native part (OpenSSL contexts made once per key at install, never per packet).
 */
#ifndef DECENT_CRYPTO_H
#define DECENT_CRYPTO_H
#include <stddef.h>
#include <stdint.h>

/* cipher suites (RFC 8061 §5, IANA "LISP Crypto Cipher Suite") */
enum {
    DN_SUITE_CBC_SHA256 = 2, /* X25519 + AES-128-CBC + HMAC-SHA-256, in lispers.net's form (see crypto.c) */
    DN_SUITE_AES_GCM = 5,    /* X25519 + AES-128-GCM */
    DN_SUITE_CHACHA = 6      /* X25519 + ChaCha20-Poly1305 */
};

#define DN_KEY_IDS 3
#define DN_REPLAY_BITS 2048
#define DN_REPLAY_WORDS (DN_REPLAY_BITS / 64)
#define DN_MAX_IV 16
#define DN_MAX_ICV 32

/* per-key counters (double, like the I/O stats) */
enum { KC_ENCRYPTED, KC_DECRYPTED, KC_AUTH_FAILURES, KC_REPLAYS, KC_OUT_OF_WINDOW, KC_COUNT };

/* one key-id of a set, shared with JS (all fields naturally aligned; same layout on x86-64,
 * arm64 and 32-bit ARM EABI, checked below) */
typedef struct dn_key_shared {
    uint32_t active;   /* 1 while installed (written by native code) */
    uint32_t suite;
    uint32_t iv_len;   /* bytes of IV on the wire */
    uint32_t icv_len;  /* bytes of ICV on the wire */
    uint64_t tx_iv;    /* last IV counter sent (the first packet carries 1) */
    uint64_t rx_top;   /* highest IV counter received and authenticated */
    double counters[KC_COUNT];
    double pad_;
    uint64_t window[DN_REPLAY_WORDS]; /* sliding replay window (RFC 6479 / WireGuard) */
} dn_key_shared;

typedef struct dn_keyset_shared {
    uint32_t tx_kid;        /* key-id JS sends with, 0 = none (the packet is dropped and counted) */
    uint32_t rsvd_;
    double unknown_kid;     /* received segments whose KK names no installed key (or is 0) */
    double tx_no_key;       /* sends asked for this set while tx_kid had no key */
    double pad_;
    dn_key_shared key[DN_KEY_IDS];
} dn_keyset_shared;

#define DN_KEYSET_STRIDE ((int)sizeof(dn_keyset_shared))
#define DN_KEY_STRIDE ((int)sizeof(dn_key_shared))
#define DN_KEY_OFFSET ((int)offsetof(dn_keyset_shared, key))

typedef struct dn_keys dn_keys;

/* the per-segment transmit view of one set: resolved once per slot */
typedef struct dn_tx_key {
    dn_keys *keys;
    int set, kid;
    int iv_len, icv_len, cbc;
} dn_tx_key;

dn_keys *dn_keys_new(uint8_t *shared, size_t nsets);
void dn_keys_free(dn_keys *k);
size_t dn_keys_sets(const dn_keys *k);
/* 0, or a negative errno with *why set */
int dn_keys_install(dn_keys *k, size_t set, int kid, int suite, const uint8_t *enc, size_t enc_len,
                    const uint8_t *icv, size_t icv_key_len, int iv_len, int icv_len, const char **why);
void dn_keys_remove(dn_keys *k, size_t set, int kid);

/* Resolve set `set` for sending; 0 with *tx filled, -1 when the set has no usable tx key (counted). */
int dn_tx_key_get(dn_keys *k, int32_t set, dn_tx_key *tx);
/* bytes a sealed segment of plain_len plaintext bytes takes after the LISP header */
size_t dn_seal_overhead(const dn_tx_key *tx, size_t plain_len);
/* Seal one segment into out: out[0, hdr_len) must already hold the LISP header (its KK bits are
 * set here; header and IV are authenticated, not encrypted); then IV, ciphertext of a ‖ b, ICV. Returns the bytes
 * written after the header, or -1. */
long dn_seal(const dn_tx_key *tx, uint8_t *out, size_t hdr_len, const uint8_t *a, size_t alen,
             const uint8_t *b, size_t blen);
/* Verify and decrypt one received segment in place: seg = LISP header (hdr_len bytes, the
 * associated data) ‖ IV ‖ ciphertext ‖ ICV. Returns the plaintext length (the plaintext starts at
 * *plain) or -1 (dropped; counted per key, or per set for an unknown key-id). */
long dn_open(dn_keys *k, int32_t set, uint8_t *seg, size_t len, size_t hdr_len, uint8_t **plain);
#endif
