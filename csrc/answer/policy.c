/* Policy names on the native path: the reply for a query to a policy name from the
   Decisions (csrc/py/decisions.c): its client's class (the ECS address cut to the source prefix
   we act on, else the packet source), the class's pieces, the ECS echo with the merged
   range's scope capped by that prefix. Exactly what dns/fast.py and dns/answer.py give. */
#include "answer/answer.h"

#include <stdlib.h>
#include <string.h>

static size_t put(uint8_t *out, size_t at, size_t cap, const void *p, size_t n)
{
    if (at > cap || n > cap - at)
        return cap + 1;
    memcpy(out + at, p, n);
    return at + n;
}

/* The address a decision is made for, its family, and the source prefix we act on (-1:
   no ECS). 0 when the query is Python's (ECS off or malformed). */
static int client_of(const gn_table *t, const gn_query *q, gn_source *src, int *family,
                     uint8_t addr[16], int *source)
{
    const gn_opts *o = &t->opts;
    *source = -1;
    memset(addr, 0, 16);
    if (q->opt && q->ecs != NULL) {
        if (!o->ecs_enabled || !wire_ecs_valid(q->ecs, q->ecs_len))
            return 0;
        unsigned prefix = q->ecs[2], v4 = q->ecs[1] == 1;
        unsigned cap = v4 ? o->max_v4 : o->max_v6;
        *source = (int)(prefix < cap ? prefix : cap);
        if (prefix) { /* prefix 0: decided by the packet source, scope 0 */
            unsigned bits = (unsigned)*source, whole = bits / 8;
            memcpy(addr, q->ecs + 4, whole);
            if (bits % 8)
                addr[whole] = q->ecs[4 + whole] & (uint8_t)(0xFF << (8 - bits % 8));
            *family = v4 ? 4 : 6;
            return 1;
        }
    }
    *family = src->family;
    memcpy(addr, src->addr, src->family == 4 ? 4 : 16);
    return 1;
}

/* The class a per-query class picks for this client (draw, sticky), else c itself; the
   sticky scope (its hashed network) in *scope. */
static const gn_class *picked(const gn_decisions *dec, const gn_class *c, int family,
                              const uint8_t addr[16], gn_source *src, int *scope)
{
    if (c->kind == GN_FIXED || c->first + c->n > dec->n_picks || c->n == 0)
        return c->kind == GN_FIXED ? c : NULL;
    const gn_pick *p = dec->picks + c->first;
    uint32_t i;
    if (c->kind == GN_DRAW) {
        i = answer_draw_pick(p, c->n, answer_draw_next(src != NULL ? src->draw : NULL));
    } else {
        unsigned bits = family == 4 ? c->bits4 : c->bits6;
        i = answer_rendezvous(p, c->n, addr, bits / 8);
        *scope = (int)bits;
    }
    return p[i].cls < dec->n_classes ? &dec->cv[p[i].cls] : NULL;
}

/* The signed records of class c (DNSSEC): its signed body, or (max_answers rotating over
   more records than it takes) the one of its n signed bodies, each N records and their
   RRSIGs, that starts at this answer's record; counted as records() counts. */
static size_t signed_records(const gn_decisions *dec, const gn_class *c, uint8_t *out, size_t at,
                             size_t cap)
{
    const uint8_t *body = dec->arena.p + c->sbody_off;
    size_t len = c->sbody_len;
    if (c->rot != 0 && c->rot <= dec->n_rot) {
        uint64_t start = __atomic_fetch_add(&dec->rot[c->rot - 1], 1, __ATOMIC_RELAXED);
        uint32_t n = c->rot_len ? c->body_len / c->rot_len : 0;
        if (n > c->rot_max) { /* checked when added: len is n bodies of one size */
            len /= n;
            body += (size_t)(start % n) * len;
        }
    }
    return put(out, at, cap, body, len);
}

/* The records of class c: its body, or N of them rotated (max_answers); the length after
   them at out + at, cap + 1 when they do not fit. */
