/* The MMDB search-tree walk: every leaf network of each family, in address order, with its
 * data record; adjacent leaves with the same record merged. No Python API. */
#include "geo/geo.h"

#include <stdlib.h>
#include <string.h>

#define ALIAS_NONE (-1)

static uint32_t read_record(const gd_db *db, uint32_t node, int bit)
{
    const uint8_t *p;
    switch (db->rs) {
    case 24:
        p = db->buf + (size_t)node * 6 + 3 * bit;
        return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    case 28:
        p = db->buf + (size_t)node * 7;
        if (bit)
            return (uint32_t)(p[3] & 0x0F) << 24 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 8 |
                   p[6];
        return (uint32_t)(p[3] >> 4) << 24 | (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    default:
        p = db->buf + (size_t)node * 8 + 4 * bit;
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    }
}

static int grow(gd_leaves *l, int width)
{
    if (l->n < l->cap)
        return 0;
    size_t cap = l->cap ? l->cap * 2 : 4096;
    uint32_t *rec = realloc(l->rec, cap * sizeof *rec);
    if (!rec)
        return -1;
    l->rec = rec;
    if (width == 4) {
        uint32_t *s = realloc(l->start4, cap * sizeof *s);
        if (!s)
            return -1;
        l->start4 = s;
    } else {
        uint8_t(*s)[16] = realloc(l->start6, cap * sizeof *s);
        int16_t *a = realloc(l->alias, cap * sizeof *a);
        if (s)
            l->start6 = s;
        if (a)
            l->alias = a;
        if (!s || !a)
            return -1;
    }
    l->cap = cap;
    return 0;
}

typedef unsigned __int128 u128;

static void store128(uint8_t out[16], u128 v)
{
    for (int i = 15; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

/* A leaf value as stored: 0 for no data, the tree value for a record; -1 if it points
 * outside the file. An inner node at the bottom of the tree reads as no data, as in
 * geo/mmdb.py's lookup. */
static int leaf_value(const gd_db *db, uint32_t v, uint32_t *out)
{
    if (v <= db->nc) {
        *out = 0;
        return 0;
    }
    uint64_t off = (uint64_t)v - db->nc + db->tree_size;
    if (off >= db->len)
        return -1;
    *out = v;
    return 0;
}

typedef struct {
    uint32_t node;
    int depth;
    u128 prefix;
} frame;

/* Depth-first, left first: leaves come out in address order. `v4root` (IPv6 walks only)
 * is emitted as an alias instead of being walked again. */
static int walk(const gd_db *db, uint32_t root, int rootdepth, int bits, uint32_t v4root,
                gd_leaves *l, const char **err)
{
    frame stack[130];
    int top = 0;
    uint64_t budget = (uint64_t)db->nc * 4 + 1024; /* a tree visits each node ~once */
    stack[top++] = (frame){root, rootdepth, 0};
    while (top) {
        frame f = stack[--top];
        int alias = ALIAS_NONE;
        uint32_t rec = 0;
        if (f.node < db->nc && f.depth < bits) {
            if (bits == 128 && f.node == v4root && f.depth <= 96) {
                alias = f.depth;
            } else {
                if (!budget--) {
                    *err = "search tree is not a tree (cycles or shared subtrees)";
                    return -1;
                }
                u128 bit = (u128)1 << (bits - 1 - f.depth);
                stack[top++] = (frame){read_record(db, f.node, 1), f.depth + 1, f.prefix | bit};
                stack[top++] = (frame){read_record(db, f.node, 0), f.depth + 1, f.prefix};
                continue;
            }
        } else if (leaf_value(db, f.node < db->nc ? db->nc : f.node, &rec) < 0) {
            *err = "search tree points past the end of the file";
            return -1;
        }
        if (alias == ALIAS_NONE && l->n && l->rec[l->n - 1] == rec &&
            (bits == 32 || l->alias[l->n - 1] == ALIAS_NONE))
            continue; /* same record as the leaf before: one range */
        if (grow(l, bits == 32 ? 4 : 16) < 0) {
            *err = "out of memory";
            return -1;
        }
        l->rec[l->n] = rec;
        if (bits == 32) {
            l->start4[l->n] = (uint32_t)f.prefix;
        } else {
            store128(l->start6[l->n], f.prefix);
            l->alias[l->n] = (int16_t)alias;
        }
        l->n++;
    }
    return 0;
}

static int cmp_pair(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* An open-addressing map from a record's tree value to a provisional number (first seen
 * first), grown at half full: one probe per leaf instead of sorting every leaf's value. */
typedef struct {
    uint32_t *key, *val;
    size_t mask, n;
} recmap;

static int recmap_grow(recmap *m)
{
    size_t size = m->mask ? (m->mask + 1) * 2 : 1u << 16;
    uint32_t *key = calloc(size, sizeof *key), *val = malloc(size * sizeof *val);
    if (!key || !val) {
        free(key);
        free(val);
        return -1;
    }
    for (size_t i = 0; m->mask && i <= m->mask; i++) {
        if (!m->key[i])
            continue;
        size_t at = ((uint64_t)m->key[i] * 0x9E3779B97F4A7C15ull >> 20) & (size - 1);
        while (key[at])
            at = (at + 1) & (size - 1);
        key[at] = m->key[i];
        val[at] = m->val[i];
    }
    free(m->key);
    free(m->val);
    m->key = key;
    m->val = val;
    m->mask = size - 1;
    return 0;
}

/* The provisional number of value v (never 0: a leaf's record value is > node count). */
static int recmap_get(recmap *m, uint32_t v, uint32_t *out)
{
    if ((m->n + 1) * 2 > m->mask + 1 && recmap_grow(m) < 0)
        return -1;
    size_t at = ((uint64_t)v * 0x9E3779B97F4A7C15ull >> 20) & m->mask;
    while (m->key[at] && m->key[at] != v)
        at = (at + 1) & m->mask;
    if (!m->key[at]) {
        m->key[at] = v;
        m->val[at] = (uint32_t)m->n++;
    }
    *out = m->val[at];
    return 0;
}

/* The distinct records, sorted by offset; every leaf's tree value becomes its 1-based
 * index among them. */
static int index_records(const gd_db *db, gd_walk *w)
{
    recmap m = {0};
    gd_leaves *fams[2] = {&w->v4, &w->v6};
    int rc = -1;
    uint64_t *pairs = NULL;
    uint32_t *rank = NULL, *vals = NULL;
    for (int f = 0; f < 2; f++) {
        gd_leaves *l = fams[f];
        for (size_t i = 0; i < l->n; i++) {
            if (!l->rec[i] || (f == 1 && l->alias[i] != ALIAS_NONE))
                continue;
            if (recmap_get(&m, l->rec[i], &l->rec[i]) < 0)
                goto done;
            l->rec[i]++; /* provisional number + 1: 0 stays "no data" */
        }
    }
    pairs = malloc((m.n ? m.n : 1) * sizeof *pairs);
    rank = malloc((m.n ? m.n : 1) * sizeof *rank);
    vals = malloc((m.n ? m.n : 1) * sizeof *vals);
    if (!pairs || !rank || !vals)
        goto done;
    for (size_t i = 0, k = 0; m.mask && i <= m.mask; i++)
        if (m.key[i])
            pairs[k++] = (uint64_t)m.key[i] << 32 | m.val[i];
    qsort(pairs, m.n, sizeof *pairs, cmp_pair);
    for (size_t i = 0; i < m.n; i++) {
        rank[(uint32_t)pairs[i]] = (uint32_t)i + 1;
        vals[i] = (uint32_t)((pairs[i] >> 32) - db->nc + db->tree_size);
    }
    for (int f = 0; f < 2; f++) {
        gd_leaves *l = fams[f];
        for (size_t i = 0; i < l->n; i++)
            if (l->rec[i] && (f == 0 || l->alias[i] == ALIAS_NONE))
                l->rec[i] = rank[l->rec[i] - 1];
    }
    w->offsets = vals;
    w->nrec = m.n;
    vals = NULL;
    rc = 0;
done:
    free(m.key);
    free(m.val);
    free(pairs);
    free(rank);
    free(vals);
    return rc;
}

int geo_walk_tree(const gd_db *db, gd_walk *out, const char **err)
{
    memset(out, 0, sizeof *out);
    if (db->rs != 24 && db->rs != 28 && db->rs != 32) {
        *err = "unsupported record size";
        return -1;
    }
    if (db->ipv != 4 && db->ipv != 6) {
        *err = "unsupported ip_version";
        return -1;
    }
    if (db->nc == 0 || db->tree_size + 16 > db->len ||
        db->len - db->tree_size > 0xFFFFFF00u - db->nc) {
        *err = "search tree larger than the file (truncated?)";
        return -1;
    }
    uint32_t v4root = 0;
    int depth = 0;
    if (db->ipv == 6)
        for (; depth < 96 && v4root < db->nc; depth++)
            v4root = read_record(db, v4root, 0);
    if (walk(db, v4root, 0, 32, UINT32_MAX, &out->v4, err) < 0)
        goto fail;
    if (db->ipv == 6) {
        if (walk(db, 0, 0, 128, v4root < db->nc ? v4root : UINT32_MAX, &out->v6, err) < 0)
            goto fail;
    } else {
        static const uint8_t zero[16];
        if (grow(&out->v6, 16) < 0) {
            *err = "out of memory";
            goto fail;
        }
        out->v6.rec[0] = 0;
        memcpy(out->v6.start6[0], zero, 16);
        out->v6.alias[0] = ALIAS_NONE;
        out->v6.n = 1;
    }
    if (index_records(db, out) < 0) {
        *err = "out of memory";
        goto fail;
    }
    return 0;
fail:
    geo_walk_free(out);
    return -1;
}

void geo_walk_free(gd_walk *w)
{
    free(w->v4.rec);
    free(w->v4.start4);
    free(w->v6.rec);
    free(w->v6.start6);
    free(w->v6.alias);
    free(w->offsets);
    memset(w, 0, sizeof *w);
}
