/* dnstap (dnstap.proto) in Frame Streams framing, as Knot, BIND, Unbound and CoreDNS write
   it: per answer an AUTH_QUERY and an AUTH_RESPONSE message, each one data frame (a 4-octet
   length, then a Dnstap protobuf). The protobuf is written by hand: a few fields, varints
   and length-delimited bytes. Control frames: READY/START/STOP with the content type. */
#include "log/log.h"

#include <string.h>

static const char CONTENT_TYPE[] = "protobuf:dnstap.Dnstap";

enum { VARINT = 0, LEN = 2, FIXED32 = 5 };
enum { AUTH_QUERY = 1, AUTH_RESPONSE = 2, INET = 1, INET6 = 2, UDP = 1, TCP = 2, MESSAGE = 1 };

typedef struct {
    uint8_t *p;
    size_t n, cap;
    int full;
} pb_t;

static void raw(pb_t *b, const void *s, size_t n)
{
    if (b->full || n > b->cap - b->n) {
        b->full = 1;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void varint(pb_t *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    while (v >= 0x80) {
        t[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (uint8_t)v;
    raw(b, t, n);
}

static void key(pb_t *b, unsigned field, unsigned type)
{
    varint(b, (uint64_t)field << 3 | type);
}

static void field_varint(pb_t *b, unsigned field, uint64_t v)
{
    key(b, field, VARINT);
    varint(b, v);
}

static void field_bytes(pb_t *b, unsigned field, const void *s, size_t n)
{
    key(b, field, LEN);
    varint(b, n);
    raw(b, s, n);
}

static void field_fixed32(pb_t *b, unsigned field, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    key(b, field, FIXED32);
    raw(b, t, 4);
}

/* dnstap.Message of one side of an answer */
static void message(pb_t *b, const log_head *h, int response)
{
    const uint8_t *q = (const uint8_t *)(h + 1), *r = q + h->qlen;
    size_t alen = h->family == 4 ? 4 : 16;
    uint64_t at = (uint64_t)h->nsec + (response ? h->ns : 0);
    field_varint(b, 1, response ? AUTH_RESPONSE : AUTH_QUERY);
    field_varint(b, 2, h->family == 4 ? INET : INET6);
    field_varint(b, 3, h->transport == LOG_TCP ? TCP : UDP);
    field_bytes(b, 4, h->addr, alen);     /* query_address: the client */
    field_bytes(b, 5, h->laddr, alen);    /* response_address: us */
    field_varint(b, 6, h->port);          /* query_port */
    field_varint(b, 7, h->lport);         /* response_port */
    field_varint(b, 8, (uint64_t)h->sec); /* query_time_sec */
    field_fixed32(b, 9, h->nsec);
    if (response) {
        field_varint(b, 12, (uint64_t)h->sec + at / 1000000000u);
        field_fixed32(b, 13, (uint32_t)(at % 1000000000u));
        field_bytes(b, 14, r, h->rlen);
    } else {
        field_bytes(b, 10, q, h->qlen);
    }
}

/* One data frame: length, Dnstap{identity, version, message, type}. */
static void frame(pb_t *b, const log_head *h, int response, const uint8_t *id, size_t idlen)
{
    size_t start = b->n;
    raw(b, "\0\0\0\0", 4); /* the frame length, filled below */
    if (idlen)
        field_bytes(b, 1, id, idlen);
    field_bytes(b, 2, "geodns", 6);
    /* the message: its length first, so measure it into the space after a worst-case
       prefix, then move it down */
    size_t pre = b->n;
    raw(b, "\0\0\0\0\0\0", 6);
    size_t body = b->n;
    message(b, h, response);
    if (b->full)
        return;
    size_t mlen = b->n - body;
    pb_t k = {b->p + pre, 0, 6, 0};
    key(&k, 14, LEN);
    varint(&k, mlen);
    memmove(b->p + pre + k.n, b->p + body, mlen);
    b->n = pre + k.n + mlen;
    field_varint(b, 15, MESSAGE);
    if (b->full)
        return;
    uint32_t len = (uint32_t)(b->n - start - 4);
    uint8_t be[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    memcpy(b->p + start, be, 4);
}

size_t log_dnstap(const log_head *h, const uint8_t *identity, size_t idlen, uint8_t *out,
                  size_t cap)
{
    pb_t b = {out, 0, cap, 0};
    frame(&b, h, 0, identity, idlen);
    frame(&b, h, 1, identity, idlen);
    return b.full ? 0 : b.n;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

size_t log_fs_control(uint32_t type, int with_content_type, uint8_t *out)
{
    size_t ct = sizeof CONTENT_TYPE - 1, len = 4 + (with_content_type ? 8 + ct : 0);
    be32(out, 0); /* the escape: a zero length */
    be32(out + 4, (uint32_t)len);
    be32(out + 8, type);
    if (with_content_type) {
        be32(out + 12, 1); /* FSTRM_CONTROL_FIELD_CONTENT_TYPE */
        be32(out + 16, (uint32_t)ct);
        memcpy(out + 20, CONTENT_TYPE, ct);
    }
    return 8 + len;
}

int log_fs_is_control(const uint8_t *buf, size_t n, uint32_t type)
{
    if (n < 12)
        return 0;
    uint32_t esc = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    uint32_t len = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
    if (esc != 0 || len < 4 || len > 512)
        return -1;
    if (n < 8 + (size_t)len)
        return 0;
    uint32_t t = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11];
    return t == type ? 1 : -1;
}
