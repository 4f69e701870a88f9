/* DNS COOKIE server side, as geodns/dns/cookies.py: see csrc/cookies/cookies.h for the contract.
   The memo keeps, per (client cookie, client address) slot, the server cookie made for it
   and when, so a resolver that sends the same client cookie gets the same server cookie
   for FRESH_FOR seconds, as the Python memo does; a new pair takes its slot over. */
#include "cookies/cookies.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/siphash.h"
#include "common/spin.h"

typedef struct {
    atomic_flag lock;
    uint8_t used, addrlen;
    uint8_t client[8];
    uint8_t addr[16];
    uint8_t ours[16];
    int64_t made;
} slot_t;

struct gd_cookies {
    uint8_t secret[GD_COOKIE_SECRET];
    uint8_t slot_key[GD_SIP_KEY]; /* picks a pair's slot: derived from the secret */
    size_t mask;
    atomic_uint_fast64_t counts[4];
    slot_t *slots;
};

int cookies_well_formed(size_t len)
{
    return len == 8 || (len >= 16 && len <= 40);
}

int64_t cookies_clamp(int64_t now)
{
    return now > GD_COOKIE_CLOCK_MAX    ? GD_COOKIE_CLOCK_MAX
           : now < -GD_COOKIE_CLOCK_MAX ? -GD_COOKIE_CLOCK_MAX
                                        : now;
}

