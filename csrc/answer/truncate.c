/* Replies that do not fit: assemble.reply's limit (what the transport carries, raised by
   the query's EDNS payload up to ours, RFC 6891 6.2.5) and its TC form (the question and
   our OPT, no records), so a client retries over TCP as it would after the slow path. */
#include "answer/answer.h"

#include <string.h>

size_t answer_limit(const gn_table *t, const gn_query *q, const gn_source *src)
{
    size_t limit = gn_transport(src);
    if (q->opt) {
        unsigned udp = q->udp_limit;
        udp = udp > t->opts.payload ? t->opts.payload : udp;
        if (udp > limit)
            limit = udp;
    }
    return limit;
}

/* out holds the reply's ID, its head (flags and counts) and the question (q->qend bytes):
   TC set, every count but the question's cleared, then our OPT (opt, and the `tail` that
   wire_add_cookie appends: NSID, COOKIE). Its length, or 0 when it does not fit cap. Like
   Python's, it is sent even when it is itself over the limit (a long NSID). */
size_t answer_truncate(const gn_query *q, gn_source *src, uint8_t *out, size_t cap,
                       const uint8_t *opt, size_t optlen, size_t tail)
{
    if (q->qend > cap || optlen > cap - q->qend || tail > cap - q->qend - optlen)
        return 0;
    out[2] |= 0x02; /* TC */
    out[4] = 0, out[5] = 1;
    memset(out + 6, 0, 4);
    out[10] = 0, out[11] = optlen ? 1 : 0;
    memcpy(out + q->qend, opt, optlen);
    size_t at = q->qend + optlen;
    if (tail && !(at = wire_add_cookie(q, src, out, at)))
        return 0;
    return at;
}
