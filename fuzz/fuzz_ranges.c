/* Fuzz the compiled GeoIP range lookup (csrc/geo/ranges.c, helper GEO's): geo_ranges_valid
   on raw arrays, and geo_find4/geo_find6 on valid ones against a linear search. Input: counts
   (2) | IPv4 start steps (4 each) | IPv6 start steps (16 each) | addresses to look up. */
#include <string.h>

#include "geo/ranges.h"
#include "fuzz.h"

typedef unsigned __int128 u128;

static u128 load128(const uint8_t a[16])
{
    u128 v = 0;
    for (int i = 0; i < 16; i++)
        v = v << 8 | a[i];
    return v;
}

static void store128(uint8_t out[16], u128 v)
{
    for (int i = 15; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

/* the range's [lo, hi] holds addr/scope, and (scope > 0) not addr/(scope-1) */
static void check_scope(u128 addr, u128 lo, u128 hi, int scope, int bits)
{
    FUZZ_CHECK(scope >= 0 && scope <= bits);
    u128 ones = ~(u128)0 >> (128 - bits);
    u128 host = scope == bits ? 0 : ones >> scope;
    FUZZ_CHECK((addr & ~host & ones) >= lo && (addr | host) <= hi);
    if (scope > 0) {
        u128 wider = ones >> (scope - 1);
        FUZZ_CHECK((addr & ~wider & ones) < lo || (addr | wider) > hi);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n4 = (size_t)data[0] % 64 + 1, n6 = (size_t)data[1] % 32 + 1, pos = 2;
    uint32_t start4[64], cls4[64], cls6[32];
    uint8_t start6[32][16];
    /* raw: whatever the bytes say, for geo_ranges_valid alone */
    gd_ranges raw = {start4, cls4, n4, (const uint8_t(*)[16])start6, cls6, n6};
    for (size_t i = 0; i < n4; i++, pos += 4) {
        start4[i] = 0;
        if (pos + 4 <= size)
            memcpy(&start4[i], data + pos, 4);
        cls4[i] = (uint32_t)i;
    }
    for (size_t i = 0; i < n6; i++, pos += 16) {
        memset(start6[i], 0, 16);
        if (pos + 16 <= size)
            memcpy(start6[i], data + pos, 16);
        cls6[i] = (uint32_t)i;
    }
    (void)geo_ranges_valid(&raw);
    /* valid: steps from 0, strictly increasing, stopped before they wrap */
    size_t m4 = 1, m6 = 1;
    uint64_t at4 = 0;
    for (size_t i = 1; i < n4; i++) {
        at4 += (uint64_t)(start4[i] % 0x10000000u) + 1;
        if (at4 > UINT32_MAX)
            break;
        start4[m4++] = (uint32_t)at4;
    }
    start4[0] = 0;
    u128 at6 = 0;
    for (size_t i = 1; i < n6; i++) {
        u128 step = (load128(start6[i]) >> (start6[i][0] % 128)) + 1, next = at6 + step;
        if (next <= at6)
            break;
        at6 = next;
        store128(start6[m6++], at6);
    }
    memset(start6[0], 0, 16);
    gd_ranges r = {start4, cls4, m4, (const uint8_t(*)[16])start6, cls6, m6};
    FUZZ_CHECK(geo_ranges_valid(&r));
    for (; pos < size; pos += 4) {
        uint32_t a = 0;
        memcpy(&a, data + pos, size - pos < 4 ? size - pos : 4);
        if (a & 1)
            a = start4[a / 2 % m4] - (a & 2 ? 1 : 0); /* edges */
        int scope = -1;
        uint32_t c = geo_find4(&r, a, &scope);
        size_t i = m4 - 1;
        while (start4[i] > a)
            i--;
        FUZZ_CHECK(c == cls4[i]);
        check_scope(a, start4[i], i + 1 < m4 ? start4[i + 1] - 1 : UINT32_MAX, scope, 32);
        uint8_t a6[16];
        u128 v = (u128)a << 96 | (u128)a << 32 | (a >> 7);
        if (a & 4)
            v = load128(start6[a / 8 % m6]) - (a & 8 ? 1 : 0);
        store128(a6, v);
        c = geo_find6(&r, a6, &scope);
        for (i = m6 - 1; load128(start6[i]) > v; i--) {
        }
        FUZZ_CHECK(c == cls6[i]);
        check_scope(v, load128(start6[i]), i + 1 < m6 ? load128(start6[i + 1]) - 1 : ~(u128)0,
                    scope, 128);
    }
    return 0;
}
