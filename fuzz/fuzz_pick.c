/* Fuzz the per-query picks (csrc/answer/: draw.c, rendezvous.c, rotate.c; common/blake2b.c)
   on any bytes: a rotation writes exactly its N records, in order from the start, and never
   past its buffer; a draw and a sticky hash pick an index below n; BLAKE2b takes any key,
   message and digest length, and refuses lengths past 64; answer_unit stays in (0, 1]. */
#include <string.h>

#include "answer/pick.h"
#include "common/blake2b.h"
#include "fuzz.h"

static void check_rotate(const uint8_t *d, size_t size)
{
    if (size < 4)
        return;
    uint32_t len = 1 + d[0] % 28, max = 1 + d[1] % 8;
    uint32_t n = (uint32_t)((size - 4) / len);
    uint64_t start = (uint64_t)d[2] << 56 | d[3];
    static uint8_t out[512];
    size_t cap = d[2] % sizeof out, at = d[3] % 64;
    size_t end = answer_rotate(out, at, cap, d + 4, n, len, max, start);
    uint32_t take = n < max ? n : max;
    if (end == cap + 1) {
        FUZZ_CHECK(at > cap || (size_t)take * len > cap - at);
        return;
    }
    FUZZ_CHECK(end == at + (size_t)take * len && end <= cap);
    uint32_t first = n > max ? (uint32_t)(start % n) : 0;
    for (uint32_t i = 0; i < take; i++)
        FUZZ_CHECK(
            memcmp(out + at + (size_t)i * len, d + 4 + (size_t)((first + i) % n) * len, len) == 0);
}

static void check_picks(const uint8_t *d, size_t size)
{
    gn_pick p[8];
    uint32_t n = size ? 1 + d[0] % 8 : 1;
    uint64_t bound = 0;
    for (uint32_t i = 0; i < n; i++) {
        memset(&p[i], 0, sizeof p[i]);
        bound += 1 + (i < size ? d[i] : 0) * (1ull << 40);
        p[i].bound = i + 1 == n ? 1ull << GN_DRAW_BITS : bound;
        p[i].weight = 0.5 + (i < size ? d[i] : 1);
        memcpy(p[i].key, d, size < 16 ? size : 16);
        p[i].key[0] ^= (uint8_t)i;
    }
    uint64_t state = size ? d[size - 1] : 0;
    uint64_t k = answer_draw_next(&state);
    FUZZ_CHECK(k < (1ull << GN_DRAW_BITS));
    FUZZ_CHECK(answer_draw_pick(p, n, k) < n);
    FUZZ_CHECK(answer_rendezvous(p, n, d, size < 16 ? size : 16) < n);
    uint64_t v = 0;
    memcpy(&v, d, size < 8 ? size : 8);
    double u = answer_unit(v);
    FUZZ_CHECK(u > 0.0 && u <= 1.0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_rotate(data, size);
    check_picks(data, size);
    uint8_t out[65];
    size_t outlen = size ? data[0] % 66 : 0, keylen = size > 1 ? data[1] % 66 : 0;
    size_t rest = size > 2 ? size - 2 : 0;
    int rc = common_blake2b(out, outlen, rest >= keylen ? data + 2 : NULL, keylen, data + 2, rest);
    FUZZ_CHECK(rc == ((outlen >= 1 && outlen <= 64 && keylen <= 64 && rest >= keylen) ? 0 : -1));
    return 0;
}
