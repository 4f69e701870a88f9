/* Reply assembly: the very bytes dns/fast.py joins (ID + head + question + body + OPT),
   for static names and NXDOMAIN; 0 hands the query to Python. */
#include "answer/answer.h"

#include <string.h>

#define T_OPT 41
#define T_IXFR 251
#define T_AXFR 252
#define RCODE_NXDOMAIN 3

/* Appends n bytes when they fit; the running length, or cap + 1 once something did not. */
static size_t put(uint8_t *out, size_t at, size_t cap, const void *p, size_t n)
{
    if (at > cap || n > cap - at)
        return cap + 1;
    memcpy(out + at, p, n);
    return at + n;
}

static size_t answer_static(const gn_table *t, const gn_entry *e, gn_source *src, const uint8_t *d,
                            const gn_query *q, uint8_t *out, size_t cap, uint64_t *ckey)
{
    uint8_t opt[64];
    size_t optlen = 0, tail = 0, limit = GN_UDP_SIZE;
    if (q->opt) {
        optlen = wire_our_opt(t, q, src, 0, opt, &tail);
        if (!optlen)
            return 0;
        unsigned udp = q->udp_limit;
        udp = udp > t->opts.payload ? t->opts.payload : (udp < 512 ? 512 : udp);
        if (udp > limit)
            limit = udp;
    }
    if (limit > cap)
        return 0;
    size_t at = put(out, 0, limit, d, 2);
    at = put(out, at, limit, t->heads[e->heads] + 10 * (q->variant + (q->opt ? 4 : 0)), 10);
    at = put(out, at, limit, d + 12, q->qend - 12);
    at = put(out, at, limit, t->arena.p + e->body_off, e->body_len);
    at = put(out, at, limit, opt, optlen);
    if (at > limit || tail > limit - at || (tail && !(at = wire_add_cookie(q, src, out, at))))
        return 0;
    *ckey = GN_CKEY(e->zone, e->qtype, 0);
    return at;
}

/* The zone that answers NXDOMAIN for the name (dns/fast.py _nx_zone), or -1. */
static long nx_zone(const gn_table *t, const gn_query *q)
{
    const uint8_t *name = q->lname;
    size_t len = q->nlen, at = 0;
    const gn_item *z = NULL;
    while (at < len) { /* longest suffix first: the name itself, then its parents */
        z = common_set_get(&t->zones, &t->arena, name + at, len - at, 0);
        if (z != NULL)
            break;
        at += name[at] + 1;
    }
    if (z == NULL)
        return -1;
    const gn_zone *zone = &t->zv[z->value];
    uint16_t tag = (uint16_t)z->value;
    if (common_set_get(&t->names, &t->arena, name, len, tag) != NULL)
        return -1;
    if (zone->cuts) {
        for (size_t p = 0; p < at; p += name[p] + 1)
            if (common_set_get(&t->cuts, &t->arena, name + p, len - p, tag))
                return -1;
    }
    if (zone->wildcards) {      /* RFC 4592: `*.` + the closest encloser synthesizes */
        size_t p = name[0] + 1; /* the name itself does not exist */
        while (p < at && !common_set_get(&t->names, &t->arena, name + p, len - p, tag))
            p += name[p] + 1;
        uint8_t source[GN_MAX_NAME + 2] = {1, '*'};
        memcpy(source + 2, name + p, len - p);
        if (common_set_get(&t->names, &t->arena, source, len - p + 2, tag))
            return -1;
    }
    return (long)z->value;
}

static size_t answer_nx(const gn_table *t, gn_source *src, const uint8_t *d, const gn_query *q,
                        uint8_t *out, size_t cap, uint64_t *ckey)
{
    unsigned qtype = q->qtype;
    if (q->qclass != 1 || qtype == T_AXFR || qtype == T_IXFR || qtype == T_OPT ||
        (qtype >= 128 && qtype <= 254))
        return 0;
    uint8_t opt[64];
    size_t optlen = 0, tail = 0;
    if (q->opt && !(optlen = wire_our_opt(t, q, src, 0, opt, &tail)))
        return 0;
    long zi = nx_zone(t, q);
    if (zi < 0)
        return 0;
    const gn_zone *z = &t->zv[zi];
    uint8_t soa[512];
    if (z->soa_len > sizeof soa)
        return 0;
    memcpy(soa, t->arena.p + z->soa_off, z->soa_len);
    unsigned base = (unsigned)(q->qend - 4 - z->origin_len);
    for (unsigned i = 0; i < z->nptr; i++) { /* Compressed.at(base) */
        uint8_t *p = soa + z->ptr[i];
        unsigned v = ((unsigned)p[0] << 8 | p[1]) + base;
        p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
    }
    size_t limit = GN_UDP_SIZE < cap ? GN_UDP_SIZE : cap; /* larger: Python sets TC */
    uint8_t head[10] = {0x84, 0x03, 0, 1, 0, 0, 0, 1, 0, optlen ? 1 : 0};
    head[0] |= (uint8_t)(q->variant & 1);
    head[1] |= (q->variant & 2) ? 0x10 : 0;
    size_t at = put(out, 0, limit, d, 2);
    at = put(out, at, limit, head, 10);
    at = put(out, at, limit, d + 12, q->qend - 12);
    at = put(out, at, limit, soa, z->soa_len);
    at = put(out, at, limit, opt, optlen);
    if (at > limit || tail > limit - at || (tail && !(at = wire_add_cookie(q, src, out, at))))
        return 0;
    unsigned label = (t->opts.known[qtype >> 3] >> (qtype & 7)) & 1 ? qtype : GN_QTYPE_OTHER;
    *ckey = GN_CKEY(zi, label, RCODE_NXDOMAIN);
    return at;
}

size_t answer_reply(const gn_table *t, const gn_decisions *dec, gn_source *src, const uint8_t *d,
                    size_t n, uint8_t *out, size_t cap, uint64_t *ckey, uint64_t *pkey)
{
    *pkey = 0;
    if (src != NULL)
        src->cookie_result = -1;
    gn_query q;
    if (wire_parse(d, n, &q) < 0)
        return 0;
    const gn_item *it = common_set_get(&t->entries, &t->arena, q.key, q.nlen + 4, 0);
    if (it != NULL) {
        const gn_entry *e = &t->ents[it->value];
        if (e->kind == GN_STATIC)
            return answer_static(t, e, src, d, &q, out, cap, ckey);
        if (dec == NULL || src == NULL)
            return 0;
        return answer_policy(t, dec, e, src, d, &q, out, cap, ckey, pkey);
    }
    return answer_nx(t, src, d, &q, out, cap, ckey);
}
