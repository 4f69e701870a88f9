/* Fuzz the query log's writer side (csrc/log/): a record with any query and response bytes
   (and zone/pool texts) through the ring, the log line (text and JSON) and the dnstap
   frames. Input: query length (2) | query | response length (2) | response | texts (the
   rest: zone, then pool). Checks: the record comes out of the ring as it went in; a line
   ends with one newline and stays under LOG_LINE_MAX; the dnstap frames are two, each its
   announced length, and fit whenever there is room. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log/log.h"

static size_t take16(const uint8_t **p, size_t *n)
{
    if (*n < 2)
        return 0;
    size_t v = (size_t)(*p)[0] << 8 | (*p)[1];
    *p += 2, *n -= 2;
    return v;
}

static log_style style;
static log_ring ring;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ring.buf == NULL) {
        FUZZ_CHECK(log_ring_init(&ring, 1u << 16) == 0);
        strcpy(style.types[1], "A");
        strcpy(style.rcodes[3], "NXDOMAIN");
        style.max_v4 = 24;
        style.max_v6 = 56;
    }
    size_t qlen = take16(&data, &size);
    if (qlen > size)
        qlen = size;
    const uint8_t *q = data;
    data += qlen, size -= qlen;
    size_t rlen = take16(&data, &size);
    if (rlen > size)
        rlen = size;
    const uint8_t *r = data;
    data += rlen, size -= rlen;
    size_t zlen = size / 2 > 255 ? 255 : size / 2, plen = size - zlen > 255 ? 255 : size - zlen;
    log_head h = {0};
    h.qlen = (uint16_t)qlen;
    h.rlen = (uint16_t)rlen;
    h.zlen = (uint8_t)zlen;
    h.plen = (uint8_t)plen;
    h.family = qlen & 1 ? 6 : 4;
    h.flags = LOG_TEXT | LOG_DNSTAP;
    h.sec = 1700000000;
    h.nsec = 999999999;
    h.ns = rlen * 1000u;
    memset(h.addr, 0xAB, sizeof h.addr);
    int pushed = log_push(&ring, &h, q, r, (const char *)data, (const char *)data + zlen);
    const log_head *got = log_ring_peek(&ring);
    if (pushed != 0) { /* too big for this ring: nothing went in */
        FUZZ_CHECK(got == NULL);
        return 0;
    }
    FUZZ_CHECK(got != NULL && got->qlen == qlen && got->rlen == rlen);
    const uint8_t *body = (const uint8_t *)(got + 1);
    FUZZ_CHECK(memcmp(body, q, qlen) == 0 && memcmp(body + qlen, r, rlen) == 0);
    static uint8_t line[LOG_LINE_MAX];
    char stamp[32];
    for (int json = 0; json < 2; json++) {
        style.json = json;
        log_stamp(&style, got->sec, got->nsec, stamp);
        size_t n = log_line(&style, got, stamp, line);
        FUZZ_CHECK(n > 0 && n <= LOG_LINE_MAX && line[n - 1] == '\n');
        FUZZ_CHECK(memchr(line, '\n', n - 1) == NULL);
    }
    size_t cap = 2 * (qlen + rlen) + 400;
    uint8_t *tap = malloc(cap);
    FUZZ_CHECK(tap != NULL);
    size_t n = log_dnstap(got, (const uint8_t *)"id", 2, tap, cap);
    FUZZ_CHECK(n > 8);
    size_t first = (size_t)tap[0] << 24 | (size_t)tap[1] << 16 | (size_t)tap[2] << 8 | tap[3];
    FUZZ_CHECK(4 + first + 4 <= n);
    const uint8_t *s = tap + 4 + first;
    size_t second = (size_t)s[0] << 24 | (size_t)s[1] << 16 | (size_t)s[2] << 8 | s[3];
    FUZZ_CHECK(4 + first + 4 + second == n);
    FUZZ_CHECK(log_dnstap(got, NULL, 0, tap, n / 2) == 0 || n / 2 >= n - 2); /* no room: 0 */
    free(tap);
    log_ring_release(&ring, got);
    FUZZ_CHECK(log_ring_peek(&ring) == NULL);
    return 0;
}
