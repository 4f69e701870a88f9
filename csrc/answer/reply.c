/* Reply assembly: the very bytes dns/fast.py joins (ID + head + question + body + OPT),
   for static names and NXDOMAIN; 0 hands the query to Python. */
#include "answer/answer.h"

#include <string.h>

#define T_OPT 41
#define T_DS 43
#define T_NS 2
#define T_ANY 255
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

/* dnssec: a DO query in a signed zone, answered with the entry's signed variant (1: its
   own, 2: a referral's below the cut; none: Python's); one too large for the limit gets
   TC, as an unsigned one does. */
static size_t answer_static(const gn_table *t, const gn_entry *e, gn_source *src, const uint8_t *d,
                            const gn_query *q, uint8_t *out, size_t cap, uint64_t *ckey, int dnssec)
{
    uint32_t body_off = e->body_off, body_len = e->body_len;
    unsigned hi = e->heads;
    if (dnssec && !answer_signed_entry(t, e, src, dnssec, &hi, &body_off, &body_len))
        return 0;
    uint8_t opt[64];
    size_t optlen = 0, tail = 0, limit = answer_limit(t, q, src);
    if (q->opt && !(optlen = wire_our_opt(t, q, src, 0, opt, &tail)))
        return 0;
    if (limit > cap)
        return 0;
    *ckey = GN_CKEY(e->zone, e->qtype, 0);
    size_t at = put(out, 0, limit, d, 2);
    at = put(out, at, limit, t->heads[hi] + 10 * (q->variant + (q->opt ? 4 : 0)), 10);
    at = put(out, at, limit, d + 12, q->qend - 12);
    at = put(out, at, limit, t->arena.p + body_off, body_len);
    at = put(out, at, limit, opt, optlen);
    if (at > limit || tail > limit - at) /* too large: TC, as assemble.reply */
        return answer_truncate(q, src, out, cap, opt, optlen, tail);
    if (tail && !(at = wire_add_cookie(q, src, out, at)))
        return 0;
    return at;
}

/* Where a name not in the exact entries lands in our zones (answer.py's _step). */
enum { AT_NONE, AT_NX, AT_EXISTS, AT_CUT, AT_WILD };

typedef struct {
    long zone;                       /* its index (AT_NONE: -1) */
    size_t cut;                      /* AT_CUT: where the innermost cut starts in the name */
    uint8_t source[GN_MAX_NAME + 2]; /* AT_WILD: `*.` + the closest encloser */
    size_t source_len;
    uint32_t value; /* AT_EXISTS, AT_WILD: the name's (the source's) GN_NAME_ flags */
} gn_place;

/* The zone that holds the name and what the name is there: at or below a cut first, then
   an existing name, then a wildcard's synthesis (RFC 4592), else NXDOMAIN. */
static int locate(const gn_table *t, const gn_query *q, gn_place *pl)
{
    const uint8_t *name = q->lname;
    size_t len = q->nlen, at = 0;
    const gn_item *z = NULL;
    pl->zone = -1;
    while (at < len) { /* longest suffix first: the name itself, then its parents */
        z = common_set_get(&t->zones, &t->arena, name + at, len - at, 0);
        if (z != NULL)
            break;
        at += name[at] + 1;
    }
    if (z == NULL)
        return AT_NONE;
    const gn_zone *zone = &t->zv[z->value];
    uint16_t tag = (uint16_t)z->value;
    pl->zone = (long)z->value;
    if (zone->cuts) {
        for (size_t p = 0; p < at; p += name[p] + 1)
            if (common_set_get(&t->cuts, &t->arena, name + p, len - p, tag)) {
                pl->cut = p;
                return AT_CUT;
            }
    }
    const gn_item *found = common_set_get(&t->names, &t->arena, name, len, tag);
    if (found != NULL) {
        pl->value = found->value;
        return AT_EXISTS;
    }
    if (zone->wildcards) {      /* `*.` + the closest encloser synthesizes */
        size_t p = name[0] + 1; /* the name itself does not exist */
        while (p < at && !common_set_get(&t->names, &t->arena, name + p, len - p, tag))
            p += name[p] + 1;
        pl->source[0] = 1, pl->source[1] = '*';
        memcpy(pl->source + 2, name + p, len - p);
        pl->source_len = len - p + 2;
        found = common_set_get(&t->names, &t->arena, pl->source, pl->source_len, tag);
        if (found != NULL) {
            pl->value = found->value;
            return AT_WILD;
        }
    }
    return AT_NX;
}

static size_t answer_negative(const gn_table *t, gn_source *src, const uint8_t *d,
                              const gn_query *q, long zi, unsigned rcode, uint8_t *out, size_t cap,
                              uint64_t *ckey, const uint8_t *sig);

static int meta_type(unsigned qtype)
{
    return qtype == T_AXFR || qtype == T_IXFR || qtype == T_OPT || (qtype >= 128 && qtype <= 254);
}

static unsigned type_label(const gn_table *t, unsigned qtype)
{
    return (t->opts.known[qtype >> 3] >> (qtype & 7)) & 1 ? qtype : GN_QTYPE_OTHER;
}

