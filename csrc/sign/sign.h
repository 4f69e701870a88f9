/* DNSSEC signatures with OpenSSL's libcrypto: the bytes the `cryptography` package makes
   (geodns/dnssec/signer.py), made here in C, for RRSIGs (RFC 4034) of algorithms 13 (ECDSA
   P-256 with SHA-256, RFC 6605) and 15 (Ed25519, RFC 8080); callable without the GIL.

   Deterministic, so every instance with the same keys and content signs the same bytes:
   Ed25519 is by design; ECDSA takes its nonce from RFC 6979's HMAC-DRBG (sign/nonce.c), since
   OpenSSL 3.0 (Debian's) has no deterministic ECDSA of its own (3.2 added it).

   A sign_key is made once per key and only read while signing, so threads may share one;
   each signature allocates its own scratch. No Python API inside. */
#ifndef GD_SIGN_H
#define GD_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define SIGN_ECDSAP256SHA256 13 /* DNSSEC algorithm numbers (IANA) */
#define SIGN_ED25519 15
#define SIGN_SCALAR 32     /* a P-256 scalar or coordinate; an Ed25519 private or public key */
#define SIGN_MAX_SIG 64    /* r||s (RFC 6605), or an Ed25519 signature: both 64 bytes */
#define SIGN_MAX_PUBLIC 64 /* the DNSKEY public key field: X||Y for P-256, 32 for Ed25519 */

typedef struct sign_key sign_key;

/* sign/key.c: a key from the private half as BIND's .private file holds it (the 32-byte
   big-endian scalar for 13, the 32-byte seed for 15); NULL when the algorithm is not one of
   ours, the length is wrong, the scalar is out of range, or libcrypto fails. */
sign_key *sign_key_new(int algorithm, const uint8_t *private_key, size_t len);
void sign_key_free(sign_key *key);
/* The DNSKEY public key field into out (cap bytes): its length, or 0 if cap is short. */
size_t sign_key_public(const sign_key *key, uint8_t *out, size_t cap);
/* The signature of msg into out (cap bytes): its length (64), or 0 on failure. */
size_t sign_key_sign(const sign_key *key, const uint8_t *msg, size_t len, uint8_t *out, size_t cap);
/* libcrypto's version text, for `geodns version` */
const char *sign_library(void);

/* sign/p256.c: ECDSA P-256 with SHA-256 and an RFC 6979 nonce, as r||s. */
typedef struct sign_p256 sign_p256;
sign_p256 *sign_p256_new(const uint8_t d[SIGN_SCALAR]);
void sign_p256_free(sign_p256 *key);
int sign_p256_public(const sign_p256 *key, uint8_t out[2 * SIGN_SCALAR]);
int sign_p256_sign(const sign_p256 *key, const uint8_t *msg, size_t len,
                   uint8_t out[2 * SIGN_SCALAR]);

/* sign/ed25519.c: Ed25519 (RFC 8032) through EVP_DigestSign. */
typedef struct sign_ed25519 sign_ed25519;
sign_ed25519 *sign_ed25519_new(const uint8_t seed[SIGN_SCALAR]);
void sign_ed25519_free(sign_ed25519 *key);
int sign_ed25519_public(const sign_ed25519 *key, uint8_t out[SIGN_SCALAR]);
int sign_ed25519_sign(const sign_ed25519 *key, const uint8_t *msg, size_t len,
                      uint8_t out[2 * SIGN_SCALAR]);

/* sign/nonce.c: RFC 6979 §3.2's k for a 256-bit order q (big-endian, 32 bytes each) with
   HMAC-SHA256: x the private scalar (1 <= x < q), h1 the message's SHA-256. The skip-th
   candidate in [1, q-1] (0: the first): a signer whose r or s came out 0 asks for the next,
   as §3.2 step h.3 continues the generator. Cannot fail. */
void sign_rfc6979_k(const uint8_t q[SIGN_SCALAR], const uint8_t x[SIGN_SCALAR],
                    const uint8_t h1[SIGN_SCALAR], unsigned skip, uint8_t k[SIGN_SCALAR]);

#endif
