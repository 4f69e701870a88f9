/* SipHash-2-4 (Aumasson and Bernstein, 2012): the keyed hash of RFC 9018 server cookies,
   and the key hash of the RRL table. Pure and reentrant: any thread, no GIL, no state. */
#ifndef GD_FASTSIP_H
#define GD_FASTSIP_H

#include <stddef.h>
#include <stdint.h>

#define GD_SIP_KEY 16

/* SipHash-2-4 of data[0..len) under a 16-byte key. The result is the 64-bit value the
   reference implementation writes little-endian (the value `siphashc.siphash` returns);
   store it with common_sip_store_le() to get the reference's 8 output bytes. */
uint64_t common_siphash24(const uint8_t key[GD_SIP_KEY], const uint8_t *data, size_t len);

/* v as 8 little-endian bytes (the digest as RFC 9018 puts it into a cookie). */
void common_sip_store_le(uint64_t v, uint8_t out[8]);

#endif
