/* Ed25519 (DNSSEC algorithm 15, RFC 8080; RFC 8032's pure Ed25519) through libcrypto's
   EVP_DigestSign: deterministic by design, so nothing to derive here. The signing context is
   set up once per key and copied per signature (cheaper than EVP_DigestSignInit's fetches,
   and a context is single-use: threads never share one). */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "sign/sign.h"

struct sign_ed25519 {
    EVP_PKEY *pkey;    /* made once: it carries the public key libcrypto derived from the seed */
    EVP_MD_CTX *ready; /* EVP_DigestSignInit'ed with pkey: only ever copied */
};

sign_ed25519 *sign_ed25519_new(const uint8_t seed[SIGN_SCALAR])
{
    sign_ed25519 *key = OPENSSL_zalloc(sizeof *key);
    if (key != NULL) {
        key->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, SIGN_SCALAR);
        key->ready = EVP_MD_CTX_new();
    }
    if (key != NULL && (key->pkey == NULL || key->ready == NULL ||
                        !EVP_DigestSignInit(key->ready, NULL, NULL, NULL, key->pkey))) {
        sign_ed25519_free(key);
        key = NULL;
    }
    ERR_clear_error();
    return key;
}

void sign_ed25519_free(sign_ed25519 *key)
{
    if (key == NULL)
        return;
    EVP_MD_CTX_free(key->ready);
    EVP_PKEY_free(key->pkey);
    OPENSSL_free(key);
}

int sign_ed25519_public(const sign_ed25519 *key, uint8_t out[SIGN_SCALAR])
{
    size_t len = SIGN_SCALAR;
    int ok = EVP_PKEY_get_raw_public_key(key->pkey, out, &len) && len == SIGN_SCALAR;
    ERR_clear_error();
    return ok;
}

int sign_ed25519_sign(const sign_ed25519 *key, const uint8_t *msg, size_t len,
                      uint8_t out[2 * SIGN_SCALAR])
{
    size_t got = 2 * SIGN_SCALAR;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* an early 3.0.x cannot copy a context without a digest: then set it up afresh */
    int ok = ctx != NULL &&
             (EVP_MD_CTX_copy_ex(ctx, key->ready) ||
              EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey)) &&
             EVP_DigestSign(ctx, out, &got, msg, len) && got == 2 * SIGN_SCALAR;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}
