/* One query log line from a record, in the Python path's format (dns/handler.py _logged,
   ops/logs.py): text "STAMP INFO geodns.query: query from ..." or one JSON object. The
   query and response are read here, in the writer, not by the answering thread: every
   read bounds-checked (fuzz/fuzz_qlog.c). */
#include "log/log.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint8_t *p;
    size_t n, cap;
} out_t;

static void put(out_t *o, const void *s, size_t n)
{
    if (n > o->cap - o->n)
        n = o->cap - o->n;
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void puts_(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

static void putu(out_t *o, uint64_t v)
{
    char b[24];
    int i = sizeof b;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, b + i, sizeof b - (size_t)i);
}

/* a text from the config (zone, pool): one line whatever it holds */
static void put_text(out_t *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((unsigned char)c < 0x20 || (unsigned char)c == 0x7f)
            c = '?';
        put(o, &c, 1);
    }
}

/* text as a JSON string body: \ and " escaped (every text here is printable ASCII) */
static void put_json(out_t *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' || c == '"')
            put(o, "\\", 1);
        if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7e)
            c = '?';
        put(o, &c, 1);
    }
}

/* What a line says, read from the record's query and response. */
typedef struct {
    char name[1024]; /* presentation text (names.wire_to_text), "?" when unreadable */
    unsigned qtype;
    int ecs_family; /* 0: no ECS with a source prefix */
    uint8_t ecs_addr[16];
    unsigned ecs_source;
    unsigned scope, rcode;
} facts_t;

static size_t u16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

/* The query's name as text (labels only: a pointer in a question is not read), its end. */
static size_t qname(const uint8_t *d, size_t n, char *text, size_t cap)
{
    size_t at = 12, t = 0, wire = 0;
    while (at < n && d[at] != 0) {
        size_t len = d[at];
        if (len > 63 || at + 1 + len > n || (wire += len + 1) > 255)
            return 0;
        for (size_t i = 0; i < len; i++) {
            uint8_t b = d[at + 1 + i];
            if (t + 5 >= cap)
                return 0;
            if (b == '.' || b == '\\') {
                text[t++] = '\\';
                text[t++] = (char)b;
            } else if (b >= 0x21 && b <= 0x7e) {
                text[t++] = (char)b;
            } else {
                t += (size_t)snprintf(text + t, cap - t, "\\%03u", b);
            }
        }
        text[t++] = '.';
        at += 1 + len;
    }
    if (at >= n)
        return 0;
    if (t == 0)
        text[t++] = '.';
    text[t] = 0;
    return at + 1;
}

/* Past a (maybe compressed) name at d[at]: its end, or 0. */
static size_t skip_name(const uint8_t *d, size_t n, size_t at)
{
    while (at < n) {
        uint8_t len = d[at];
        if (len == 0)
            return at + 1;
        if (len >= 0xC0)
            return at + 2 <= n ? at + 2 : 0;
        if (len > 63)
            return 0;
        at += 1 + (size_t)len;
    }
    return 0;
}

/* The OPT record of a message (its RDATA and the TTL's first octet), after the question. */
static const uint8_t *find_opt(const uint8_t *d, size_t n, size_t at, size_t *rdlen, unsigned *ext)
{
    size_t rrs = u16(d + 6) + u16(d + 8), ar = u16(d + 10);
    for (size_t i = 0; i < rrs + ar; i++) {
        size_t end = skip_name(d, n, at);
        if (end == 0 || end + 10 > n)
            return NULL;
        size_t len = u16(d + end + 8);
        if (end + 10 + len > n)
            return NULL;
        if (i >= rrs && u16(d + end) == 41) {
            *rdlen = len;
            *ext = d[end + 4];
            return d + end + 10;
        }
        at = end + 10 + len;
    }
    return NULL;
}

/* The ECS option (code 8) of an OPT's RDATA, its length in *len. */
static const uint8_t *find_ecs(const uint8_t *o, size_t n, size_t *len)
{
    for (size_t at = 0; at + 4 <= n;) {
        size_t code = u16(o + at), olen = u16(o + at + 2);
        if (at + 4 + olen > n)
            return NULL;
        if (code == 8) {
            *len = olen;
            return o + at + 4;
        }
        at += 4 + olen;
    }
    return NULL;
}

