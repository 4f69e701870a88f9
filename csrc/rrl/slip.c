/* What the handler does around an RRL verdict, for the native threads: the account a reply
   is counted in (handler._identity) and the slip sent instead of a limited reply
   (assemble.limited). Byte for byte as the Python, checked against it on random and real
   replies (tests/unit/test_fast_abuse_reply.py). */
#include <string.h>

#include "rrl/rrl.h"

/* wire._read_qname + 4 (question_end): offset past the question, or 0 when unreadable */
static size_t question_end(const uint8_t *d, size_t n)
{
    size_t pos = 12, total = 0;
    for (;;) {
        if (pos >= n)
            return 0;
        uint8_t len = d[pos];
        if (len == 0)
            break;
        if (len & 0xC0)
            return 0;
        total += (size_t)len + 1;
        if (total > 254)
            return 0;
        pos += (size_t)len + 1;
    }
    pos += 1 + 4;
    return pos <= n ? pos : 0;
}

static size_t question_of(const uint8_t *resp, size_t len)
{
    return len >= 12 && resp[4] == 0 && resp[5] == 1 ? question_end(resp, len) : 0;
}

int rrl_kind(const uint8_t *resp, size_t len)
{
    if (len < 4)
        return GD_RRL_ERROR;
    int rcode = resp[3] & 0xF;
    return rcode == 0 ? GD_RRL_ANSWER : rcode == 3 ? GD_RRL_NXDOMAIN : GD_RRL_ERROR;
}

size_t rrl_question(const uint8_t *resp, size_t len, uint8_t out[GD_RRL_QUESTION_MAX])
{
    size_t end = question_of(resp, len);
    if (end == 0)
        return 0;
    size_t n = end - 12; /* <= 255 + 4 by question_end */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = resp[12 + i];
        out[i] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c; /* bytes.lower(): every byte */
    }
    return n;
}

/* wire.opt_rr(payload, ext_rcode, do, options) into p; its size */
static size_t opt_rr(uint8_t *p, unsigned payload, unsigned ext_rcode, int do_bit,
                     const uint8_t *options, size_t n)
{
    p[0] = 0, p[1] = 0, p[2] = 41;
    p[3] = (uint8_t)(payload >> 8), p[4] = (uint8_t)payload;
    p[5] = (uint8_t)ext_rcode, p[6] = 0, p[7] = do_bit ? 0x80 : 0, p[8] = 0;
    p[9] = (uint8_t)(n >> 8), p[10] = (uint8_t)n;
    if (n)
        memcpy(p + 11, options, n);
    return 11 + n;
}

size_t rrl_slip(const uint8_t *query, size_t qlen, const uint8_t *resp, size_t rlen,
                unsigned payload, const uint8_t *cookie, size_t cookielen, uint8_t *out, size_t cap)
{
    if (qlen < 12 || rlen < 12 || cookielen > 0xFFFF || (cookielen && cookie == NULL))
        return 0;
    size_t end = question_of(resp, rlen);
    if (end == 0)
        end = 12;
    unsigned flags = (unsigned)resp[2] << 8 | resp[3];
    int has_opt = (query[10] || query[11]) && qlen >= end + 3 && query[end] == 0 &&
                  query[end + 1] == 0 && query[end + 2] == 41;
    int do_bit = has_opt && qlen > end + 7 && (query[end + 7] & 0x80);
    if (has_opt && cookielen) /* BADCOOKIE (23): 7 in the header, 1 in the OPT */
        flags = (flags & ~0x040Fu) | (23 & 0xF);
    if (!cookielen || !has_opt)
        flags |= 0x0200; /* TC: a real client retries over TCP */
    size_t qn = end - 12, optlen = has_opt ? 11 + cookielen : 0, total = 12 + qn + optlen;
    if (total > cap)
        return 0;
    out[0] = query[0], out[1] = query[1];
    out[2] = (uint8_t)(flags >> 8), out[3] = (uint8_t)flags;
    out[4] = 0, out[5] = end > 12, out[6] = out[7] = out[8] = out[9] = 0;
    out[10] = 0, out[11] = has_opt;
    memcpy(out + 12, resp + 12, qn);
    if (has_opt)
        opt_rr(out + 12 + qn, payload, cookielen ? 23 >> 4 : 0, do_bit, cookie, cookielen);
    return total;
}
