/* RFC 6979 §3.2: the ECDSA nonce k as an HMAC-DRBG of the private key and the message's
   hash, for a 256-bit order and HMAC-SHA256 (qlen = hlen = 256, so bits2int is the identity
   on one HMAC block and int2octets is 32 bytes). The same k that OpenSSL 3.2+ (and so the
   `cryptography` package's deterministic_signing) derives, so both sign the same bytes. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "sign/sign.h"

#define N SIGN_SCALAR

/* out = HMAC_K(a || [sep] || b || c): sep < 0 means no separator byte, b and c may be NULL */
static int mac(EVP_MAC_CTX *c, const uint8_t K[N], const uint8_t V[N], int sep, const uint8_t *b,
               const uint8_t *d, uint8_t out[N])
{
    uint8_t one = (uint8_t)sep;
    size_t got = 0;
    if (!EVP_MAC_init(c, K, N, NULL) || !EVP_MAC_update(c, V, N))
        return 0;
    if (sep >= 0 && !EVP_MAC_update(c, &one, 1))
        return 0;
    if (b != NULL && !EVP_MAC_update(c, b, N))
        return 0;
    if (d != NULL && !EVP_MAC_update(c, d, N))
        return 0;
    return EVP_MAC_final(c, out, &got, N) && got == N;
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

int sign_rfc6979_k(const EVP_MAC_CTX *hmac, const uint8_t q[N], const uint8_t x[N],
                   const uint8_t h1[N], unsigned skip, uint8_t k[N])
{
    uint8_t V[N], K[N], h[N];
    int ok = 0;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(hmac);
    if (c == NULL)
        return 0;
    reduce(h1, q, h);
    memset(V, 0x01, N);                                                     /* step b */
    memset(K, 0x00, N);                                                     /* step c */
    if (!mac(c, K, V, 0x00, x, h, K) || !mac(c, K, V, -1, NULL, NULL, V) || /* d, e */
        !mac(c, K, V, 0x01, x, h, K) || !mac(c, K, V, -1, NULL, NULL, V))   /* f, g */
        goto done;
    for (unsigned found = 0;;) { /* step h: one block T = V, k = bits2int(T) */
        if (!mac(c, K, V, -1, NULL, NULL, V))
            goto done;
        if (in_range(V, q) && found++ == skip) {
            memcpy(k, V, N);
            ok = 1;
            goto done;
        }
        if (!mac(c, K, V, 0x00, NULL, NULL, K) || !mac(c, K, V, -1, NULL, NULL, V))
            goto done;
    }
done:
    OPENSSL_cleanse(V, N);
    OPENSSL_cleanse(K, N);
    EVP_MAC_CTX_free(c);
    return ok;
}

EVP_MAC_CTX *sign_hmac_sha256(void)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context holds its own reference */
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    static const uint8_t zero[N];
    /* keyed once (by zeros): every 3.0.x copies a keyed context; sign_rfc6979_k rekeys */
    if (c != NULL && (!EVP_MAC_CTX_set_params(c, params) || !EVP_MAC_init(c, zero, N, NULL))) {
        EVP_MAC_CTX_free(c);
        c = NULL;
    }
    return c;
}
