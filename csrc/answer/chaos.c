/* Questions outside our zones or the IN class (handler.py _resolve): CH TXT (or ANY) for
   id.server. and hostname.bind. (the instance name) and version.server. and version.bind.
   (unless hidden), each record pre-encoded by Python (dns/identity.py chaos_reply);
   REFUSED for every other one. No zone: counted under zone "" (the index past the last
   zone), limited as an error or by its question as the handler does. */
#include "answer/answer.h"

#include <string.h>

#define T_TXT 16
#define T_ANY 255
#define RCODE_REFUSED 5

static int is_name(const gn_query *q, const char *wire, size_t n)
{
    return q->nlen == n && memcmp(q->lname, wire, n) == 0;
}

/* The pre-encoded record this question gets, its length in *len (0: REFUSED). */
static const uint8_t *chaos_record(const gn_ident *id, const gn_query *q, size_t *len)
{
    *len = 0;
    if (q->qclass != 3 || (q->qtype != T_TXT && q->qtype != T_ANY))
        return NULL;
    if (is_name(q, "\2id\6server", 11) || is_name(q, "\10hostname\4bind", 15)) {
        *len = id->id_len;
        return id->id_rec;
    }
    if (is_name(q, "\7version\6server", 16) || is_name(q, "\7version\4bind", 14)) {
        *len = id->ver_len;
        return id->ver_rec;
    }
    return NULL;
}

/* 1 when the name is at or below one of our zones: its account and DNSSEC are the
   handler's (rrlkey.answer_name walks the zone), so the query is Python's. */
static int in_our_zones(const gn_table *t, const gn_query *q)
{
    for (size_t at = 0; at < q->nlen; at += q->lname[at] + 1)
        if (common_set_get(&t->zones, &t->arena, q->lname + at, q->nlen - at, 0) != NULL)
            return 1;
    return 0;
}

size_t answer_outside(const gn_table *t, gn_source *src, const uint8_t *d, const gn_query *q,
                      uint8_t *out, size_t cap, uint64_t *ckey)
{
    const gn_ident *id = &t->ident;
    if ((q->qclass == 3 && !id->set) || src == NULL || in_our_zones(t, q))
        return 0; /* in a zone: its RRL account and DNSSEC are the handler's */
    size_t rlen;
    const uint8_t *rec = chaos_record(id, q, &rlen);
    unsigned rcode = rlen ? 0 : RCODE_REFUSED;
    uint8_t opt[64];
    size_t optlen = 0, tail = 0;
    if (q->opt && !(optlen = wire_our_opt(t, q, src, 0, opt, &tail)))
        return 0;
    size_t limit = answer_limit(t, q, src);
    if (limit > cap || q->qend > limit)
        return 0;
    memcpy(out, d, 2);
    out[2] = (uint8_t)(0x80 | (q->variant & 1) | (rlen ? 0x04 : 0)); /* QR, RD, AA */
    out[3] = (uint8_t)(((q->variant & 2) ? 0x10 : 0) | rcode);       /* CD, rcode */
    out[4] = 0, out[5] = 1, out[6] = 0, out[7] = rlen ? 1 : 0;
    out[8] = out[9] = 0, out[10] = 0, out[11] = optlen ? 1 : 0;
    memcpy(out + 12, d + 12, q->qend - 12);
    size_t at = q->qend;
    src->acct_kind = GN_ACCT_OUTSIDE; /* rrlkey: the question, whatever the answer holds */
    *ckey = GN_CKEY(
        t->n_zones,
        (t->opts.known[q->qtype >> 3] >> (q->qtype & 7)) & 1 ? q->qtype : GN_QTYPE_OTHER, rcode);
    if (rlen > limit - at || optlen > limit - at - rlen || tail > limit - at - rlen - optlen)
        return answer_truncate(q, src, out, cap, opt, optlen, tail);
    if (rlen)
        memcpy(out + at, rec, rlen);
    at += rlen;
    memcpy(out + at, opt, optlen);
    at += optlen;
    if (tail && !(at = wire_add_cookie(q, src, out, at)))
        return 0;
    return at;
}
