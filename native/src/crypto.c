/* crypto.c - LISP-crypto (RFC 8061) per-segment encryption on OpenSSL, from the headers Node
 * ships for addons (Node exports libcrypto's symbols, so nothing new is linked or installed).
 *
 * Data format (RFC 8061 §7): LISP header (KK = key-id) ‖ IV ‖ ciphertext ‖ ICV; the LISP header
 * is authenticated, not encrypted.
 * - Suites 5 and 6 (AEAD_AES_128_GCM, AEAD_CHACHA20_POLY1305): the IV is a per-key counter
 *   starting at 1, big-endian in the IV's last 8 bytes; the nonce is the IV (an 8-byte IV is
 *   prefixed with 4 zero bytes to the 12-byte nonce, RFC 8439 §2.8); associated data = the LISP
 *   header ‖ IV (both authenticated, neither encrypted); 16-byte ICV = the AEAD tag.
 * - Suite 2 in lispers.net's form (the only suite-2 peer there is; test/vectors/next/
 *   lispers-crypto-README.md): AES-128-CBC of the packet padded with spaces to 16 bytes, a
 *   16-byte IV holding a counter as two little-endian 64-bit halves, then
 *   ICV = HMAC-SHA-256(icv key, header ‖ IV ‖ ciphertext) cut to icv_len (20) bytes.
 *   The receiver checks the ICV before decrypting and cuts the padding by the inner IP length.
 *
 * Replay (RFC 8061 §7 leaves it to the implementation): a 2048-bit sliding window per key
 * (RFC 6479, as WireGuard), updated only after the ICV verified.
 *
 * Nothing here allocates per packet: the EVP cipher contexts are made when a key is installed
 * and reused with a new IV per segment; HMAC runs on SHA-256 states keyed once at install and
 * copied by value per segment (EVP_MAC re-init duplicates a provider context with a malloc each
 * time in OpenSSL 3.0, hence the SHA256_* calls).
 */
#define _GNU_SOURCE
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co: see above */
#include "crypto.h"
#include "dn.h"
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Static_assert(sizeof(dn_key_shared) == 80 + DN_REPLAY_WORDS * 8, "dn_key_shared layout");
_Static_assert(offsetof(dn_key_shared, tx_iv) == 16 && offsetof(dn_key_shared, counters) == 32 &&
               offsetof(dn_key_shared, window) == 80, "dn_key_shared offsets");
_Static_assert(offsetof(dn_keyset_shared, key) == 32, "dn_keyset_shared layout");

typedef struct dn_key_priv {
    EVP_CIPHER_CTX *enc, *dec;
    SHA256_CTX hmac_in, hmac_out; /* suite 2: SHA-256 after (key ^ ipad), (key ^ opad) */
    uint8_t iv_hi[8];             /* suite 2: the fixed high half of the IV */
} dn_key_priv;

struct dn_keys {
    dn_keyset_shared *sh;
    dn_key_priv *priv; /* nsets * DN_KEY_IDS */
    size_t nsets;
};

static inline void put_be64(uint8_t *p, uint64_t v) { for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; } }
static inline void put_le64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) { p[i] = (uint8_t)v; v >>= 8; } }
static inline uint64_t get_be64(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v = v << 8 | p[i]; return v; }
static inline uint64_t get_le64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

dn_keys *dn_keys_new(uint8_t *shared, size_t nsets) {
    dn_keys *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->priv = calloc(nsets * DN_KEY_IDS, sizeof *k->priv);
    if (!k->priv) { free(k); return NULL; }
    k->sh = (dn_keyset_shared *)shared;
    k->nsets = nsets;
    memset(shared, 0, nsets * sizeof(dn_keyset_shared));
    return k;
}

size_t dn_keys_sets(const dn_keys *k) { return k->nsets; }

static void wipe(dn_key_priv *p) {
    EVP_CIPHER_CTX_free(p->enc); /* frees and cleanses the key schedule */
    EVP_CIPHER_CTX_free(p->dec);
    OPENSSL_cleanse(p, sizeof *p);
}

void dn_keys_remove(dn_keys *k, size_t set, int kid) {
    if (set >= k->nsets || kid < 1 || kid > DN_KEY_IDS) return;
    dn_key_shared *s = &k->sh[set].key[kid - 1];
    s->active = 0;
    wipe(&k->priv[set * DN_KEY_IDS + (size_t)(kid - 1)]);
}

void dn_keys_free(dn_keys *k) {
    if (!k) return;
    for (size_t i = 0; i < k->nsets * DN_KEY_IDS; i++) wipe(&k->priv[i]);
    free(k->priv);
    free(k);
}

