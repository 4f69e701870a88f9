/* The DNSSEC signer (csrc/sign/) under ASan/UBSan. At start: RFC 6979 A.2.5's P-256/SHA-256
   vectors (k and r||s for "sample" and "test") and RFC 8032 §7.1 TEST 1. Then any input:
   algorithm selector (1) | private key (32) | message (the rest): a key libcrypto accepts
   signs the message twice to the same bytes, and the signature verifies under the key's own
   public half with libcrypto's verifier; a key it refuses (0, >= n) is NULL, not a crash. */
#define OPENSSL_SUPPRESS_DEPRECATED /* the verifier's EC_KEY, as sign/p256.c */
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "fuzz.h"
#include "sign/sign.h"

static void unhex(const char *text, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        FUZZ_CHECK(sscanf(text + 2 * i, "%2x", &v) == 1);
        out[i] = (uint8_t)v;
    }
}

/* RFC 6979 A.2.5, typed from the RFC's text */
static const char *const X = "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721";
static const char *const UXY = "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
                               "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299";
static const char *const Q = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
static const struct {
    const char *message, *k, *rs;
} vectors[] = {
    {"sample", "A6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60",
     "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
     "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"},
    {"test", "D16B6AE827F17175E040871A1C7EC3500192C4C92677336EC2537ACAEE0008E0",
     "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367"
     "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083"},
};

static void check_rfc6979(void)
{
    uint8_t x[32], q[32], pub[64], want_pub[64], h1[32], k[32], want_k[32], rs[64], want_rs[64];
    unhex(X, x, 32);
    unhex(Q, q, 32);
    unhex(UXY, want_pub, 64);
    sign_key *key = sign_key_new(SIGN_ECDSAP256SHA256, x, 32);
    FUZZ_CHECK(key != NULL);
    FUZZ_CHECK(sign_key_public(key, pub, sizeof pub) == 64 && !memcmp(pub, want_pub, 64));
    FUZZ_CHECK(sign_key_public(key, pub, 63) == 0);
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const uint8_t *m = (const uint8_t *)vectors[i].message;
        size_t len = strlen(vectors[i].message);
        unsigned hl = 0;
        FUZZ_CHECK(EVP_Digest(m, len, h1, &hl, EVP_sha256(), NULL) && hl == 32);
        unhex(vectors[i].k, want_k, 32);
        sign_rfc6979_k(q, x, h1, 0, k);
        FUZZ_CHECK(!memcmp(k, want_k, 32));
        sign_rfc6979_k(q, x, h1, 1, k); /* the next candidate: another k */
        FUZZ_CHECK(memcmp(k, want_k, 32));
        unhex(vectors[i].rs, want_rs, 64);
        FUZZ_CHECK(sign_key_sign(key, m, len, rs, sizeof rs) == 64 && !memcmp(rs, want_rs, 64));
        FUZZ_CHECK(sign_key_sign(key, m, len, rs, 63) == 0);
    }
    sign_key_free(key);
    FUZZ_CHECK(sign_key_new(SIGN_ECDSAP256SHA256, q, 32) == NULL); /* d = n */
    memset(x, 0, sizeof x);
    FUZZ_CHECK(sign_key_new(SIGN_ECDSAP256SHA256, x, 32) == NULL); /* d = 0 */
    FUZZ_CHECK(sign_key_new(SIGN_ECDSAP256SHA256, x, 31) == NULL);
    FUZZ_CHECK(sign_key_new(14, x, 32) == NULL);
}

static void check_rfc8032(void)
{
    uint8_t seed[32], pub[32], want_pub[32], sig[64], want_sig[64];
    unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", seed, 32);
    unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", want_pub, 32);
    unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
          "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
          want_sig, 64);
    sign_key *key = sign_key_new(SIGN_ED25519, seed, 32);
    FUZZ_CHECK(key != NULL);
    FUZZ_CHECK(sign_key_public(key, pub, sizeof pub) == 32 && !memcmp(pub, want_pub, 32));
    FUZZ_CHECK(sign_key_sign(key, NULL, 0, sig, sizeof sig) == 64 && !memcmp(sig, want_sig, 64));
    sign_key_free(key);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    check_rfc6979();
    check_rfc8032();
    FUZZ_CHECK(strstr(sign_library(), "OpenSSL") != NULL);
    return 0;
}

static int verify_p256(const uint8_t pub[64], const uint8_t *msg, size_t len, const uint8_t rs[64])
{
    uint8_t point[65] = {4}, h[32];
    unsigned hl = 0;
    memcpy(point + 1, pub, 64);
    EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
    int ok = ec != NULL && sig != NULL && r != NULL && s != NULL &&
             EC_KEY_oct2key(ec, point, sizeof point, NULL) && ECDSA_SIG_set0(sig, r, s);
    if (ok)
        r = s = NULL; /* the signature owns them now */
    ok = ok && EVP_Digest(msg, len, h, &hl, EVP_sha256(), NULL) &&
         ECDSA_do_verify(h, (int)hl, sig, ec) == 1;
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    EC_KEY_free(ec);
    return ok;
}

static int verify_ed25519(const uint8_t pub[32], const uint8_t *msg, size_t len,
                          const uint8_t sig[64])
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = pkey != NULL && ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) &&
             EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int algorithm = data[0] & 1 ? SIGN_ED25519 : SIGN_ECDSAP256SHA256;
    size_t key_len = size - 1 < SIGN_SCALAR ? size - 1 : SIGN_SCALAR;
    const uint8_t *msg = data + 1 + key_len;
    size_t len = size - 1 - key_len;
    sign_key *key = sign_key_new(algorithm, data + 1, key_len);
    if (key_len != SIGN_SCALAR || algorithm == SIGN_ED25519)
        FUZZ_CHECK((key != NULL) == (key_len == SIGN_SCALAR));
    if (key == NULL)
        return 0;
    uint8_t pub[SIGN_MAX_PUBLIC], a[SIGN_MAX_SIG], b[SIGN_MAX_SIG];
    size_t pub_len = sign_key_public(key, pub, sizeof pub);
    FUZZ_CHECK(pub_len == (algorithm == SIGN_ED25519 ? 32u : 64u));
    FUZZ_CHECK(sign_key_sign(key, msg, len, a, sizeof a) == 64);
    FUZZ_CHECK(sign_key_sign(key, msg, len, b, sizeof b) == 64 && !memcmp(a, b, 64));
    FUZZ_CHECK(algorithm == SIGN_ED25519 ? verify_ed25519(pub, msg, len, a)
                                         : verify_p256(pub, msg, len, a));
    sign_key_free(key);
    return 0;
}
