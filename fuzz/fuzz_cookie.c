/* Fuzz the native server cookies (csrc/cookies/cookies.c, csrc/common/siphash.c): any COOKIE option
   body from any address at any time. Input: secret (16) | flags (1) | address (16) | now (8) | body
   (the rest). Checks what cookies.py guarantees: a well-formed body gets our option with its client
   cookie echoed and a server cookie that validates now; anything else is left to the caller
   untouched. */
#include <string.h>

#include "cookies/cookies.h"
#include "common/siphash.h"
#include "fuzz.h"

static gd_cookies *shared; /* one memo across inputs, so takeovers and reuse happen */
static const uint8_t shared_secret[16] = "geodns fuzzing!";

static void take(const uint8_t **p, size_t *n, void *out, size_t want)
{
    size_t k = *n < want ? *n : want;
    memset(out, 0, want);
    memcpy(out, *p, k);
    *p += k, *n -= k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t secret[16], flags, addr[16];
    int64_t now;
    take(&data, &size, secret, 16);
    take(&data, &size, &flags, 1);
    take(&data, &size, addr, 16);
    take(&data, &size, &now, 8);
    if (flags & 2)
        now = (int64_t)((uint64_t)now & 0xFFFFFFFFFFull); /* near today's clock */
    size_t addrlen = flags & 1 ? 16 : 4;
    int64_t raw = now;
    now = cookies_clamp(now); /* what cookies_answer works with */
    const uint8_t *body = data;
    if (shared == NULL)
        shared = cookies_new(shared_secret, 8);
    FUZZ_CHECK(shared != NULL);
    gd_cookies *own = cookies_new(secret, 1);
    FUZZ_CHECK(own != NULL);
    for (int round = 0; round < 2; round++) {
        gd_cookies *c = round ? shared : own;
        const uint8_t *key = round ? shared_secret : secret;
        uint8_t out[GD_COOKIE_OPTION];
        int64_t expires = -1;
        int r = cookies_answer(c, body, size, addr, addrlen, raw, out, &expires);
        if (!cookies_well_formed(size)) {
            FUZZ_CHECK(r == GD_COOKIE_MALFORMED && expires == -1);
            continue;
        }
        FUZZ_CHECK(r == GD_COOKIE_NEW || r == GD_COOKIE_VALID || r == GD_COOKIE_INVALID);
        FUZZ_CHECK(out[0] == 0 && out[1] == 10 && out[2] == 0 && out[3] == 24);
        FUZZ_CHECK(memcmp(out + 4, body, 8) == 0);
        FUZZ_CHECK(out[12] == 1 && out[13] == 0 && out[14] == 0 && out[15] == 0);
        FUZZ_CHECK((r == GD_COOKIE_NEW) == (size == 8));
        if (round == 0) /* a memo of one slot made it now, for this client */
            FUZZ_CHECK(r != GD_COOKIE_INVALID ||
                       !cookies_valid(key, body, size, addr, addrlen, now));
        /* what we hand out is valid now and until it expires */
        FUZZ_CHECK(cookies_valid(key, out + 4, 24, addr, addrlen, now));
        /* a valid one presented is valid by the hash, or is the one we hold */
        if (r == GD_COOKIE_VALID)
            FUZZ_CHECK(size == 24 && (cookies_valid(key, body, size, addr, addrlen, now) ||
                                      memcmp(body + 8, out + 12, 16) == 0));
        FUZZ_CHECK(expires >= now && expires <= now + GD_COOKIE_FRESH_FOR);
    }
    /* the uncounted variant gives the same answer and leaves the counters alone */
    uint64_t before[4], after[4];
    cookies_counts(own, before);
    uint8_t o1[GD_COOKIE_OPTION], o2[GD_COOKIE_OPTION];
    int r1 = cookies_answer_uncounted(own, body, size, addr, addrlen, raw, o1, NULL);
    cookies_counts(own, after);
    FUZZ_CHECK(memcmp(before, after, sizeof before) == 0);
    int r2 = cookies_answer(own, body, size, addr, addrlen, raw, o2, NULL);
    FUZZ_CHECK(r1 == r2 && (r1 == GD_COOKIE_MALFORMED || memcmp(o1, o2, sizeof o1) == 0));
    cookies_count(own, r1);
    cookies_counts(own, after);
    FUZZ_CHECK(r1 < 0 || r1 > 3 || after[r1] == before[r1] + (r1 == GD_COOKIE_MALFORMED ? 1 : 2));
    cookies_free(own);
    /* the pure parts on the same bytes */
    uint32_t ts = 0;
    memcpy(&ts, secret, 4);
    int64_t a = cookies_age(ts, now);
    FUZZ_CHECK(a >= -(int64_t)0x80000000 && a < (int64_t)0x80000000);
    FUZZ_CHECK((uint32_t)((uint64_t)now - (uint64_t)a) == ts);
    uint8_t le[8];
    common_sip_store_le(common_siphash24(secret, body, size), le);
    uint64_t back = 0;
    for (int i = 0; i < 8; i++)
        back |= (uint64_t)le[i] << (8 * i);
    FUZZ_CHECK(back == common_siphash24(secret, body, size));
    return 0;
}
