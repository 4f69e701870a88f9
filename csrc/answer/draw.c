/* The weighted random draw: k uniform in [0, 2^53) (splitmix64), the outcome the first
   whose cumulative bound is above k. The bounds are where Python's draw (random() times the
   weights' sum, less each weight in turn) changes its pick, found ahead by the Python side:
   the two give each outcome exactly the same probability. */
#include "answer/pick.h"

#include <time.h>

static _Thread_local uint64_t own;

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t answer_draw_next(uint64_t *state)
{
    if (state == NULL) {
        if (own == 0) { /* a thread's first draw: its own sequence */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            own = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^ (uint64_t)(uintptr_t)&own;
            own |= 1;
        }
        state = &own;
    }
    return splitmix(state) >> (64 - GN_DRAW_BITS);
}

uint32_t answer_draw_pick(const gn_pick *p, uint32_t n, uint64_t k)
{
    for (uint32_t i = 0; i + 1 < n; i++)
        if (k < p[i].bound)
            return i;
    return n ? n - 1 : 0;
}
