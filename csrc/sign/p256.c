/* ECDSA P-256 with SHA-256 (DNSSEC algorithm 13, RFC 6605), deterministic: k from RFC 6979
   (sign/nonce.c), then r = x(kG) mod n and k^-1 here, and s by libcrypto's own ECDSA given
   (k^-1, r) (ECDSA_do_sign_ex: its s arithmetic is constant-time, with d flagged
   BN_FLG_CONSTTIME by EC_KEY_set_private_key). k is flagged BN_FLG_CONSTTIME for the point
   multiplication and inverted by Fermat with BN_mod_exp_mont_consttime. */
#define OPENSSL_SUPPRESS_DEPRECATED /* EC_KEY and ECDSA_do_sign_ex: still in 3.x, no twin */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>

#include "sign/sign.h"

#define N SIGN_SCALAR
#define RETRIES 4 /* candidates k tried when r or s is 0 (probability ~2^-256 each) */

struct sign_p256 {
    EC_KEY *ec;         /* the curve and d */
    BIGNUM *order_2;    /* n - 2, the exponent of k^-1 = k^(n-2) mod n */
    BN_MONT_CTX *mont;  /* n in Montgomery form, for that exponentiation */
    uint8_t d[N], q[N]; /* d and n big-endian, as the nonce wants them */
};

void sign_p256_free(sign_p256 *key)
{
    if (key == NULL)
        return;
    EC_KEY_free(key->ec);
    BN_free(key->order_2);
    BN_MONT_CTX_free(key->mont);
    OPENSSL_cleanse(key->d, N);
    OPENSSL_free(key);
}

/* d into the key, checked 1 <= d < n; 1 on success */
static int set_private(sign_p256 *key, const uint8_t d[N], BN_CTX *ctx)
{
    const EC_GROUP *group = EC_KEY_get0_group(key->ec);
    const BIGNUM *order = EC_GROUP_get0_order(group);
    BIGNUM *priv = BN_secure_new();
    int ok = priv != NULL && BN_bin2bn(d, N, priv) != NULL && !BN_is_zero(priv) &&
             BN_cmp(priv, order) < 0 && EC_KEY_set_private_key(key->ec, priv) &&
             BN_bn2binpad(order, key->q, N) == N && (key->order_2 = BN_dup(order)) != NULL &&
             BN_sub_word(key->order_2, 2) && (key->mont = BN_MONT_CTX_new()) != NULL &&
             BN_MONT_CTX_set(key->mont, order, ctx);
    BN_clear_free(priv);
    memcpy(key->d, d, N);
    return ok;
}

sign_p256 *sign_p256_new(const uint8_t d[N])
{
    sign_p256 *key = OPENSSL_zalloc(sizeof *key);
    BN_CTX *ctx = BN_CTX_new();
    if (key == NULL || ctx == NULL)
        goto fail;
    key->ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    if (key->ec == NULL || !set_private(key, d, ctx))
        goto fail;
    BN_CTX_free(ctx);
    return key;
fail:
    BN_CTX_free(ctx);
    sign_p256_free(key);
    ERR_clear_error();
    return NULL;
}

/* the x and y of dG or kG (big-endian, 32 bytes each) */
static int multiply(const EC_GROUP *group, const BIGNUM *scalar, BN_CTX *ctx, BIGNUM *x, BIGNUM *y)
{
    EC_POINT *point = EC_POINT_new(group);
    int ok = point != NULL && EC_POINT_mul(group, point, scalar, NULL, NULL, ctx) &&
             EC_POINT_get_affine_coordinates(group, point, x, y, ctx);
    EC_POINT_free(point);
    return ok;
}

int sign_p256_public(const sign_p256 *key, uint8_t out[2 * N])
{
    const EC_GROUP *group = EC_KEY_get0_group(key->ec);
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *x = BN_new(), *y = BN_new();
    int ok = ctx != NULL && x != NULL && y != NULL &&
             multiply(group, EC_KEY_get0_private_key(key->ec), ctx, x, y) &&
             BN_bn2binpad(x, out, N) == N && BN_bn2binpad(y, out + N, N) == N;
    BN_free(x);
    BN_free(y);
    BN_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* (k^-1, r) for the skip-th RFC 6979 candidate k; 0 with *zero set when r is 0 */
static int setup(const sign_p256 *key, const uint8_t h1[N], unsigned skip, BN_CTX *ctx,
                 BIGNUM *kinv, BIGNUM *r, int *zero)
{
    const EC_GROUP *group = EC_KEY_get0_group(key->ec);
    const BIGNUM *order = EC_GROUP_get0_order(group);
    uint8_t kb[N];
    BIGNUM *k = BN_secure_new(), *x = BN_new();
    sign_rfc6979_k(key->q, key->d, h1, skip, kb);
    int ok = k != NULL && x != NULL && BN_bin2bn(kb, N, k) != NULL;
    OPENSSL_cleanse(kb, N);
    if (ok) {
        BN_set_flags(k, BN_FLG_CONSTTIME);
        ok = multiply(group, k, ctx, x, NULL) && BN_nnmod(r, x, order, ctx);
        *zero = ok && BN_is_zero(r);
        ok =
            ok && !*zero && BN_mod_exp_mont_consttime(kinv, k, key->order_2, order, ctx, key->mont);
    }
    BN_clear_free(k);
    BN_free(x);
    return ok;
}

int sign_p256_sign(const sign_p256 *key, const uint8_t *msg, size_t len, uint8_t out[2 * N])
{
    uint8_t h1[N];
    ECDSA_SIG *sig = NULL;
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *kinv = BN_secure_new(), *r = BN_new();
    int ok = ctx != NULL && kinv != NULL && r != NULL && SHA256(msg, len, h1) != NULL;
    for (unsigned skip = 0; ok && skip < RETRIES && sig == NULL; skip++) {
        int zero = 0;
        ok = setup(key, h1, skip, ctx, kinv, r, &zero) || zero;
        if (ok && !zero) /* NULL: s was 0 (or a failure): the next k, as RFC 6979 h.3 says */
            sig = ECDSA_do_sign_ex(h1, N, kinv, r, key->ec);
    }
    const BIGNUM *sr = NULL, *ss = NULL;
    if (sig != NULL)
        ECDSA_SIG_get0(sig, &sr, &ss);
    ok = sig != NULL && BN_bn2binpad(sr, out, N) == N && BN_bn2binpad(ss, out + N, N) == N;
    ECDSA_SIG_free(sig);
    BN_clear_free(kinv);
    BN_free(r);
    BN_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}