static void hmac_key(dn_key_priv *p, const uint8_t *key, size_t len) {
    uint8_t pad[64];
    memset(pad, 0, sizeof pad);
    memcpy(pad, key, len); /* len <= 64, checked by the caller */
    for (int i = 0; i < 64; i++) pad[i] ^= 0x36;
    SHA256_Init(&p->hmac_in);
    SHA256_Update(&p->hmac_in, pad, 64);
    for (int i = 0; i < 64; i++) pad[i] ^= 0x36 ^ 0x5c;
    SHA256_Init(&p->hmac_out);
    SHA256_Update(&p->hmac_out, pad, 64);
    OPENSSL_cleanse(pad, sizeof pad);
}

static EVP_CIPHER_CTX *cipher_ctx(const EVP_CIPHER *c, const uint8_t *key, int enc) {
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    if (!x) return NULL;
    if (EVP_CipherInit_ex(x, c, NULL, key, NULL, enc) != 1) { EVP_CIPHER_CTX_free(x); return NULL; }
    EVP_CIPHER_CTX_set_padding(x, 0); /* CBC: we pad ourselves (spaces, as lispers.net) */
    return x;
}

int dn_keys_install(dn_keys *k, size_t set, int kid, int suite, const uint8_t *enc, size_t enc_len,
                    const uint8_t *icv, size_t icv_key_len, int iv_len, int icv_len, const char **why) {
    if (set == 0 || set >= k->nsets) { *why = "key set index out of range (0 is 'clear')"; return -EINVAL; }
    if (kid < 1 || kid > DN_KEY_IDS) { *why = "key-id must be 1..3 (the KK bits)"; return -EINVAL; }
    const EVP_CIPHER *c;
    if (suite == DN_SUITE_AES_GCM || suite == DN_SUITE_CHACHA) {
        c = suite == DN_SUITE_AES_GCM ? EVP_aes_128_gcm() : EVP_chacha20_poly1305();
        if (iv_len != 12 && iv_len != 8) { *why = "AEAD suites take an 8- or 12-byte IV"; return -EINVAL; }
        if (icv_len != 16) { *why = "AEAD suites have a 16-byte ICV"; return -EINVAL; }
    } else if (suite == DN_SUITE_CBC_SHA256) {
        c = EVP_aes_128_cbc();
        if (iv_len != 16) { *why = "suite 2 takes a 16-byte IV"; return -EINVAL; }
        if (icv_len < 12 || icv_len > 32) { *why = "suite 2 ICV must be 12..32 bytes"; return -EINVAL; }
        if (!icv || icv_key_len == 0 || icv_key_len > 64) { *why = "suite 2 needs an ICV key of 1..64 bytes"; return -EINVAL; }
    } else {
        *why = "cipher suite not supported in the data plane (2, 5 and 6 are)";
        return -EOPNOTSUPP;
    }
    if (!c || enc_len != (size_t)EVP_CIPHER_get_key_length(c)) { *why = "encryption key length does not match the suite"; return -EINVAL; }
    dn_keys_remove(k, set, kid);
    dn_key_priv *p = &k->priv[set * DN_KEY_IDS + (size_t)(kid - 1)];
    p->enc = cipher_ctx(c, enc, 1);
    p->dec = cipher_ctx(c, enc, 0);
    if (!p->enc || !p->dec) { wipe(p); *why = "OpenSSL refused the key"; return -ENOMEM; }
    if (suite == DN_SUITE_CBC_SHA256) {
        hmac_key(p, icv, icv_key_len);
        /* lispers.net starts its 128-bit IV counter at a random value; the high half stays fixed */
        if (RAND_bytes(p->iv_hi, sizeof p->iv_hi) != 1) { wipe(p); *why = "no randomness"; return -EIO; }
    }
    dn_key_shared *s = &k->sh[set].key[kid - 1];
    memset(s, 0, sizeof *s);
    s->suite = (uint32_t)suite;
    s->iv_len = (uint32_t)iv_len;
    s->icv_len = (uint32_t)icv_len;
    s->active = 1;
    return 0;
}

