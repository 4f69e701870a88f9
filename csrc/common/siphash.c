/* SipHash-2-4: two compression rounds per 8-byte word, four finalization rounds, from the
   paper's description (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012).
   Checked against the paper's 64 reference vectors and the siphashc package
   (tests/unit/test_fast_abuse.py). */
#include "common/siphash.h"

static inline uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#include <string.h>

/* 8 bytes as a little-endian word: one load on little-endian machines */
static inline uint64_t load64(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
#endif
}

/* the last 0..7 bytes, little-endian */
static inline uint64_t load_tail(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    switch (n) {
    case 7:
        v |= (uint64_t)p[6] << 48; /* fall through */
    case 6:
        v |= (uint64_t)p[5] << 40; /* fall through */
    case 5:
        v |= (uint64_t)p[4] << 32; /* fall through */
    case 4:
        v |= (uint64_t)p[3] << 24; /* fall through */
    case 3:
        v |= (uint64_t)p[2] << 16; /* fall through */
    case 2:
        v |= (uint64_t)p[1] << 8; /* fall through */
    case 1:
        v |= (uint64_t)p[0];
    }
    return v;
}

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

uint64_t common_siphash24(const uint8_t key[GD_SIP_KEY], const uint8_t *data, size_t len)
{
    uint64_t k0 = load64(key), k1 = load64(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load64(data + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    /* the last word: the remaining 0..7 bytes and the length's low byte on top */
    uint64_t b = ((uint64_t)len << 56) | load_tail(data + whole, len - whole);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void common_sip_store_le(uint64_t v, uint8_t out[8])
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}