/* A name at p[*at..n): every compression pointer in it moved `d` on; 0 past its end. */
static int shift_name(uint8_t *p, size_t n, size_t *at, unsigned d)
{
    while (*at < n) {
        unsigned c = p[*at];
        if ((c & 0xC0) == 0xC0) {
            if (*at + 2 > n)
                return 0;
            unsigned v = ((c & 0x3F) << 8 | p[*at + 1]) + d;
            if (v > 0x3FFF)
                return 0;
            p[*at] = (uint8_t)(0xC0 | v >> 8), p[*at + 1] = (uint8_t)v;
            *at += 2;
            return 1;
        }
        *at += 1 + c;
        if (c == 0)
            return *at <= n;
    }
    return 0;
}

/* A referral entry is made for the cut as the question (table.py's ns_records: owner,
   NS targets and glue owners point into it and at the records after it); a name `d`
   bytes longer moves each pointer `d` on, as the reference's offsets move. */
static int shift_referral(uint8_t *p, size_t n, unsigned d)
{
    size_t at = 0;
    while (at < n) {
        if (!shift_name(p, n, &at, d) || at + 10 > n)
            return 0;
        unsigned type = (unsigned)p[at] << 8 | p[at + 1];
        size_t rdlen = (size_t)p[at + 8] << 8 | p[at + 9], rd = at + 10;
        at = rd + rdlen;
        if (at > n)
            return 0;
        if (type == T_NS && (!shift_name(p, at, &rd, d) || rd != at))
            return 0;
    }
    return 1;
}

/* A referral (the cut's NS and glue, not authoritative) for a name at or below a cut, or
   an answer a wildcard synthesizes (its entries own their records by the question). */
static size_t answer_placed(const gn_table *t, const gn_decisions *dec, gn_source *src,
                            const uint8_t *d, gn_query *q, int where, const gn_place *pl,
                            uint8_t *out, size_t cap, uint64_t *ckey, uint64_t *pkey, int dnssec)
{
    uint8_t key[GN_MAX_NAME + 6];
    size_t n;
    if (where == AT_CUT) {
        if (q->qclass != 1 || meta_type(q->qtype) || (pl->cut == 0 && q->qtype == T_DS))
            return 0; /* refused, not implemented, or the DS the parent holds: Python's */
        n = q->nlen - pl->cut;
        memcpy(key, q->lname + pl->cut, n);
        memset(key + n, 0, 4);
    } else {
        n = pl->source_len;
        memcpy(key, pl->source, n);
        memcpy(key + n, q->key + q->nlen, 4);
    }
    if (src != NULL && n <= GN_MAX_NAME + 2) { /* rrlkey.answer_name's owner */
        src->acct_kind = where == AT_CUT ? GN_ACCT_REFERRAL : GN_ACCT_WILD;
        src->acct_len = (uint16_t)n;
        memcpy(src->acct, key, n);
    }
    const gn_item *it = common_set_get(&t->entries, &t->arena, key, n + 4, 0);
    if (it == NULL && where == AT_WILD && !(pl->value & GN_NAME_PYTHON))
        return answer_negative(t, src, d, q, pl->zone, 0, out, cap, ckey, NULL); /* NODATA */
    if (it == NULL)
        return 0;
    const gn_entry *e = &t->ents[it->value];
    if ((e->kind == GN_REFERRAL) != (where == AT_CUT) || e->chain)
        return 0;
    if (e->kind == GN_POLICY) {
        if (dec == NULL || src == NULL)
            return 0;
        q->synth = 1;
        return answer_policy(t, dec, e, src, d, q, out, cap, ckey, pkey);
    }
    int which = !dnssec ? 0 : pl->cut ? 2 : 1; /* DNSSEC: the cut's own, or below it */
    if (dnssec && (where != AT_CUT || (which == 2 && pl->cut < 2)))
        return 0;
    size_t len = answer_static(t, e, src, d, q, out, cap, ckey, which);
    if (len && where == AT_CUT) {
        int tc = out[2] & 0x02; /* truncated: no records to move */
        unsigned hi, by = which == 2 ? (unsigned)pl->cut - 2u : (unsigned)pl->cut;
        uint32_t off, blen = e->body_len;
        if (which && !answer_signed_entry(t, e, src, which, &hi, &off, &blen))
            return 0;
        if (by && !tc && !shift_referral(out + q->qend, blen, by))
            return 0;
        *ckey = GN_CKEY(e->zone, type_label(t, q->qtype), 0);
    }
    return len;
}

/* A negative answer: NXDOMAIN, or NODATA (rcode 0) for a name that exists without the
   type (no CNAME to follow, not ANY): the zone's SOA placed for the question; sig (DNSSEC,
   a signed NODATA): the name's records signed ahead after it (see gn_table.nodata). */