int dn_tx_key_get(dn_keys *k, int32_t set, dn_tx_key *tx) {
    if (!k || set <= 0 || (size_t)set >= k->nsets) return -1;
    dn_keyset_shared *ks = &k->sh[set];
    uint32_t kid = ks->tx_kid;
    if (kid < 1 || kid > DN_KEY_IDS || !ks->key[kid - 1].active) { ks->tx_no_key += 1; return -1; }
    const dn_key_shared *s = &ks->key[kid - 1];
    tx->keys = k;
    tx->set = set;
    tx->kid = (int)kid;
    tx->iv_len = (int)s->iv_len;
    tx->icv_len = (int)s->icv_len;
    tx->cbc = s->suite == DN_SUITE_CBC_SHA256;
    return 0;
}

size_t dn_seal_overhead(const dn_tx_key *tx, size_t plain_len) {
    size_t ct = tx->cbc ? (plain_len + 15) & ~(size_t)15 : plain_len;
    return (size_t)tx->iv_len + ct + (size_t)tx->icv_len;
}

static void hmac_icv(const dn_key_priv *p, const uint8_t *m, size_t len, uint8_t out[32]) {
    SHA256_CTX c = p->hmac_in; /* keyed states copied by value: no allocation */
    uint8_t inner[32];
    SHA256_Update(&c, m, len);
    SHA256_Final(inner, &c);
    c = p->hmac_out;
    SHA256_Update(&c, inner, sizeof inner);
    SHA256_Final(out, &c);
}

static const uint8_t spaces[16] = "                ";

long dn_seal(const dn_tx_key *tx, uint8_t *out, size_t hdr_len, const uint8_t *a, size_t alen,
             const uint8_t *b, size_t blen) {
    dn_keys *k = tx->keys;
    dn_key_shared *s = &k->sh[tx->set].key[tx->kid - 1];
    dn_key_priv *p = &k->priv[(size_t)tx->set * DN_KEY_IDS + (size_t)(tx->kid - 1)];
    EVP_CIPHER_CTX *x = p->enc;
    out[0] = (uint8_t)((out[0] & ~3u) | (unsigned)tx->kid); /* KK (RFC 8061 §7) */
    uint64_t ctr = ++s->tx_iv;
    uint8_t *iv = out + hdr_len, *ct = iv + tx->iv_len;
    int l = 0, n = 0;
    /* the plaintext is gathered into place and encrypted there in one call: per call OpenSSL 3.0
     * costs more than the copy (1448-byte segments: 10 % faster than two out-of-place calls) */
    size_t pl = alen + blen, pad = tx->cbc ? (16 - pl % 16) % 16 : 0;
    memcpy(ct, a, alen);
    if (blen) memcpy(ct + alen, b, blen);
    if (pad) memcpy(ct + pl, spaces, pad);
    pl += pad;
    if (tx->cbc) {
        put_le64(iv, get_le64(p->iv_hi));
        put_le64(iv + 8, ctr);
        if (EVP_EncryptInit_ex(x, NULL, NULL, NULL, iv) != 1 || EVP_EncryptUpdate(x, ct, &l, ct, (int)pl) != 1) return -1;
        n = l;
        if (EVP_EncryptFinal_ex(x, ct + n, &l) != 1) return -1;
        n += l;
        uint8_t mac[32];
        hmac_icv(p, out, hdr_len + 16 + (size_t)n, mac);
        memcpy(ct + n, mac, (size_t)tx->icv_len);
    } else {
        uint8_t nonce[12] = { 0 };
        memset(iv, 0, (size_t)tx->iv_len);
        put_be64(iv + tx->iv_len - 8, ctr);
        memcpy(nonce + 12 - tx->iv_len, iv, (size_t)tx->iv_len);
        if (EVP_EncryptInit_ex(x, NULL, NULL, NULL, nonce) != 1) return -1;
        if (EVP_EncryptUpdate(x, NULL, &l, out, (int)hdr_len + tx->iv_len) != 1) return -1; /* AAD: header ‖ IV */
        if (pl) {
            if (EVP_EncryptUpdate(x, ct, &l, ct, (int)pl) != 1) return -1;
            n = l;
        }
        if (EVP_EncryptFinal_ex(x, ct + n, &l) != 1) return -1;
        n += l;
        if (EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, ct + n) != 1) return -1;
    }
    s->counters[KC_ENCRYPTED] += 1;
    return (long)tx->iv_len + n + tx->icv_len;
}

/* 0 fresh, 1 replay, 2 older than the window */
static int replay_check(const dn_key_shared *s, uint64_t c) {
    if (s->rx_top >= DN_REPLAY_BITS - 64 && c < s->rx_top - (DN_REPLAY_BITS - 64)) return 2;
    if (c > s->rx_top) return 0;
    return (s->window[(c >> 6) % DN_REPLAY_WORDS] >> (c & 63)) & 1;
}

