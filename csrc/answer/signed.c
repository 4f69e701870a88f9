/* DNSSEC on the answering path: whether the answers signed ahead may answer now, and a
   name's signed NODATA records. Nothing is signed here (geodns/native/signing.py signs when
   the table and the decisions are built); reply.c and policy.c only pick a variant. */
#include "answer/answer.h"

int answer_signed_fresh(const gn_table *t, const gn_source *src)
{
    return src == NULL || t->signed_until == 0 || src->now < t->signed_until;
}

int answer_signed_entry(const gn_table *t, const gn_entry *e, const gn_source *src, int which,
                        unsigned *hi, uint32_t *off, uint32_t *len)
{
    unsigned h = which == 2 ? e->sbelow_heads : e->sheads;
    if (!h || h > t->n_heads || !answer_signed_fresh(t, src))
        return 0;
    *hi = h - 1u;
    *off = which == 2 ? e->sbelow_off : e->sbody_off;
    *len = which == 2 ? e->sbelow_len : e->sbody_len;
    return (size_t)*off + *len <= t->arena.n;
}

/* A name's signed NODATA records (count, length, records) when signed ahead and fresh,
   and the type one a NODATA may be signed for: DNSKEY, CDS, CDNSKEY are the apex's own. */
const uint8_t *answer_nodata_signed(const gn_table *t, const gn_query *q, long zi,
                                    const gn_source *src)
{
    unsigned qt = q->qtype;
    if (qt == 48 || qt == 59 || qt == 60 || !answer_signed_fresh(t, src))
        return NULL;
    const gn_item *it = common_set_get(&t->nodata, &t->arena, q->lname, q->nlen, (uint16_t)zi);
    if (it == NULL || (size_t)it->value + 4 > t->arena.n)
        return NULL;
    const uint8_t *p = t->arena.p + it->value;
    size_t len = (size_t)p[2] << 8 | p[3];
    return (size_t)it->value + 4 + len <= t->arena.n ? p : NULL;
}
