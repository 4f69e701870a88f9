/* Fuzz the native query parser (geodns/_fastnetparse.c, helper NET's): any datagram. A
   query it accepts must point only inside the packet: the question, the ECS and COOKIE
   option bodies; the name lower-cased and ending in the root label. */
#include <string.h>

#include "../geodns/_fastnet.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gn_query q;
    memset(&q, 0xA5, sizeof q);
    (void)gn_ecs_valid(data, size);
    if (gn_parse(data, size, &q) != 0) return 0;
    FUZZ_CHECK(q.qend <= size && q.qend >= 12 + 1 + 4);
    FUZZ_CHECK(q.nlen >= 1 && q.nlen <= GN_MAX_NAME && q.lname[q.nlen - 1] == 0);
    for (size_t i = 0; i < q.nlen; i++) FUZZ_CHECK(q.lname[i] < 'A' || q.lname[i] > 'Z');
    FUZZ_CHECK(memcmp(q.key, q.lname, q.nlen) == 0);
    FUZZ_CHECK(q.variant < 4 && (q.opt == 0 || q.opt == 1));
    if (q.ecs != NULL) {
        FUZZ_CHECK(q.ecs >= data + q.qend && q.ecs + q.ecs_len <= data + size);
        (void)gn_ecs_valid(q.ecs, q.ecs_len);
    }
    if (q.cookie != NULL)
        FUZZ_CHECK(q.cookie >= data + q.qend && q.cookie + q.cookie_len <= data + size);
    if (!q.opt) FUZZ_CHECK(q.ecs == NULL && q.cookie == NULL && q.qend == size);
    return 0;
}
