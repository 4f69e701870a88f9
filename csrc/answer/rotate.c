/* max_answers rotation: N records of a pool's healthy ones from a start that counts up per
   answer, wrapping (table.PolicyAnswer.records: (up[start:] + up[:start])[:N]). */
#include "answer/pick.h"

#include <string.h>

size_t answer_rotate(uint8_t *out, size_t at, size_t cap, const uint8_t *recs, uint32_t n,
                     uint32_t len, uint32_t max, uint64_t start)
{
    if (at > cap)
        return cap + 1;
    if (n == 0)
        return at;
    uint32_t take = max < n ? max : n;
    uint32_t first = n > max ? (uint32_t)(start % n) : 0; /* all of them: as they are */
    size_t need = (size_t)take * len;
    if (at > cap || need > cap - at)
        return cap + 1;
    uint32_t head = n - first < take ? n - first : take; /* records before the wrap */
    memcpy(out + at, recs + (size_t)first * len, (size_t)head * len);
    memcpy(out + at + (size_t)head * len, recs, (size_t)(take - head) * len);
    return at + need;
}
