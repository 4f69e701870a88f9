/* DNSSEC compact denial (RFC 9824) on the answering thread: a name that does not exist in
   a signed zone gets NOERROR (NXDOMAIN when the query set CO) with the zone's SOA and its
   RRSIGs (signed ahead), and one NSEC owned by the name, next `\000.name`, types RRSIG NSEC
   NXNAME, with its RRSIG per signing key: the bytes geodns/dns/signed.py makes (the same
   key, validity window, TTL and Labels; ECDSA's nonce deterministic, RFC 6979). Only the
   NSEC's signature is made here, by the zone's signer (csrc/sign/ through gn_denial.sign),
   which runs without the GIL. */
#include "answer/answer.h"

#include <string.h>

#define T_NSEC 47
#define T_RRSIG 46
#define SIG_MAX 64
#define HEAD_MAX (18 + GN_MAX_NAME) /* the RRSIG rdata's fixed part and its signer's name */

/* The type bit maps of RRSIG (46), NSEC (47), NXNAME (128): window 0, 17 bytes. */
static const uint8_t BITMAP[19] = {0, 17, 0, 0, 0, 0, 0, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80};

/* Appends n bytes when they fit; the running length, or cap + 1 once something did not. */
static size_t put(uint8_t *out, size_t at, size_t cap, const void *p, size_t n)
{
    if (at > cap || n > cap - at)
        return cap + 1;
    memcpy(out + at, p, n);
    return at + n;
}

/* A record owned by the question (a pointer to offset 12): its type, class IN, ttl, length. */
static size_t put_head(uint8_t *out, size_t at, size_t cap, unsigned type, uint32_t ttl,
                       size_t rdlen)
{
    uint8_t h[12] = {0xC0,
                     0x0C,
                     (uint8_t)(type >> 8),
                     (uint8_t)type,
                     0,
                     1,
                     (uint8_t)(ttl >> 24),
                     (uint8_t)(ttl >> 16),
                     (uint8_t)(ttl >> 8),
                     (uint8_t)ttl,
                     (uint8_t)(rdlen >> 8),
                     (uint8_t)rdlen};
    return put(out, at, cap, h, sizeof h);
}

/* sign.label_count: the name's labels, not the root's nor a leading `*`. */
static unsigned labels(const uint8_t *name, size_t len)
{
    unsigned n = 0;
    for (size_t at = 0; at < len && name[at]; at += name[at] + 1u)
        n++;
    return n - (len > 2 && name[0] == 1 && name[1] == '*' ? 1u : 0u);
}

/* One key's RRSIG over the NSEC (canonical: owner, type, class, TTL, length, rdata) after
   the record's head: the rdata's fixed part with the name's Labels, then the signature. */
static size_t put_rrsig(const gn_table *t, const gn_denial *dn, unsigned k, const gn_query *q,
                        const uint8_t *rdata, size_t rdlen, uint8_t *out, size_t at, size_t cap)
{
    uint8_t msg[HEAD_MAX + GN_MAX_NAME + 10 + 2 + GN_MAX_NAME + 1 + sizeof BITMAP];
    uint8_t sig[SIG_MAX];
    size_t hl = dn->head_len[k];
    if (hl < 18 || hl > HEAD_MAX || (size_t)dn->head_off[k] + hl > t->arena.n)
        return cap + 1;
    size_t m = put(msg, 0, sizeof msg, t->arena.p + dn->head_off[k], hl);
    msg[3] = (uint8_t)labels(q->lname, q->nlen);
    m = put(msg, m, sizeof msg, q->lname, q->nlen);
    uint8_t rr[10] = {0,
                      T_NSEC,
                      0,
                      1,
                      (uint8_t)(dn->ttl >> 24),
                      (uint8_t)(dn->ttl >> 16),
                      (uint8_t)(dn->ttl >> 8),
                      (uint8_t)dn->ttl,
                      (uint8_t)(rdlen >> 8),
                      (uint8_t)rdlen};
    m = put(msg, m, sizeof msg, rr, sizeof rr);
    m = put(msg, m, sizeof msg, rdata, rdlen);
    if (m > sizeof msg)
        return cap + 1;
    size_t sl = dn->sign(dn->keys[k], msg, m, sig, sizeof sig);
    if (sl == 0 || sl > SIG_MAX)
        return cap + 1;
    at = put_head(out, at, cap, T_RRSIG, dn->ttl, hl + sl);
    at = put(out, at, cap, msg, hl); /* the fixed part with its Labels set */
    return put(out, at, cap, sig, sl);
}

size_t answer_denial(const gn_table *t, const gn_query *q, long zi, const gn_source *src,
                     uint8_t *out, size_t cap)
{
    if (zi < 0 || (size_t)zi >= t->n_zones || cap < 4)
        return 0;
    const gn_denial *dn = &t->zv[zi].denial;
    unsigned count = dn->sigs_count + 1u + dn->nkeys;
    if (dn->sign == NULL || dn->nkeys == 0 || dn->nkeys > GN_DENIAL_KEYS || count > 64 ||
        (size_t)dn->sigs_off + dn->sigs_len > t->arena.n || q->nlen > GN_MAX_NAME ||
        !answer_signed_fresh(t, src))
        return 0;
    uint8_t rdata[2 + GN_MAX_NAME + sizeof BITMAP] = {1, 0}; /* next: \000.name */
    memcpy(rdata + 2, q->lname, q->nlen);
    memcpy(rdata + 2 + q->nlen, BITMAP, sizeof BITMAP);
    size_t rdlen = 2 + q->nlen + sizeof BITMAP;
    size_t at = put(out, 4, cap, t->arena.p + dn->sigs_off, dn->sigs_len);
    at = put_head(out, at, cap, T_NSEC, dn->ttl, rdlen);
    at = put(out, at, cap, rdata, rdlen);
    for (unsigned k = 0; k < dn->nkeys && at <= cap; k++)
        at = put_rrsig(t, dn, k, q, rdata, rdlen, out, at, cap);
    if (at > cap || at - 4 > 0xFFFF)
        return 0;
    out[0] = (uint8_t)(count >> 8), out[1] = (uint8_t)count;
    out[2] = (uint8_t)((at - 4) >> 8), out[3] = (uint8_t)(at - 4);
    return at;
}
