/* Response rate limiting on native replies: what handler.py's _limited() does with the
   reply the fast path made, on the worker's gd_rrl table (ABUSE's csrc/rrl/rrl.h, shared with
   the Python handler): queries with a valid server cookie are never limited; an answer is
   accounted by its question (lower-cased), NXDOMAIN by its zone; a slip is assemble.limited
   (BADCOOKIE with a fresh cookie when the query had a COOKIE, else TC and no records). */
#include "answer/answer.h"

#include <string.h>

/* dns/rrlkey.py answer_name(): a referral by "\xffD" + its cut; else the owner the
   answer came from (the wildcard's for a synthesised one, else the question's name) with
   the question's type and class, or "\xffE" + the owner alone when empty (NODATA). Every
   byte of the question lower-cased as bytes.lower() does. */
static size_t account(const gn_source *src, const uint8_t *d, const gn_query *q, int empty,
                      uint8_t name[GN_MAX_NAME + 6])
{
    uint8_t low[GN_MAX_NAME + 4];
    size_t qlen = q->qend - 12, at = 0;
    for (size_t i = 0; i < qlen && i < sizeof low; i++) {
        uint8_t c = d[12 + i];
        low[i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
    }
    const uint8_t *owner = low;
    size_t olen = qlen - 4;
    if (src->acct_kind != GN_ACCT_QUESTION)
        owner = src->acct, olen = src->acct_len;
    if (src->acct_kind == GN_ACCT_OUTSIDE) /* outside our zones: the question (CHAOS) */
        owner = low, olen = qlen - 4, empty = 0;
    if (src->acct_kind == GN_ACCT_REFERRAL || empty) {
        name[0] = 0xFF, name[1] = src->acct_kind == GN_ACCT_REFERRAL ? 'D' : 'E';
        at = 2;
    }
    memcpy(name + at, owner, olen);
    at += olen;
    if (at == olen) /* an answer: the owner and the question's type and class */
        memcpy(name + at, low + qlen - 4, 4), at += 4;
    return at;
}

size_t rrl_limit(const gn_table *t, gd_rrl *rrl, const gn_source *src, const uint8_t *d, size_t n,
                 uint8_t *out, size_t len, uint64_t ckey, double now, uint64_t *akey)
{
    *akey = 0;
    gn_query q;
    if (src->cookie_result == GD_COOKIE_VALID || wire_parse(d, n, &q) < 0)
        return len;
    uint8_t name[GN_MAX_NAME + 6];
    size_t nlen;
    int kind;
    if ((ckey & 0xFF) == 0) {
        kind = GD_RRL_ANSWER;
        nlen = account(src, d, &q, out[6] == 0 && out[7] == 0, name);
    } else { /* NXDOMAIN and errors: the zone's origin (none outside our zones) */
        size_t zi = (size_t)(ckey >> 32) - 1;
        kind = (ckey & 0xFF) == 3 ? GD_RRL_NXDOMAIN : GD_RRL_ERROR;
        nlen = 0;
        if (zi < t->n_zones) {
            const gn_zone *z = &t->zv[zi];
            nlen = z->origin_len;
            memcpy(name, t->arena.p + z->origin_off, nlen);
        }
    }
    int v = rrl_verdict(rrl, src->family, src->addr, kind, name, nlen, now);
    if (v == GD_RRL_OK)
        return len;
    if (v == GD_RRL_LOG_ONLY || v == GD_RRL_DROP) {
        *akey = GN_AKEY(v == GD_RRL_DROP ? GN_ACT_DROP : GN_ACT_LOG_ONLY);
        return v == GD_RRL_DROP ? 0 : len;
    }
    int cookie = src->cookie_result >= 0; /* our COOKIE option ends the reply */
    uint8_t opt[11 + GD_COOKIE_OPTION];
    size_t optlen = 0;
    unsigned flags = (unsigned)out[2] << 8 | out[3];
    if (q.opt && cookie && len >= GD_COOKIE_OPTION) {
        flags = (flags & ~0x040Fu) | 7; /* BADCOOKIE (23): 7 here, 1 in the OPT */
        memcpy(opt, t->opts.plain[q.do_bit], 11);
        opt[5] = 1; /* extended rcode */
        opt[9] = 0, opt[10] = GD_COOKIE_OPTION;
        memcpy(opt + 11, out + len - GD_COOKIE_OPTION, GD_COOKIE_OPTION);
        optlen = 11 + GD_COOKIE_OPTION;
    } else if (q.opt) {
        memcpy(opt, t->opts.plain[q.do_bit], 11);
        optlen = 11;
    }
    if (!cookie || !q.opt)
        flags |= 0x0200; /* TC: a real client retries over TCP */
    out[2] = (uint8_t)(flags >> 8), out[3] = (uint8_t)flags;
    out[4] = 0, out[5] = 1, out[6] = out[7] = out[8] = out[9] = 0;
    out[10] = 0, out[11] = optlen ? 1 : 0;
    memcpy(out + q.qend, opt, optlen); /* the question stays where it is */
    *akey = GN_AKEY(cookie && q.opt ? GN_ACT_BADCOOKIE : GN_ACT_SLIP);
    return q.qend + optlen;
}
