/* The bounds-checked query parser of the native path: the same conditions under which
   Handler.handle's fast path answers (dns/fast.py), and the one EDNS option walk
   (wire.find_options). Anything else returns -1: the query goes to Python. */
#include "answer/answer.h"

#include <string.h>

#define OPT_NSID 3
#define OPT_ECS 8
#define OPT_COOKIE 10

/* The options in d[pos..end): wire.find_options, -1 where it raises FormErr. */
static int walk_options(const uint8_t *d, size_t pos, size_t end, gn_query *q)
{
    while (pos < end) {
        size_t body = pos + 4;
        if (body > end)
            return -1;
        size_t stop = body + ((size_t)d[pos + 2] << 8 | d[pos + 3]);
        if (stop > end)
            return -1;
        if (d[pos] == 0) {
            uint8_t code = d[pos + 1];
            if (code == OPT_ECS) {
                if (q->ecs != NULL)
                    return -1;
                q->ecs = d + body;
                q->ecs_len = stop - body;
            } else if (code == OPT_COOKIE && q->cookie == NULL) {
                q->cookie = d + body;
                q->cookie_len = stop - body;
            } else if (code == OPT_NSID) {
                q->nsid = 1;
            }
        }
        pos = stop;
    }
    return 0;
}

/* geo/ecs.py parse(): 1 when the option body passes RFC 7871's checks. */
int wire_ecs_valid(const uint8_t *b, size_t len)
{
    if (len < 4)
        return 0;
    unsigned family = (unsigned)b[0] << 8 | b[1], source = b[2], bits;
    if (family == 1)
        bits = 32;
    else if (family == 2)
        bits = 128;
    else
        return 0;
    if (source > bits || len - 4 != (source + 7) / 8)
        return 0;
    if (source % 8 && (b[len - 1] & (0xFF >> (source % 8))))
        return 0;
    return 1;
}

/* The question's name: plain labels only (no pointers), at most 255 bytes; lower-cased
   into q->lname. Returns the offset past the name or 0. */
static size_t read_name(const uint8_t *d, size_t n, gn_query *q)
{
    size_t pos = 12, len = 0;
    for (;;) {
        if (pos >= n)
            return 0;
        uint8_t label = d[pos];
        if (label > 63)
            return 0;
        if (len + label + 1 > GN_MAX_NAME || pos + label + 1 > n)
            return 0;
        q->lname[len++] = label;
        for (size_t i = 1; i <= label; i++) {
            uint8_t c = d[pos + i];
            q->lname[len++] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
        }
        pos += label + 1;
        if (label == 0)
            break;
    }
    q->nlen = len;
    return pos;
}

/* 0 and q filled when d[0..n) is a query the native path may answer: flags QR=0, opcode
   QUERY, no AA/TC/Z, rcode 0 (RD, CD copied, AD ignored); one question, no answer or
   authority records; at most one additional record, an OPT of version 0 that ends the
   packet with whole options. -1 otherwise. */
int wire_parse(const uint8_t *d, size_t n, gn_query *q)
{
    if (n < 12 || d[2] > 1 || (d[3] & ~0x30))
        return -1;
    if (d[4] || d[5] != 1 || d[6] || d[7] || d[8] || d[9])
        return -1;
    q->variant = d[2] | ((d[3] & 0x10) ? 2u : 0u);
    size_t pos = read_name(d, n, q);
    if (!pos || pos + 4 > n)
        return -1;
    q->qtype = (unsigned)d[pos] << 8 | d[pos + 1];
    q->qclass = (unsigned)d[pos + 2] << 8 | d[pos + 3];
    q->qend = pos + 4;
    memcpy(q->key, q->lname, q->nlen);
    memcpy(q->key + q->nlen, d + pos, 4);
    q->ecs = q->cookie = NULL;
    q->ecs_len = q->cookie_len = 0;
    q->nsid = q->opt = q->do_bit = q->co = 0;
    q->udp_limit = GN_UDP_SIZE;
    size_t end = q->qend;
    if (d[10] == 0 && d[11] == 0)
        return n == end ? 0 : -1;
    if (d[10] != 0 || d[11] != 1 || n < end + 11)
        return -1;
    if (d[end] != 0 || d[end + 1] != 0 || d[end + 2] != 41)
        return -1;
    size_t rdlen = (size_t)d[end + 9] << 8 | d[end + 10];
    if (n != end + 11 + rdlen || d[end + 6] != 0) /* EDNS version > 0: BADVERS */
        return -1;
    q->opt = 1;
    q->do_bit = (d[end + 7] & 0x80) ? 1 : 0;
    q->co = (d[end + 7] & 0x40) ? 1 : 0;
    q->udp_limit = (unsigned)d[end + 3] << 8 | d[end + 4];
    return walk_options(d, end + 11, n, q);
}