static void read_query(const log_head *h, const uint8_t *q, facts_t *f)
{
    size_t n = h->qlen, end, rdlen, elen;
    unsigned ext;
    strcpy(f->name, "?");
    if (n < 12 || u16(q + 4) != 1 || (end = qname(q, n, f->name, sizeof f->name)) == 0 ||
        end + 4 > n) {
        strcpy(f->name, "?");
        return;
    }
    f->qtype = (unsigned)u16(q + end);
    const uint8_t *opt = find_opt(q, n, end + 4, &rdlen, &ext);
    const uint8_t *e = opt ? find_ecs(opt, rdlen, &elen) : NULL;
    if (e == NULL || elen < 4 || e[2] == 0)
        return;
    unsigned family = (unsigned)u16(e), source = e[2], bytes = (source + 7) / 8;
    if ((family != 1 && family != 2) || source > (family == 1 ? 32u : 128u) || elen != 4 + bytes)
        return;
    f->ecs_family = family == 1 ? 4 : 6;
    f->ecs_source = source;
    memcpy(f->ecs_addr, e + 4, bytes);
}

static void read_response(const log_head *h, const uint8_t *r, facts_t *f)
{
    size_t n = h->rlen, at = 12, rdlen, elen;
    unsigned ext = 0;
    if (n < 12)
        return;
    f->rcode = r[3] & 0xF;
    for (size_t i = 0, qd = u16(r + 4); i < qd; i++) {
        at = skip_name(r, n, at);
        if (at == 0 || (at += 4) > n)
            return;
    }
    const uint8_t *opt = find_opt(r, n, at, &rdlen, &ext);
    if (opt == NULL)
        return;
    f->rcode |= ext << 4;
    const uint8_t *e = find_ecs(opt, rdlen, &elen);
    if (e != NULL && elen >= 4)
        f->scope = e[3];
}

static void put_type(out_t *o, const log_style *st, unsigned qtype)
{
    if (qtype < 256 && st->types[qtype][0]) {
        puts_(o, st->types[qtype]);
        return;
    }
    for (int i = 0; i < 8; i++)
        if (st->wide[i][0] && st->wide_code[i] == qtype) {
            puts_(o, st->wide[i]);
            return;
        }
    puts_(o, "TYPE");
    putu(o, qtype);
}

static void put_rcode(out_t *o, const log_style *st, unsigned rcode)
{
    if (rcode < 32 && st->rcodes[rcode][0])
        puts_(o, st->rcodes[rcode]);
    else
        putu(o, rcode);
}

static void put_addr(out_t *o, int family, const uint8_t *a)
{
    if (family == 4) { /* by hand: inet_ntop is a third of a line's cost */
        for (int i = 0; i < 4; i++) {
            if (i)
                put(o, ".", 1);
            putu(o, a[i]);
        }
        return;
    }
    char b[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, a, b, sizeof b);
    puts_(o, b);
}

/* The ECS client as Python logs it: the address cut to the source prefix we act on. */
static void put_ecs(out_t *o, const log_style *st, const facts_t *f)
{
    unsigned cap = f->ecs_family == 4 ? st->max_v4 : st->max_v6;
    unsigned source = f->ecs_source < cap ? f->ecs_source : cap, whole = source / 8;
    uint8_t a[16] = {0};
    memcpy(a, f->ecs_addr, whole);
    if (source % 8)
        a[whole] = f->ecs_addr[whole] & (uint8_t)(0xFF << (8 - source % 8));
    put_addr(o, f->ecs_family, a);
    put(o, "/", 1);
    putu(o, source);
}

/* The message: "query from C[ ecs A/P]: zone Z pool P scope S rcode R name N type T size
   B us U path X" (Python's None for no zone or pool). */
static void message(out_t *o, const log_style *st, const log_head *h, const facts_t *f,
                    const char *zone, const char *pool, int json)
{
    void (*text)(out_t *, const char *, size_t) = json ? put_json : put_text;
    puts_(o, "query from ");
    put_addr(o, h->family, h->addr);
    if (f->ecs_family) {
        puts_(o, " ecs ");
        put_ecs(o, st, f);
    }
    puts_(o, ": zone ");
    text(o, h->zlen ? zone : "None", h->zlen ? h->zlen : 4);
    puts_(o, " pool ");
    text(o, h->plen ? pool : "None", h->plen ? h->plen : 4);
    puts_(o, " scope ");
    putu(o, f->scope);
    puts_(o, " rcode ");
    put_rcode(o, st, f->rcode);
    puts_(o, " name ");
    text(o, f->name, strlen(f->name));
    puts_(o, " type ");
    put_type(o, st, f->qtype);
    puts_(o, " size ");
    putu(o, h->rlen);
    puts_(o, " us ");
    putu(o, h->ns / 1000);
    puts_(o, h->path ? " path python" : " path native");
}

