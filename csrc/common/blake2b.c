/* BLAKE2b as RFC 7693 specifies it (section 3 and appendix C), one call per message. */
#include "common/blake2b.h"

#include <string.h>

static const uint64_t IV[8] = {
    0x6A09E667F3BCC908ull, 0xBB67AE8584CAA73Bull, 0x3C6EF372FE94F82Bull, 0xA54FF53A5F1D36F1ull,
    0x510E527FADE682D1ull, 0x9B05688C2B3E6C1Full, 0x1F83D9ABFB41BD6Bull, 0x5BE0CD19137E2179ull,
};

static const uint8_t SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static uint64_t rotr(uint64_t x, unsigned n)
{
    return (x >> n) | (x << (64 - n));
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#define G(a, b, c, d, x, y)                                                                        \
    do {                                                                                           \
        v[a] = v[a] + v[b] + (x);                                                                  \
        v[d] = rotr(v[d] ^ v[a], 32);                                                              \
        v[c] = v[c] + v[d];                                                                        \
        v[b] = rotr(v[b] ^ v[c], 24);                                                              \
        v[a] = v[a] + v[b] + (y);                                                                  \
        v[d] = rotr(v[d] ^ v[a], 16);                                                              \
        v[c] = v[c] + v[d];                                                                        \
        v[b] = rotr(v[b] ^ v[c], 63);                                                              \
    } while (0)

/* F: one 128-byte block into h; t the bytes so far, last the final-block flag. */
static void compress(uint64_t h[8], const uint8_t block[128], uint64_t t, int last)
{
    uint64_t v[16], m[16];
    for (int i = 0; i < 8; i++)
        v[i] = h[i], v[i + 8] = IV[i];
    v[12] ^= t; /* the counter's high word stays 0: messages here are short */
    if (last)
        v[14] = ~v[14];
    for (int i = 0; i < 16; i++)
        m[i] = load64(block + 8 * i);
    for (int r = 0; r < 12; r++) {
        const uint8_t *s = SIGMA[r];
        G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++)
        h[i] ^= v[i] ^ v[i + 8];
}

int common_blake2b(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
                   const uint8_t *msg, size_t msglen)
{
    if (outlen == 0 || outlen > 64 || keylen > 64 || (keylen && key == NULL) ||
        (msglen && msg == NULL))
        return -1;
    uint64_t h[8], t = 0;
    memcpy(h, IV, sizeof h);
    h[0] ^= 0x01010000ull ^ ((uint64_t)keylen << 8) ^ outlen;
    uint8_t block[128];
    if (keylen) { /* the key, zero-padded, is the first block */
        memset(block, 0, sizeof block);
        memcpy(block, key, keylen);
        t = 128;
        if (msglen == 0) {
            compress(h, block, t, 1);
            goto done;
        }
        compress(h, block, t, 0);
    }
    while (msglen > 128) {
        t += 128;
        compress(h, msg, t, 0);
        msg += 128;
        msglen -= 128;
    }
    memset(block, 0, sizeof block);
    if (msglen)
        memcpy(block, msg, msglen);
    t += msglen;
    compress(h, block, t, 1);
done:
    for (size_t i = 0; i < outlen; i++)
        out[i] = (uint8_t)(h[i / 8] >> (8 * (i % 8)));
    return 0;
}