static void replay_mark(dn_key_shared *s, uint64_t c) {
    uint64_t idx = c >> 6;
    if (c > s->rx_top) {
        uint64_t cur = s->rx_top >> 6, diff = idx - cur;
        if (diff > DN_REPLAY_WORDS) diff = DN_REPLAY_WORDS;
        for (uint64_t i = 1; i <= diff; i++) s->window[(cur + i) % DN_REPLAY_WORDS] = 0;
        s->rx_top = c;
    }
    s->window[idx % DN_REPLAY_WORDS] |= (uint64_t)1 << (c & 63);
}

/* suite 2 carries no length: the inner IPv4/IPv6 header says where the space padding starts */
static long inner_len(const uint8_t *ip, size_t n) {
    size_t l;
    if (n >= 20 && (ip[0] >> 4) == 4) l = (size_t)ip[2] << 8 | ip[3];
    else if (n >= 40 && (ip[0] >> 4) == 6) l = ((size_t)ip[4] << 8 | ip[5]) + 40;
    else return -1;
    return l <= n && l + 16 > n ? (long)l : -1;
}

long dn_open(dn_keys *k, int32_t set, uint8_t *seg, size_t len, size_t hdr_len, uint8_t **plain) {
    if (!k || set <= 0 || (size_t)set >= k->nsets || len < hdr_len + 1) return -1;
    dn_keyset_shared *ks = &k->sh[set];
    unsigned kid = seg[0] & 3u;
    if (!kid || !ks->key[kid - 1].active) { ks->unknown_kid += 1; return -1; }
    dn_key_shared *s = &ks->key[kid - 1];
    dn_key_priv *p = &k->priv[(size_t)set * DN_KEY_IDS + kid - 1];
    size_t ivl = s->iv_len, icvl = s->icv_len;
    if (len < hdr_len + ivl + icvl) { s->counters[KC_AUTH_FAILURES] += 1; return -1; }
    uint8_t *iv = seg + hdr_len, *ct = iv + ivl;
    size_t ctl = len - hdr_len - ivl - icvl;
    int cbc = s->suite == DN_SUITE_CBC_SHA256;
    uint64_t ctr = cbc ? get_le64(iv + 8) : get_be64(iv + ivl - 8);
    int r = replay_check(s, ctr);
    if (r) { s->counters[r == 1 ? KC_REPLAYS : KC_OUT_OF_WINDOW] += 1; return -1; }
    EVP_CIPHER_CTX *x = p->dec;
    int l = 0, n = 0;
    if (cbc) {
        uint8_t mac[32];
        hmac_icv(p, seg, hdr_len + ivl + ctl, mac);
        if (ctl % 16 || CRYPTO_memcmp(mac, ct + ctl, icvl) != 0) { s->counters[KC_AUTH_FAILURES] += 1; return -1; }
        if (EVP_DecryptInit_ex(x, NULL, NULL, NULL, iv) != 1 || EVP_DecryptUpdate(x, ct, &l, ct, (int)ctl) != 1 ||
            EVP_DecryptFinal_ex(x, ct + l, &n) != 1) { s->counters[KC_AUTH_FAILURES] += 1; return -1; }
        long il = inner_len(ct, ctl);
        if (il < 0) { s->counters[KC_AUTH_FAILURES] += 1; return -1; }
        ctl = (size_t)il;
    } else {
        uint8_t nonce[12] = { 0 };
        memcpy(nonce + 12 - ivl, iv, ivl);
        if (EVP_DecryptInit_ex(x, NULL, NULL, NULL, nonce) != 1 || EVP_DecryptUpdate(x, NULL, &l, seg, (int)(hdr_len + ivl)) != 1 ||
            (ctl && EVP_DecryptUpdate(x, ct, &l, ct, (int)ctl) != 1) ||
            EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, ct + ctl) != 1 || EVP_DecryptFinal_ex(x, ct + ctl, &n) != 1) {
            s->counters[KC_AUTH_FAILURES] += 1;
            return -1;
        }
    }
    replay_mark(s, ctr);
    s->counters[KC_DECRYPTED] += 1;
    *plain = ct;
    return (long)ctl;
}

/* the LISP data header (RFC 9300 §5.1) is the associated data of every received datagram */
#define LISP_HDR 8