int64_t cookies_age(uint32_t ts, int64_t now)
{
    uint32_t delta = (uint32_t)((uint64_t)now - ts);
    return delta >= 0x80000000u ? (int64_t)delta - ((int64_t)1 << 32) : (int64_t)delta;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* SipHash over client | head (version, reserved, timestamp: 8 bytes) | addr. */
static uint64_t digest(const uint8_t *secret, const uint8_t *client, const uint8_t *head,
                       const uint8_t *addr, size_t addrlen)
{
    uint8_t buf[8 + 8 + 16];
    if (addrlen > 16)
        addrlen = 16;
    memcpy(buf, client, 8);
    memcpy(buf + 8, head, 8);
    memcpy(buf + 16, addr, addrlen);
    return common_siphash24(secret, buf, 16 + addrlen);
}

void cookies_make(const uint8_t secret[GD_COOKIE_SECRET], const uint8_t client[8],
                  const uint8_t *addr, size_t addrlen, uint32_t ts, uint8_t out[16])
{
    out[0] = 1, out[1] = out[2] = out[3] = 0;
    put32(out + 4, ts);
    common_sip_store_le(digest(secret, client, out, addr, addrlen), out + 8);
}

int cookies_valid(const uint8_t secret[GD_COOKIE_SECRET], const uint8_t *body, size_t len,
                  const uint8_t *addr, size_t addrlen, int64_t now)
{
    if (len != 8 + 16 || body[8] != 1)
        return 0;
    const uint8_t *server = body + 8;
    uint32_t ts = (uint32_t)server[4] << 24 | (uint32_t)server[5] << 16 | (uint32_t)server[6] << 8 |
                  server[7];
    int64_t a = cookies_age(ts, now);
    if (a < -GD_COOKIE_AHEAD || a > GD_COOKIE_VALID_FOR)
        return 0;
    uint8_t mac[8];
    common_sip_store_le(digest(secret, body, server, addr, addrlen), mac);
    return memcmp(mac, server + 8, 8) == 0;
}

gd_cookies *cookies_new(const uint8_t secret[GD_COOKIE_SECRET], size_t slots)
{
    if (slots == 0)
        slots = GD_COOKIE_SLOTS;
    if (slots & (slots - 1))
        return NULL;
    gd_cookies *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->slots = calloc(slots, sizeof *c->slots);
    if (c->slots == NULL) {
        free(c);
        return NULL;
    }
    /* calloc's zeros are clear flags (GCC and Clang on every target): no loop that would
       touch every page of a table most of which a worker may never use */
    for (int i = 0; i < 4; i++)
        atomic_init(&c->counts[i], 0);
    memcpy(c->secret, secret, GD_COOKIE_SECRET);
    /* a slot key no client can aim at without the secret */
    static const uint8_t label[] = "geodns cookie memo slots";
    uint64_t k0 = common_siphash24(secret, label, sizeof label - 1);
    uint64_t k1 = common_siphash24(secret, label, sizeof label - 2);
    common_sip_store_le(k0, c->slot_key);
    common_sip_store_le(k1, c->slot_key + 8);
    c->mask = slots - 1;
    return c;
}

void cookies_free(gd_cookies *c)
{
    if (c == NULL)
        return;
    free(c->slots);
    free(c);
}

static slot_t *lock_slot(gd_cookies *c, const uint8_t *client, const uint8_t *addr, size_t addrlen)
{
    uint8_t buf[8 + 16];
    memcpy(buf, client, 8);
    memcpy(buf + 8, addr, addrlen);
    slot_t *s = &c->slots[common_siphash24(c->slot_key, buf, 8 + addrlen) & c->mask];
    gd_spin_lock(&s->lock);
    return s;
}

static int answer(gd_cookies *c, const uint8_t *body, size_t len, const uint8_t *addr,
                  size_t addrlen, int64_t now, uint8_t out[GD_COOKIE_OPTION], int64_t *expires,
                  int counted)
{
    if (!cookies_well_formed(len))
        return GD_COOKIE_MALFORMED;
    if (addrlen > 16)
        addrlen = 16;
    now = cookies_clamp(now);
    uint8_t ours[16];
    int64_t made;
    slot_t *s = lock_slot(c, body, addr, addrlen);
    if (s->used && s->addrlen == addrlen && memcmp(s->client, body, 8) == 0 &&
        memcmp(s->addr, addr, addrlen) == 0 && s->made <= now &&
        (uint64_t)now - (uint64_t)s->made < GD_COOKIE_FRESH_FOR) {
        memcpy(ours, s->ours, 16);
        made = s->made;
    } else {
        cookies_make(c->secret, body, addr, addrlen, (uint32_t)now, ours);
        made = now;
        s->used = 1, s->addrlen = (uint8_t)addrlen;
        memcpy(s->client, body, 8);
        memcpy(s->addr, addr, addrlen);
        memcpy(s->ours, ours, 16);
        s->made = now;
    }
    gd_spin_unlock(&s->lock);
    int64_t until = made + GD_COOKIE_FRESH_FOR;
    int result;
    if (len == 8) {
        result = GD_COOKIE_NEW;
    } else if ((len == 24 && memcmp(body + 8, ours, 16) == 0) ||
               cookies_valid(c->secret, body, len, addr, addrlen, now)) {
        result = GD_COOKIE_VALID;
        const uint8_t *t = body + 12;
        uint32_t ts = (uint32_t)t[0] << 24 | (uint32_t)t[1] << 16 | (uint32_t)t[2] << 8 | t[3];
        int64_t presented = now - cookies_age(ts, now);
        if (presented + GD_COOKIE_VALID_FOR < until)
            until = presented + GD_COOKIE_VALID_FOR;
    } else {
        result = GD_COOKIE_INVALID; /* treated as a client cookie alone (RFC 7873 5.2.4) */
    }
    if (counted)
        atomic_fetch_add_explicit(&c->counts[result], 1, memory_order_relaxed);
    out[0] = 0, out[1] = 10, out[2] = 0, out[3] = 24;
    memcpy(out + 4, body, 8);
    memcpy(out + 12, ours, 16);
    if (expires != NULL)
        *expires = until;
    return result;
}

int cookies_answer(gd_cookies *c, const uint8_t *body, size_t len, const uint8_t *addr,
                   size_t addrlen, int64_t now, uint8_t out[GD_COOKIE_OPTION], int64_t *expires)
{
    return answer(c, body, len, addr, addrlen, now, out, expires, 1);
}

int cookies_answer_uncounted(gd_cookies *c, const uint8_t *body, size_t len, const uint8_t *addr,
                             size_t addrlen, int64_t now, uint8_t out[GD_COOKIE_OPTION],
                             int64_t *expires)
{
    return answer(c, body, len, addr, addrlen, now, out, expires, 0);
}

void cookies_count(gd_cookies *c, int result)
{
    if (result >= 0 && result < 4)
        atomic_fetch_add_explicit(&c->counts[result], 1, memory_order_relaxed);
}

void cookies_counts(gd_cookies *c, uint64_t out[4])
{
    for (int i = 0; i < 4; i++)
        out[i] = atomic_load_explicit(&c->counts[i], memory_order_relaxed);
}
