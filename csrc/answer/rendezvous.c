/* Sticky weighted: rendezvous hashing of the client network, the very arithmetic of
   policies/weighted.py: h = (blake2b-64(net, key) + 1) / (2^64 + 1), score = -w / ln(h),
   the highest score wins, the first on a tie. */
#include "answer/pick.h"

#include <math.h>

#include "common/blake2b.h"

/* x = d + 1 (up to 2^64) divided by 2^64 + 1, correctly rounded: x * 2^-64 less x * 2^-128
   and beyond, a hair below x * 2^-64. So x rounded to 53 bits, except that an x exactly
   halfway between two doubles rounds down (the true quotient is just below the tie). */
double answer_unit(uint64_t d)
{
    if (d == UINT64_MAX)
        return 1.0; /* 2^64 / (2^64 + 1) rounds to 1 */
    uint64_t x = d + 1;
    int bits = 64 - __builtin_clzll(x);
    if (bits <= 53)
        return ldexp((double)x, -64);
    int shift = bits - 53;
    uint64_t low = x & ((1ull << shift) - 1), half = 1ull << (shift - 1);
    uint64_t mant = x >> shift;
    if (low > half)
        mant++;
    return ldexp((double)mant, shift - 64);
}

uint32_t answer_rendezvous(const gn_pick *p, uint32_t n, const uint8_t *net, size_t len)
{
    uint32_t best = 0;
    double best_score = -INFINITY;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t digest[8];
        if (common_blake2b(digest, 8, p[i].key, 16, net, len) < 0)
            return 0;
        uint64_t d = 0;
        for (int j = 0; j < 8; j++)
            d = (d << 8) | digest[j]; /* int.from_bytes(digest, "big") */
        double score = -p[i].weight / log(answer_unit(d));
        if (score > best_score) {
            best = i;
            best_score = score;
        }
    }
    return best;
}
