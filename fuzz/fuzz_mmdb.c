/* Fuzz the MMDB search-tree walk and the range merges (csrc/geo/walk.c,
   csrc/geo/merge.c, helper GEO's) with hostile databases. Input: node count (4, little
   endian) | record size (1: 24, 28 or 32) | ip_version (1) | the database bytes (the search
   tree first, as the metadata would say). fuzz/seeds.py makes seeds from the test fixtures
   with their real metadata. */
#include <stdlib.h>
#include <string.h>

#include "geo/geo.h"
#include "geo/ranges.h"
#include "fuzz.h"
#include "fuzz_db.h"

static void look(const gd_out *o4, const gd_out *o6)
{
    gd_ranges r = {(const uint32_t *)o4->start,     o4->cls, o4->n,
                   (const uint8_t(*)[16])o6->start, o6->cls, o6->n};
    if (!o4->n || !o6->n || !geo_ranges_valid(&r))
        return;
    int scope;
    uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8};
    for (uint32_t a = 0x01020304; a < 0xF0000000u; a += 0x0F3F1F17u) {
        geo_find4(&r, a, &scope);
        memcpy(a6 + 4, &a, 4);
        geo_find6(&r, a6, &scope);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gd_db db;
    if (fuzz_db(data, size, &db) < 0)
        return 0;
    gd_walk w;
    const char *err = NULL;
    if (geo_walk_tree(&db, &w, &err) < 0) {
        FUZZ_CHECK(err != NULL);
        return 0;
    }
    size_t ncls = w.nrec + 1;
    uint32_t *cls = malloc(ncls * sizeof *cls);
    FUZZ_CHECK(cls != NULL);
    for (size_t i = 0; i < ncls; i++) {
        FUZZ_CHECK(i == 0 || w.offsets[i - 1] < db.len);
        cls[i] = (uint32_t)(i % 3);
    }
    gd_out o4 = {.width = 4}, o6 = {.width = 16}, both = {.width = 4};
    if (geo_classify4(&w, cls, ncls, &o4) == 0 && geo_classify6(&w, cls, ncls, &o4, &o6) == 0) {
        look(&o4, &o6);
        if (o4.n)
            (void)geo_overlay(4, o4.start, o4.cls, o4.n, o4.start, o4.cls, o4.n, 3, &both);
        /* a class list too short is refused, not read past */
        if (ncls > 1) {
            gd_out short4 = {.width = 4};
            if (w.v4.n)
                FUZZ_CHECK(geo_classify4(&w, cls, 1, &short4) <= 0);
            geo_out_free(&short4);
        }
    }
    geo_out_free(&o4);
    geo_out_free(&o6);
    geo_out_free(&both);
    free(cls);
    geo_walk_free(&w);
    return 0;
}