static size_t answer_negative(const gn_table *t, gn_source *src, const uint8_t *d,
                              const gn_query *q, long zi, unsigned rcode, uint8_t *out, size_t cap,
                              uint64_t *ckey, const uint8_t *sig)
{
    unsigned nsig = sig != NULL ? (unsigned)sig[0] << 8 | sig[1] : 0;
    size_t sig_len = sig != NULL ? (size_t)sig[2] << 8 | sig[3] : 0;
    unsigned qtype = q->qtype;
    if (q->qclass != 1 || meta_type(qtype) || (rcode == 0 && qtype == T_ANY))
        return 0;
    uint8_t opt[64];
    size_t optlen = 0, tail = 0;
    if (q->opt && !(optlen = wire_our_opt(t, q, src, 0, opt, &tail)))
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
    size_t limit = answer_limit(t, q, src);
    if (limit > cap)
        return 0;
    uint8_t head[10] = {0x84, (uint8_t)rcode, 0, 1, 0, 0, 0, 1, 0, optlen ? 1 : 0};
    head[6] = (uint8_t)((1 + nsig) >> 8), head[7] = (uint8_t)(1 + nsig);
    head[0] |= (uint8_t)(q->variant & 1);
    head[1] |= (q->variant & 2) ? 0x10 : 0;
    *ckey = GN_CKEY(zi, type_label(t, qtype), rcode);
    size_t at = put(out, 0, limit, d, 2);
    at = put(out, at, limit, head, 10);
    at = put(out, at, limit, d + 12, q->qend - 12);
    at = put(out, at, limit, soa, z->soa_len);
    if (sig != NULL)
        at = put(out, at, limit, sig + 4, sig_len);
    at = put(out, at, limit, opt, optlen);
    if (at > limit || tail > limit - at) /* too large: TC, as assemble.reply */
        return answer_truncate(q, src, out, cap, opt, optlen, tail);
    if (tail && !(at = wire_add_cookie(q, src, out, at)))
        return 0;
    return at;
}

size_t answer_reply(const gn_table *t, const gn_decisions *dec, gn_source *src, const uint8_t *d,
                    size_t n, uint8_t *out, size_t cap, uint64_t *ckey, uint64_t *pkey)
{
    *pkey = 0;
    if (src != NULL)
        src->cookie_result = -1, src->acct_kind = GN_ACCT_QUESTION;
    gn_query q;
    if (wire_parse(d, n, &q) < 0)
        return 0;
    q.synth = 0;
    if (q.qclass != 1) /* CHAOS (who we are), or REFUSED */
        return answer_outside(t, src, d, &q, out, cap, ckey);
    const gn_item *it = common_set_get(&t->entries, &t->arena, q.key, q.nlen + 4, 0);
    const gn_entry *e = it != NULL ? &t->ents[it->value] : NULL;
    int dnssec = e != NULL && q.do_bit && e->zone < t->n_zones && t->zv[e->zone].signed_;
    if (dnssec && e->kind != GN_STATIC && e->kind != GN_POLICY)
        return 0; /* DNSSEC OK in a signed zone: pre-signed answers only, else Python's */
    if (e != NULL && e->kind == GN_STATIC)
        return answer_static(t, e, src, d, &q, out, cap, ckey, dnssec);
    if (e != NULL && e->kind == GN_POLICY)
        return dec == NULL || src == NULL
                   ? 0
                   : answer_policy(t, dec, e, src, d, &q, out, cap, ckey, pkey);
    gn_place pl;
    int where = locate(t, &q, &pl);
    if (q.do_bit && pl.zone >= 0 && t->zv[pl.zone].signed_) { /* signed ahead, else Python's */
        if (where == AT_CUT)
            return answer_placed(t, dec, src, d, &q, where, &pl, out, cap, ckey, pkey, 1);
        if (where == AT_NX) { /* compact denial: NOERROR, unless CO asks for NXDOMAIN */
            uint8_t nx[GN_DENIAL_MAX];
            if (meta_type(q.qtype) || q.qtype == T_ANY || /* Python's: sign nothing for them */
                !answer_denial(t, &q, pl.zone, src, nx, sizeof nx))
                return 0;
            unsigned rcode = q.co ? RCODE_NXDOMAIN : 0;
            return answer_negative(t, src, d, &q, pl.zone, rcode, out, cap, ckey, nx);
        }
        const uint8_t *sig = where == AT_EXISTS && !(pl.value & GN_NAME_PYTHON)
                                 ? answer_nodata_signed(t, &q, pl.zone, src)
                                 : NULL;
        return sig == NULL ? 0 : answer_negative(t, src, d, &q, pl.zone, 0, out, cap, ckey, sig);
    }
    if (where == AT_NONE) /* outside our zones: REFUSED */
        return answer_outside(t, src, d, &q, out, cap, ckey);
    if (where == AT_NX)
        return answer_negative(t, src, d, &q, pl.zone, RCODE_NXDOMAIN, out, cap, ckey, NULL);
    if (where == AT_EXISTS && !(pl.value & GN_NAME_PYTHON))
        return answer_negative(t, src, d, &q, pl.zone, 0, out, cap, ckey, NULL);
    if (where == AT_CUT || where == AT_WILD)
        return answer_placed(t, dec, src, d, &q, where, &pl, out, cap, ckey, pkey, 0);
    return 0;
}