static void json_str(out_t *o, const char *key, const char *s, size_t n)
{
    puts_(o, ", \"");
    puts_(o, key);
    puts_(o, "\": ");
    if (s == NULL) {
        puts_(o, "null");
        return;
    }
    put(o, "\"", 1);
    put_json(o, s, n);
    put(o, "\"", 1);
}

static void json_num(out_t *o, const char *key, uint64_t v)
{
    puts_(o, ", \"");
    puts_(o, key);
    puts_(o, "\": ");
    putu(o, v);
}

static void json_fields(out_t *o, const log_style *st, const log_head *h, const facts_t *f,
                        const char *zone, const char *pool)
{
    char client[INET6_ADDRSTRLEN], type[24];
    out_t c = {(uint8_t *)client, 0, sizeof client - 1};
    put_addr(&c, h->family, h->addr);
    json_str(o, "client", client, c.n);
    json_str(o, "zone", h->zlen ? zone : NULL, h->zlen);
    json_str(o, "pool", h->plen ? pool : NULL, h->plen);
    json_num(o, "scope", f->scope);
    json_num(o, "rcode", f->rcode);
    puts_(o, h->path ? ", \"path\": [\"python\"]" : ", \"path\": [\"native\"]");
    json_str(o, "name", f->name, strlen(f->name));
    out_t t = {(uint8_t *)type, 0, sizeof type - 1};
    put_type(&t, st, f->qtype);
    json_str(o, "type", type, t.n);
    if (f->ecs_family) {
        char ecs[64];
        out_t e = {(uint8_t *)ecs, 0, sizeof ecs - 1};
        put_ecs(&e, st, f);
        json_str(o, "ecs", ecs, e.n);
    } else {
        json_str(o, "ecs", NULL, 0);
    }
    json_num(o, "size", h->rlen);
    json_num(o, "us", h->ns / 1000);
    json_str(o, "transport", h->transport == LOG_TCP ? "tcp" : "udp", 3);
}

void log_stamp(const log_style *st, int64_t sec, uint32_t nsec, char *out)
{
    struct tm tm;
    time_t t = (time_t)sec;
    unsigned ms = nsec / 1000000;
    if (st->json) {
        gmtime_r(&t, &tm);
        size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(out + n, 32 - n, ".%03uZ", ms);
    } else {
        localtime_r(&t, &tm);
        size_t n = strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(out + n, 32 - n, ",%03u", ms);
    }
}

size_t log_line(const log_style *st, const log_head *h, const char *stamp, uint8_t *buf)
{
    const uint8_t *q = (const uint8_t *)(h + 1), *r = q + h->qlen;
    const char *zone = (const char *)(r + h->rlen), *pool = zone + h->zlen;
    facts_t f;
    f.qtype = f.scope = f.rcode = f.ecs_source = 0; /* not the whole struct: its name is 1 KiB */
    f.ecs_family = 0;
    memset(f.ecs_addr, 0, sizeof f.ecs_addr);
    read_query(h, q, &f);
    read_response(h, r, &f);
    out_t o = {buf, 0, LOG_LINE_MAX - 1};
    if (st->json) {
        puts_(&o, "{\"ts\": \"");
        puts_(&o, stamp);
        puts_(&o, "\", \"level\": \"info\", \"logger\": \"geodns.query\", \"msg\": \"");
        message(&o, st, h, &f, zone, pool, 1);
        put(&o, "\"", 1);
        json_fields(&o, st, h, &f, zone, pool);
        put(&o, "}", 1);
    } else {
        puts_(&o, stamp);
        puts_(&o, " INFO geodns.query: ");
        message(&o, st, h, &f, zone, pool, 0);
    }
    o.cap++; /* the newline always fits */
    put(&o, "\n", 1);
    return o.n;
}