int dn_keys_open_batch(dn_keys *k, uint8_t *data, size_t data_len, int32_t *desc, size_t slot, int count,
                       const int32_t *seg_sets, size_t seg_sets_len) {
    int opened = 0;
    for (int i = 0; i < count; i++) {
        int32_t *d = desc + (size_t)i * DN_DESC_STRIDE;
        int32_t set = d[DN_KEY];
        if (set == 0) continue;
        d[DN_KEY] = 0;
        if (d[DN_LEN] <= 0 || d[DN_OFF] < 0 || (size_t)d[DN_OFF] + (size_t)d[DN_LEN] > slot || (size_t)(i + 1) * slot > data_len)
            continue;
        uint8_t *p = data + (size_t)i * slot + d[DN_OFF];
        size_t len = (size_t)d[DN_LEN], seg = d[DN_GSO] > 0 ? (size_t)d[DN_GSO] : len;
        /* a relay shim in front of every datagram (DN_SHIM_LEN): opened after it, left as it is */
        size_t shim = DN_SHIM_LEN(d[DN_FLAGS]);
        int per_seg = (d[DN_FLAGS] & DN_F_SEG_KEYS) && seg_sets;
        size_t j = 0;
        for (size_t o = 0; o < len; o += seg, j++) {
            size_t sl = len - o < seg ? len - o : seg;
            if (sl <= shim) continue;
            sl -= shim;
            uint8_t *s = p + o + shim, *plain = NULL;
            int32_t sset = set;
            if (per_seg) {
                size_t x = (size_t)i * DN_MAX_GSO_SEGS + j;
                sset = j < DN_MAX_GSO_SEGS && x < seg_sets_len ? seg_sets[x] : 0;
            }
            long n = sl > LISP_HDR && sset > 0 ? dn_open(k, sset, s, sl, LISP_HDR, &plain) : -1;
            if (n < 0) {
                if (sl > 0 && !(s[0] & 3u)) s[0] |= 3u; /* a clear datagram under a key set: never delivered */
                continue;
            }
            memmove(s + LISP_HDR, plain, (size_t)n);
            s[0] &= (uint8_t)~3u;
            opened++;
        }
        d[DN_FLAGS] |= DN_F_OPENED;
    }
    return opened;
}

static double thread_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* The per-segment AEAD work alone, for scripts/bench-aead.ts: `count` segments of plain_len
 * bytes sealed with set `set`'s send key (gathered from a separate buffer, as udpSend does) and
 * opened in place (as tunWrite does), in batches of 256 so each phase is timed on its own (thread
 * CPU time: a busy machine slows it less than wall time) after one untimed warm-up batch.
 * out[0] = ns per seal, out[1] = ns per open. Not on any packet path: it allocates its buffers.
 * 0, or -1 (no send key, no memory, a datagram that did not open). */
#define BENCH_BATCH 256
int dn_keys_bench(dn_keys *k, int32_t set, size_t plain_len, int count, double out[2]) {
    dn_tx_key tx;
    if (count < 1 || plain_len > 9000 || dn_tx_key_get(k, set, &tx) != 0) return -1;
    size_t stride = LISP_HDR + plain_len + 64;
    uint8_t *plain = calloc(1, plain_len + 1), *segs = calloc(BENCH_BATCH, stride);
    long sealed[BENCH_BATCH];
    if (!plain || !segs) { free(plain); free(segs); return -1; }
    for (size_t i = 0; i < plain_len; i++) plain[i] = (uint8_t)i;
    double seal_ns = 0, open_ns = 0;
    int ok = 1, done = -BENCH_BATCH; /* the first batch warms caches up and is not counted */
    while (ok && done < count) {
        int n = done < 0 ? BENCH_BATCH : (count - done < BENCH_BATCH ? count - done : BENCH_BATCH);
        double t0 = thread_ns();
        for (int i = 0; i < n; i++) {
            uint8_t *seg = segs + (size_t)i * stride;
            seg[0] = 0x08; /* I bit; dn_seal sets KK */
            sealed[i] = dn_seal(&tx, seg, LISP_HDR, plain, plain_len, NULL, 0);
        }
        double t1 = thread_ns();
        for (int i = 0; i < n; i++) {
            uint8_t *p = NULL;
            if (sealed[i] < 0 || dn_open(k, set, segs + (size_t)i * stride, LISP_HDR + (size_t)sealed[i], LISP_HDR, &p) != (long)plain_len) ok = 0;
        }
        double t2 = thread_ns();
        if (done >= 0) { seal_ns += t1 - t0; open_ns += t2 - t1; }
        done += n;
    }
    free(plain);
    free(segs);
    if (!ok) return -1;
    out[0] = seal_ns / count;
    out[1] = open_ns / count;
    return 0;
}
