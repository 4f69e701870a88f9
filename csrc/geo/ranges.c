/* Binary search over compiled GeoIP ranges (see csrc/geo/ranges.h): one job, no Python API. */
#include "geo/ranges.h"

#include <string.h>

typedef gd_u128 u128;

/* The smallest p in [0, bits] with addr/p inside [lo, hi]; valid p are upward-closed
 * (a longer prefix of addr is a subset), and p == bits always fits since lo <= addr <= hi. */
static int widest32(uint32_t addr, uint32_t lo, uint32_t hi)
{
    int a = 0, b = 32;
    while (a < b) {
        int p = (a + b) / 2;
        uint32_t host = p == 0 ? 0xFFFFFFFFu : (p == 32 ? 0 : (0xFFFFFFFFu >> p));
        uint32_t net = addr & ~host;
        if (net >= lo && (net | host) <= hi)
            b = p;
        else
            a = p + 1;
    }
    return a;
}

static int widest128(u128 addr, u128 lo, u128 hi)
{
    int a = 0, b = 128;
    while (a < b) {
        int p = (a + b) / 2;
        u128 host = p == 0 ? ~(u128)0 : (p == 128 ? 0 : (~(u128)0 >> p));
        u128 net = addr & ~host;
        if (net >= lo && (net | host) <= hi)
            b = p;
        else
            a = p + 1;
    }
    return a;
}

uint32_t geo_find4(const gd_ranges *r, uint32_t addr, int *scope)
{
    size_t a = 0, b = r->n4; /* the last i with start[i] <= addr: start[0] == 0 */
    while (b - a > 1) {
        size_t m = a + (b - a) / 2;
        if (r->start4[m] <= addr)
            a = m;
        else
            b = m;
    }
    uint32_t lo = r->start4[a];
    uint32_t hi = a + 1 < r->n4 ? r->start4[a + 1] - 1 : 0xFFFFFFFFu;
    if (scope)
        *scope = widest32(addr, lo, hi);
    return r->cls4[a];
}

uint32_t geo_find6(const gd_ranges *r, const uint8_t addr[16], int *scope)
{
    size_t a = 0, b = r->n6;
    while (b - a > 1) {
        size_t m = a + (b - a) / 2;
        if (memcmp(r->start6[m], addr, 16) <= 0)
            a = m;
        else
            b = m;
    }
    if (scope) {
        u128 lo = gd_load128(r->start6[a]);
        u128 hi = a + 1 < r->n6 ? gd_load128(r->start6[a + 1]) - 1 : ~(u128)0;
        *scope = widest128(gd_load128(addr), lo, hi);
    }
    return r->cls6[a];
}

int geo_ranges_valid(const gd_ranges *r)
{
    static const uint8_t zero[16];
    if (!r->n4 || !r->n6 || r->start4[0] != 0 || memcmp(r->start6[0], zero, 16) != 0)
        return 0;
    for (size_t i = 1; i < r->n4; i++)
        if (r->start4[i] <= r->start4[i - 1])
            return 0;
    for (size_t i = 1; i < r->n6; i++)
        if (memcmp(r->start6[i], r->start6[i - 1], 16) <= 0)
            return 0;
    return 1;
}
