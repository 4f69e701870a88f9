/* RFC 6979 §3.2: the ECDSA nonce k as an HMAC-DRBG of the private key and the message's
   hash, for a 256-bit order and HMAC-SHA256 (qlen = hlen = 256, so bits2int is the identity
   on one HMAC block and int2octets is 32 bytes). The same k that OpenSSL 3.2+ (and so the
   `cryptography` package's deterministic_signing) derives, so both sign the same bytes.

   HMAC (RFC 2104) is built here on libcrypto's SHA-256 block functions: keyed once per K
   (the padded key's block hashed into an inner and an outer state), each HMAC_K(V) is then
   two more blocks. OpenSSL 3.0's EVP_MAC re-fetches and re-keys its digests per call and cost
   more than half a signature's own time (bench/sign_cost.py). */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init/Update/Final: in 3.x, without the fetch */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "sign/sign.h"

#define N SIGN_SCALAR

typedef struct {
    SHA256_CTX inner, outer; /* the states after the key's ipad and opad blocks */
} hmac_key;

static void set_key(hmac_key *h, const uint8_t K[N])
{
    uint8_t pad[SHA256_CBLOCK];
    memset(pad, 0x36, sizeof pad);
    for (int i = 0; i < N; i++)
        pad[i] ^= K[i];
    SHA256_Init(&h->inner);
    SHA256_Update(&h->inner, pad, sizeof pad);
    memset(pad, 0x5c, sizeof pad);
    for (int i = 0; i < N; i++)
        pad[i] ^= K[i];
    SHA256_Init(&h->outer);
    SHA256_Update(&h->outer, pad, sizeof pad);
    OPENSSL_cleanse(pad, sizeof pad);
}

/* out = HMAC_K(V || [sep] || [b] || [d]): sep < 0 means no separator byte */
static void mac(const hmac_key *h, const uint8_t V[N], int sep, const uint8_t *b, const uint8_t *d,
                uint8_t out[N])
{
    SHA256_CTX c = h->inner;
    uint8_t one = (uint8_t)sep, inner[N];
    SHA256_Update(&c, V, N);
    if (sep >= 0)
        SHA256_Update(&c, &one, 1);
    if (b != NULL)
        SHA256_Update(&c, b, N);
    if (d != NULL)
        SHA256_Update(&c, d, N);
    SHA256_Final(inner, &c);
    c = h->outer;
    SHA256_Update(&c, inner, N);
    SHA256_Final(out, &c);
    OPENSSL_cleanse(&c, sizeof c);
}

/* K = HMAC_K(V || sep || [x || h]); V = HMAC_K(V) with the new K (steps d-e, f-g, h.3) */
static void step(hmac_key *h, uint8_t K[N], uint8_t V[N], int sep, const uint8_t *x,
                 const uint8_t *hh)
{
    mac(h, V, sep, x, hh, K);
    set_key(h, K);
    mac(h, V, -1, NULL, NULL, V);
}

/* 1 when 1 <= k < q, computed without a branch on k's bytes (k is the secret nonce) */
static int in_range(const uint8_t k[N], const uint8_t q[N])
{
    unsigned borrow = 0, any = 0;
    for (int i = N - 1; i >= 0; i--) {
        unsigned diff = (unsigned)k[i] - (unsigned)q[i] - borrow;
        borrow = (diff >> 8) & 1; /* k - q borrows out of the top byte iff k < q */
        any |= k[i];
    }
    return (int)(borrow & ((any + 0xFF) >> 8));
}

/* bits2octets(h1) (§2.3.4): h1 mod q, one conditional subtraction since h1 < 2^256 < 2q */
static void reduce(const uint8_t h1[N], const uint8_t q[N], uint8_t out[N])
{
    uint8_t diff[N];
    unsigned borrow = 0;
    for (int i = N - 1; i >= 0; i--) {
        unsigned d = (unsigned)h1[i] - (unsigned)q[i] - borrow;
        diff[i] = (uint8_t)d;
        borrow = (d >> 8) & 1;
    }
    memcpy(out, borrow ? h1 : diff, N); /* borrow: h1 < q, already reduced */
}

void sign_rfc6979_k(const uint8_t q[N], const uint8_t x[N], const uint8_t h1[N], unsigned skip,
                    uint8_t k[N])
{
    uint8_t V[N], K[N], h[N];
    hmac_key key;
    reduce(h1, q, h);
    memset(V, 0x01, N); /* step b */
    memset(K, 0x00, N); /* step c */
    set_key(&key, K);
    step(&key, K, V, 0x00, x, h); /* d, e */
    step(&key, K, V, 0x01, x, h); /* f, g */
    for (unsigned found = 0;;) {  /* step h: one block T = V, k = bits2int(T) */
        mac(&key, V, -1, NULL, NULL, V);
        if (in_range(V, q) && found++ == skip)
            break;
        step(&key, K, V, 0x00, NULL, NULL); /* h.3 */
    }
    memcpy(k, V, N);
    OPENSSL_cleanse(V, N);
    OPENSSL_cleanse(K, N);
    OPENSSL_cleanse(&key, sizeof key);
}
