/* One signing key of either algorithm: what the binding (py/sign.c) and the harness hold,
   dispatching to sign/p256.c or sign/ed25519.c. Every length is checked here, so the
   algorithm files take fixed-size arrays. */
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "sign/sign.h"

struct sign_key {
    int algorithm;
    sign_p256 *p256;       /* algorithm 13 */
    sign_ed25519 *ed25519; /* algorithm 15 */
};

sign_key *sign_key_new(int algorithm, const uint8_t *private_key, size_t len)
{
    if (private_key == NULL || len != SIGN_SCALAR ||
        (algorithm != SIGN_ECDSAP256SHA256 && algorithm != SIGN_ED25519))
        return NULL;
    sign_key *key = OPENSSL_zalloc(sizeof *key);
    if (key == NULL)
        return NULL;
    key->algorithm = algorithm;
    if (algorithm == SIGN_ECDSAP256SHA256)
        key->p256 = sign_p256_new(private_key);
    else
        key->ed25519 = sign_ed25519_new(private_key);
    if (key->p256 == NULL && key->ed25519 == NULL) {
        OPENSSL_free(key);
        return NULL;
    }
    return key;
}

void sign_key_free(sign_key *key)
{
    if (key == NULL)
        return;
    sign_p256_free(key->p256);
    sign_ed25519_free(key->ed25519);
    OPENSSL_free(key);
}

size_t sign_key_public(const sign_key *key, uint8_t *out, size_t cap)
{
    if (key->p256 != NULL)
        return cap >= 2 * SIGN_SCALAR && sign_p256_public(key->p256, out) ? 2 * SIGN_SCALAR : 0;
    return cap >= SIGN_SCALAR && sign_ed25519_public(key->ed25519, out) ? SIGN_SCALAR : 0;
}

size_t sign_key_sign(const sign_key *key, const uint8_t *msg, size_t len, uint8_t *out, size_t cap)
{
    static const uint8_t empty[1];
    if (cap < SIGN_MAX_SIG || (msg == NULL && len != 0))
        return 0;
    if (msg == NULL)
        msg = empty; /* libcrypto wants a pointer even for no bytes */
    int ok = key->p256 != NULL ? sign_p256_sign(key->p256, msg, len, out)
                               : sign_ed25519_sign(key->ed25519, msg, len, out);
    return ok ? SIGN_MAX_SIG : 0;
}

const char *sign_library(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}