static size_t records(const gn_decisions *dec, const gn_class *c, const uint8_t *body, size_t len,
                      uint8_t *out, size_t at, size_t cap)
{
    if (c->rot == 0 || c->rot > dec->n_rot)
        return put(out, at, cap, body, len);
    /* counted even when nothing rotates (no records, or N or fewer): as Python counts */
    uint64_t start = __atomic_fetch_add(&dec->rot[c->rot - 1], 1, __ATOMIC_RELAXED);
    if (c->body_len == 0 || !c->rot_len)
        return put(out, at, cap, body, len);
    return answer_rotate(out, at, cap, body, (uint32_t)(len / c->rot_len), c->rot_len, c->rot_max,
                         start);
}

size_t answer_policy(const gn_table *t, const gn_decisions *dec, const gn_entry *e, gn_source *src,
                     const uint8_t *d, const gn_query *q, uint8_t *out, size_t cap, uint64_t *ckey,
                     uint64_t *pkey)
{
    if (e->policy >= dec->n_policies || !dec->pv[e->policy].ready)
        return 0;
    const gn_policy *p = &dec->pv[e->policy];
    int family, source, scope = 0;
    uint8_t addr[16];
    if (!client_of(t, q, src, &family, addr, &source))
        return 0;
    uint32_t cls, a = 0;
    if (family == 4) {
        a = (uint32_t)addr[0] << 24 | (uint32_t)addr[1] << 16 | addr[2] << 8 | addr[3];
        cls = geo_find4(&p->r, a, &scope);
    } else {
        cls = geo_find6(&p->r, addr, &scope);
    }
    if (p->split) /* measured RTTs: the class of the GeoIP one and the measured interval */
        cls = answer_split(p, family, a, addr, cls, &scope);
    src->geo++; /* observe: a GeoIP class lookup (counted as a cache hit) */
    if (cls >= p->n)
        return 0;
    const gn_class *c = picked(dec, &dec->cv[p->first + cls], family, addr, src, &scope);
    if (c == NULL || c->python)
        return 0;
    /* DNSSEC OK in a signed zone: the class's variant signed ahead (none, a wildcard's
       synthesis, the signing week over: Python's) */
    int dnssec = q->do_bit && e->zone < t->n_zones && t->zv[e->zone].signed_;
    if (dnssec &&
        (!c->sheads || c->sheads > dec->n_heads || q->synth || !answer_signed_fresh(t, src)))
        return 0;
    uint8_t opt[64];
    size_t optlen = 0, tail = 0, limit = answer_limit(t, q, src);
    if (q->opt) {
        int ecs_scope = source < 0 ? 0 : (scope < source ? scope : source); /* ecs.scope */
        if (!(optlen = wire_our_opt(t, q, src, (unsigned)ecs_scope, opt, &tail)))
            return 0;
    }
    if (limit > cap)
        return 0;
    const uint8_t *body = dec->arena.p + c->body_off, *pre = t->arena.p + e->body_off;
    size_t body_len = c->body_len, pre_len = e->chain ? e->body_len : 0;
    if (body_len == 0 && q->synth)
        return 0;                     /* the SOA is placed for the wildcard's own name: Python's */
    if (body_len == 0 && !e->chain) { /* NODATA: the entry's SOA, placed for its owner */
        body = pre;
        body_len = e->body_len;
    }
    size_t at = put(out, 0, limit, d, 2);
    unsigned hi = dnssec ? c->sheads - 1u : c->heads;
    at = put(out, at, limit, dec->heads[hi] + 10 * (q->variant + (q->opt ? 4 : 0)), 10);
    at = put(out, at, limit, d + 12, q->qend - 12);
    /* a CNAME chain's records, then the policy's (signed: the variant holds both) */
    at = put(out, at, limit, pre, dnssec ? 0 : pre_len);
    if (dnssec && c->body_len == 0) /* NODATA: the SOA, then its RRSIG and the name's NSEC */
        at = put(out, at, limit, body, body_len);
    at = dnssec ? signed_records(dec, c, out, at, limit)
                : records(dec, c, body, body_len, out, at, limit);
    at = put(out, at, limit, opt, optlen);
    *ckey = GN_CKEY(e->zone, e->qtype, 0);
    *pkey = c->pool >= 0 ? GN_PKEY(e->policy, c->pool) : 0;
    if (at > limit || tail > limit - at) /* too large: TC, as assemble.reply */
        return answer_truncate(q, src, out, cap, opt, optlen, tail);
    if (tail && !(at = wire_add_cookie(q, src, out, at)))
        return 0;
    return at;
}
