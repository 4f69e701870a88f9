/* The flat table's storage: a byte arena and open-addressing sets over it. Built once by
   the Python side (holding the GIL), then read-only: the serving threads look up without
   locks. */
#include "answer/answer.h"

#include <stdlib.h>
#include <string.h>

uint64_t common_hash(const uint8_t *p, size_t n, uint32_t tag)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)tag << 32) ^ n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, p, n);
    h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
}

int common_buf_add(gn_buf *b, const void *p, size_t n, uint32_t *off)
{
    if (b->n + n > UINT32_MAX)
        return -1;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (np == NULL)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    *off = (uint32_t)b->n;
    b->n += n;
    return 0;
}

void common_buf_free(gn_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static int same(const gn_item *it, const gn_buf *a, const uint8_t *p, size_t n, uint16_t tag)
{
    return it->len == n && it->tag == tag && memcmp(a->p + it->off, p, n) == 0;
}

static int grow_slots(gn_set *s, const gn_buf *a)
{
    size_t slots = s->mask ? (s->mask + 1) * 2 : 1024;
    uint32_t *ns = calloc(slots, sizeof *ns);
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < s->n; i++) {
        const gn_item *it = &s->items[i];
        size_t at = common_hash(a->p + it->off, it->len, it->tag) & (slots - 1);
        while (ns[at])
            at = (at + 1) & (slots - 1);
        ns[at] = (uint32_t)(i + 1);
    }
    free(s->slots);
    s->slots = ns;
    s->mask = slots - 1;
    return 0;
}

/* Adds a key (copied into the arena) or, when present, replaces its value. */
int common_set_put(gn_set *s, gn_buf *a, const uint8_t *p, size_t n, uint16_t tag, uint32_t value)
{
    if (n > UINT16_MAX || s->n >= UINT32_MAX - 1)
        return -1;
    if ((s->n + 1) * 2 > (s->mask ? s->mask + 1 : 0) && grow_slots(s, a) < 0)
        return -1;
    size_t at = common_hash(p, n, tag) & s->mask;
    while (s->slots[at]) {
        gn_item *it = &s->items[s->slots[at] - 1];
        if (same(it, a, p, n, tag)) {
            it->value = value;
            return 0;
        }
        at = (at + 1) & s->mask;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        gn_item *ni = realloc(s->items, cap * sizeof *ni);
        if (ni == NULL)
            return -1;
        s->items = ni;
        s->cap = cap;
    }
    gn_item *it = &s->items[s->n];
    if (common_buf_add(a, p, n, &it->off) < 0)
        return -1;
    it->len = (uint16_t)n;
    it->tag = tag;
    it->value = value;
    s->slots[at] = (uint32_t)(++s->n);
    return 0;
}

const gn_item *common_set_get(const gn_set *s, const gn_buf *a, const uint8_t *p, size_t n,
                              uint16_t tag)
{
    if (!s->mask)
        return NULL;
    size_t at = common_hash(p, n, tag) & s->mask;
    uint32_t slot;
    while ((slot = s->slots[at]) != 0) {
        const gn_item *it = &s->items[slot - 1];
        if (same(it, a, p, n, tag))
            return it;
        at = (at + 1) & s->mask;
    }
    return NULL;
}

void common_set_free(gn_set *s)
{
    free(s->items);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

size_t common_set_bytes(const gn_set *s)
{
    return s->cap * sizeof(gn_item) + (s->mask ? (s->mask + 1) * sizeof(uint32_t) : 0);
}
