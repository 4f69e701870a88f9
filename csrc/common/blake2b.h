/* BLAKE2b (RFC 7693), keyed, for short messages: the hash Python's hashlib.blake2b gives,
   so a sticky weighted choice made here is the one policies/weighted.py makes. */
#ifndef GN_BLAKE2B_H
#define GN_BLAKE2B_H

#include <stddef.h>
#include <stdint.h>

/* out (outlen 1..64 bytes) = BLAKE2b(key (keylen 0..64), msg); 0, or -1 on bad lengths. */
int common_blake2b(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
                   const uint8_t *msg, size_t msglen);

#endif
