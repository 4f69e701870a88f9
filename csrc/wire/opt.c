/* Our OPT record in a reply (the query's ECS echoed with its scope) and our COOKIE option:
   what every native answer ends with, whichever kind of answer it is. */
#include "answer/answer.h"

#include <string.h>

/* Our OPT for a query with one (q->opt): plain, or echoing its ECS with `scope`, and room
   for what follows its ECS (*tail = its size): our NSID option when the query asks and
   dns.nsid is on, then our COOKIE when the query has one and cookies are on (the caller
   appends them with wire_add_cookie once the reply is known to fit, since answering a
   cookie counts it). Returns the length written to opt (at most 11 + 24), or 0 when the
   query is Python's (a malformed ECS or COOKIE, cookies without a table, NSID without
   an identity or a source). */
size_t wire_our_opt(const gn_table *t, const gn_query *q, gn_source *src, unsigned scope,
                    uint8_t *opt, size_t *tail)
{
    const gn_opts *o = &t->opts;
    *tail = 0;
    if (src != NULL)
        src->nsid_len = 0, src->tail_cookie = 0;
    if (q->nsid && o->nsid) { /* who we are (RFC 5001), before our COOKIE as Python puts it */
        if (src == NULL || !t->ident.set)
            return 0;
        src->nsid = t->ident.nsid;
        src->nsid_len = t->ident.nsid_len;
        *tail = t->ident.nsid_len;
    }
    if (q->cookie != NULL && o->cookies) {
        if (src == NULL || src->cookies == NULL || !cookies_well_formed(q->cookie_len))
            return 0; /* no table here, or FORMERR: Python's */
        src->tail_cookie = 1;
        *tail += GD_COOKIE_OPTION;
    }
    size_t n = 0;
    if (q->ecs != NULL) {
        if (!o->ecs_enabled || !wire_ecs_valid(q->ecs, q->ecs_len))
            return 0;   /* a malformed ECS: Python answers FORMERR */
        n = q->ecs_len; /* at most 20 once valid */
    } else if (*tail == 0) {
        memcpy(opt, o->plain[q->do_bit], 11);
        return 11;
    }
    size_t rdlen = (n ? n + 4 : 0) + *tail;
    memcpy(opt, o->ecs_head[q->do_bit], 9);
    opt[9] = (uint8_t)(rdlen >> 8), opt[10] = (uint8_t)rdlen;
    if (!n)
        return 11;
    uint8_t *p = opt + 11;
    p[0] = 0, p[1] = 8; /* option ECS */
    p[2] = (uint8_t)(n >> 8), p[3] = (uint8_t)n;
    memcpy(p + 4, q->ecs, 3);
    p[7] = (uint8_t)scope; /* static and negative answers: 0, everyone's */
    memcpy(p + 8, q->ecs + 4, n - 4);
    return 11 + 4 + n;
}

/* What follows our OPT's ECS at out + at (room for *tail checked by the caller): our NSID
   option, then our COOKIE, as wire_our_opt set them. The length after them, or 0. */
size_t wire_add_cookie(const gn_query *q, gn_source *src, uint8_t *out, size_t at)
{
    if (src->nsid_len) {
        memcpy(out + at, src->nsid, src->nsid_len);
        at += src->nsid_len;
    }
    if (!src->tail_cookie)
        return at;
    size_t alen = src->family == 4 ? 4 : 16;
    int r = cookies_answer(src->cookies, q->cookie, q->cookie_len, src->addr, alen, src->now,
                           out + at, NULL);
    src->cookie_result = r;
    return r == GD_COOKIE_MALFORMED ? 0 : at + GD_COOKIE_OPTION;
}
