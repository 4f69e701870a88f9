/* Compiled GeoIP ranges: the class of an address and its ECS scope by binary search.
 *
 * Owned by the compiled-GeoIP work (geodns/geo/compiled.py builds the arrays; NET compiles
 * csrc/geo/ranges.c into geodns._native and reads the same arrays without the GIL).
 *
 * Sorted, contiguous ranges covering the whole family's address space: range i is
 * [start[i], start[i+1]) (the last runs to the top); start[0] == 0. cls[i] is the decision
 * class of every address in the range; adjacent ranges never share a class (merged).
 * Memory is owned by the caller: on the Python side, `Compiled.buffers()` returns
 * (start4, cls4, start6, cls6) as bytes objects in exactly this layout (native byte order
 * for the uint32 arrays, network order for the 16-byte IPv6 starts); keep a reference to
 * them for as long as a gd_ranges points into them.
 */
#ifndef GEODNS_FASTRANGES_H
#define GEODNS_FASTRANGES_H

#include <stddef.h>
#include <stdint.h>

/* A 16-byte network-order address as one 128-bit number (what the IPv6 arithmetic of the
   lookup and of the merge both need). */
typedef unsigned __int128 gd_u128;
static inline gd_u128 gd_load128(const uint8_t a[16])
{
    gd_u128 v = 0;
    for (int i = 0; i < 16; i++)
        v = (v << 8) | a[i];
    return v;
}

typedef struct {
    const uint32_t *start4;
    const uint32_t *cls4;
    size_t n4; /* host byte order */
    const uint8_t (*start6)[16];
    const uint32_t *cls6;
    size_t n6; /* network byte order */
} gd_ranges;

/* The class of addr and, in *scope, the widest prefix length p such that addr/p lies
 * wholly inside addr's range (never more than 32 / 128). Pure, lock-free, GIL-free.
 * n4/n6 must be >= 1 and start[0] == 0 (geo_ranges_valid checks both, and the order). */
uint32_t geo_find4(const gd_ranges *r, uint32_t addr, int *scope);
uint32_t geo_find6(const gd_ranges *r, const uint8_t addr[16], int *scope);

/* 1 when the arrays obey the layout above (non-empty, start at 0, strictly increasing):
 * check once when a table is handed over, not per query. */
int geo_ranges_valid(const gd_ranges *r);

#endif
