/* Fuzz the helpers around an RRL verdict (csrc/rrl/slip.c): any reply's account and
   any (query, reply) pair's slip, into a buffer of exactly the size it needs and into one
   byte less. Input: split (2, big endian) | query | reply | cookie option (the rest, when
   the split leaves any past a 2-byte reply-length field). */
#include <stdlib.h>
#include <string.h>

#include "rrl/rrl.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    size_t split = ((size_t)data[0] << 8 | data[1]) % (size - 1);
    const uint8_t *query = data + 2, *rest = data + 2 + split;
    size_t qlen = split, restlen = size - 2 - split;
    size_t rlen = restlen, clen = 0;
    if (restlen > 2) { /* the reply's length, then the cookie option after it */
        rlen = ((size_t)rest[0] << 8 | rest[1]) % (restlen - 1);
        rest += 2, restlen -= 2;
        clen = restlen - rlen;
    }
    const uint8_t *reply = rest, *cookie = rest + rlen;
    uint8_t q[GD_RRL_QUESTION_MAX];
    size_t n = rrl_question(reply, rlen, q);
    FUZZ_CHECK(n == 0 || (n >= 5 && n <= GD_RRL_QUESTION_MAX && 12 + n <= rlen));
    int kind = rrl_kind(reply, rlen);
    FUZZ_CHECK(kind >= GD_RRL_ANSWER && kind <= GD_RRL_ERROR);
    size_t cap = 12 + GD_RRL_QUESTION_MAX + 11 + clen;
    uint8_t *out = malloc(cap);
    FUZZ_CHECK(out != NULL);
    size_t got = rrl_slip(query, qlen, reply, rlen, 1232, clen ? cookie : NULL, clen, out, cap);
    if (qlen < 12 || rlen < 12 || clen > 0xFFFF) {
        FUZZ_CHECK(got == 0);
    } else {
        FUZZ_CHECK(got >= 12 && got <= cap && out[0] == query[0] && out[1] == query[1]);
        FUZZ_CHECK(got == 12 + (size_t)(out[5] ? n : 0) + (out[11] ? 11 + clen : 0));
        uint8_t *exact = malloc(got), *less = malloc(got - 1); /* exactly: ASan sees overruns */
        FUZZ_CHECK(exact != NULL && less != NULL);
        FUZZ_CHECK(rrl_slip(query, qlen, reply, rlen, 1232, clen ? cookie : NULL, clen, exact,
                            got) == got);
        FUZZ_CHECK(memcmp(exact, out, got) == 0);
        FUZZ_CHECK(rrl_slip(query, qlen, reply, rlen, 1232, clen ? cookie : NULL, clen, less,
                            got - 1) == 0);
        free(exact);
        free(less);
    }
    free(out);
    return 0;
}
