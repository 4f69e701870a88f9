/* Ranges from leaves: classify (record -> class), overlay (two partitions -> pairs), each
 * merging neighbours of equal class as it goes. No Python API. */
#include "geo/geo.h"
#include "geo/ranges.h"

#include <stdlib.h>
#include <string.h>

int geo_out_push(gd_out *o, const void *start, uint32_t cls)
{
    if (o->n && o->cls[o->n - 1] == cls)
        return 0;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 1024;
        uint8_t *s = realloc(o->start, cap * (size_t)o->width);
        uint32_t *c = realloc(o->cls, cap * sizeof *c);
        if (s)
            o->start = s;
        if (c)
            o->cls = c;
        if (!s || !c)
            return -1;
        o->cap = cap;
    }
    memcpy(o->start + o->n * (size_t)o->width, start, (size_t)o->width);
    o->cls[o->n++] = cls;
    return 0;
}

void geo_out_free(gd_out *o)
{
    free(o->start);
    free(o->cls);
    o->start = NULL;
    o->cls = NULL;
    o->n = o->cap = 0;
}

int geo_classify4(const gd_walk *w, const uint32_t *cls, size_t ncls, gd_out *o)
{
    o->width = 4;
    for (size_t i = 0; i < w->v4.n; i++) {
        uint32_t rec = w->v4.rec[i];
        if (rec >= ncls || geo_out_push(o, &w->v4.start4[i], cls[rec]) < 0)
            return -1;
    }
    return 0;
}

typedef gd_u128 u128;

static void store128(uint8_t out[16], u128 v)
{
    for (int i = 15; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

int geo_classify6(const gd_walk *w, const uint32_t *cls, size_t ncls, const gd_out *o4, gd_out *o)
{
    o->width = 16;
    for (size_t i = 0; i < w->v6.n; i++) {
        uint32_t rec = w->v6.rec[i];
        int depth = w->v6.alias[i];
        if (depth < 0) {
            if (rec >= ncls || geo_out_push(o, w->v6.start6[i], cls[rec]) < 0)
                return -1;
            continue;
        }
        /* the IPv4 subtree seen from `depth`: the merged IPv4 ranges shifted under it */
        u128 base = gd_load128(w->v6.start6[i]);
        for (size_t j = 0; j < o4->n; j++) {
            uint8_t start[16];
            uint32_t s4;
            memcpy(&s4, o4->start + 4 * j, 4);
            store128(start, base | ((u128)s4 << (96 - depth)));
            if (geo_out_push(o, start, o4->cls[j]) < 0)
                return -1;
        }
    }
    return 0;
}

/* start i of a list as a comparable number (the widths agree within one overlay) */
static u128 at(int width, const uint8_t *s, size_t i)
{
    if (width == 4) {
        uint32_t v;
        memcpy(&v, s + 4 * i, 4);
        return v;
    }
    return gd_load128(s + 16 * i);
}

int geo_overlay(int width, const uint8_t *sa, const uint32_t *ca, size_t na, const uint8_t *sb,
                const uint32_t *cb, size_t nb_ranges, uint32_t nb, gd_out *o)
{
    o->width = width;
    size_t i = 0, j = 0;
    if (!na || !nb_ranges)
        return -1;
    while (i < na && j < nb_ranges) {
        u128 a = at(width, sa, i), b = at(width, sb, j);
        u128 start = a > b ? a : b;
        uint64_t key = (uint64_t)ca[i] * nb + cb[j];
        if (key > UINT32_MAX)
            return -1;
        uint8_t buf[16];
        if (width == 4) {
            uint32_t v = (uint32_t)start;
            memcpy(buf, &v, 4);
        } else {
            store128(buf, start);
        }
        if (geo_out_push(o, buf, (uint32_t)key) < 0)
            return -1;
        /* advance whichever range ends first (both when they end together) */
        int more_a = i + 1 < na, more_b = j + 1 < nb_ranges;
        if (!more_a && !more_b)
            break;
        u128 na_start = more_a ? at(width, sa, i + 1) : 0,
             nb_start = more_b ? at(width, sb, j + 1) : 0;
        if (more_a && (!more_b || na_start <= nb_start))
            i++;
        if (more_b && (!more_a || nb_start <= na_start))
            j++;
    }
    return 0;
}
