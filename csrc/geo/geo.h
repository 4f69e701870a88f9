/* Compiled GeoIP, internal to geodns._native: the MMDB search-tree walk, the data-section
 * decoder and the range merges share these declarations (see csrc/geo/ranges.h for the ranges
 * themselves). Every read of the database is bounds-checked against its mapped size. */
#ifndef GEODNS_FASTGEO_H
#define GEODNS_FASTGEO_H

#include <stddef.h>
#include <stdint.h>

/* One database as the Python side holds it (a map of the sealed snapshot copy). */
typedef struct {
    const uint8_t *buf;
    size_t len;
    uint32_t nc;      /* node count */
    int rs;           /* record size in bits: 24, 28, 32 */
    int ipv;          /* 4 or 6 */
    size_t tree_size; /* bytes of the search tree; the data section starts 16 after */
} gd_db;

/* Leaves of one family in address order, adjacent equal records merged. rec: 0 = no data,
 * else a record index (1-based into gd_walk.offsets once gd_walk_index ran; the raw tree
 * value before). For IPv6, alias[i] >= 0 says leaf i is the IPv4 subtree seen from depth
 * alias[i] (::/96, and 2002::/16 and the like in MaxMind files): its addresses are the
 * IPv4 leaves shifted there; -1 otherwise. */
typedef struct {
    size_t n, cap;
    uint32_t *rec;
    uint32_t *start4;
    uint8_t (*start6)[16];
    int16_t *alias;
} gd_leaves;

typedef struct {
    gd_leaves v4, v6;
    uint32_t *offsets; /* absolute data offsets of the distinct records, sorted */
    size_t nrec;
} gd_walk;

/* 0, or -1 with *err set to a static message (truncated or hostile file). */
int geo_walk_tree(const gd_db *db, gd_walk *out, const char **err);
void geo_walk_free(gd_walk *w);

/* Growable merged ranges, the output of every merge below. */
typedef struct {
    size_t n, cap;
    int width;      /* 4 or 16: bytes of a start */
    uint8_t *start; /* n * width bytes: uint32 host order, or 16 bytes network order */
    uint32_t *cls;
} gd_out;

int geo_out_push(gd_out *o, const void *start, uint32_t cls); /* merges equal neighbours */
void geo_out_free(gd_out *o);

/* cls[rec] for every leaf; -1 on memory or a record index >= ncls. */
int geo_classify4(const gd_walk *w, const uint32_t *cls, size_t ncls, gd_out *o);
/* IPv6: the aliased IPv4 subtree comes from o4, the merged IPv4 output of geo_classify4. */
int geo_classify6(const gd_walk *w, const uint32_t *cls, size_t ncls, const gd_out *o4, gd_out *o);

/* Common refinement of two range lists of one width: key = a * nb + b per piece. */
int geo_overlay(int width, const uint8_t *sa, const uint32_t *ca, size_t na, const uint8_t *sb,
                const uint32_t *cb, size_t nb_ranges, uint32_t nb, gd_out *o);

#endif
