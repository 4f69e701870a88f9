/* Policy trees split by the networks their zone has measured RTTs for (latency ranked per
   client network, geodns/geo/measuredsplit.py): the measured interval holding the address
   names a group; with the GeoIP class it picks the class (the GeoIP one where nothing is
   measured). The scope is the widest prefix inside both ranges, never wider than the
   longest measured prefix. */
#include "answer/answer.h"

uint32_t answer_split(const gn_policy *p, int family, uint32_t a4, const uint8_t addr[16],
                      uint32_t cls, int *scope)
{
    int inside = 0, floor = family == 4 ? p->floor4 : p->floor6;
    uint32_t group =
        family == 4 ? geo_find4(&p->ov, a4, &inside) : geo_find6(&p->ov, addr, &inside);
    if (inside > *scope)
        *scope = inside;
    if (floor > *scope)
        *scope = floor;
    if (group == 0)
        return cls;
    uint64_t key = (uint64_t)group << 32 | cls;
    size_t lo = 0, hi = p->n_pairs;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (p->pair_key[m] < key)
            lo = m + 1;
        else
            hi = m;
    }
    return lo < p->n_pairs && p->pair_key[lo] == key ? p->pair_cls[lo] : UINT32_MAX;
}
