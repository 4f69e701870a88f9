/* Answers decided per query from plain data decided ahead (per health generation):
   a weighted random draw over cumulative bounds, a weighted rendezvous hash of the client
   network (sticky), and max_answers rotation. Plain C: no Python here. */
#ifndef GN_PICK_H
#define GN_PICK_H

#include <stddef.h>
#include <stdint.h>

#define GN_DRAW_BITS 53 /* a draw is k in [0, 2^53): what Python's random() is, k / 2^53 */

/* One outcome a class may pick. */
typedef struct {
    uint64_t bound;  /* draw: this outcome answers draws k < bound (bounds ascend) */
    double weight;   /* sticky: the candidate's weight */
    uint8_t key[16]; /* sticky: the candidate's hash key (policies/weighted.py keys) */
    uint32_t cls;    /* the outcome's class, in the decisions */
} gn_pick;

/* draw.c: the next draw k from the state (splitmix64, 53 bits); a NULL state uses the
   calling thread's own, seeded once from the clock. */
uint64_t answer_draw_next(uint64_t *state);
/* The index of the pick answering draw k (the last when k is past every bound). */
uint32_t answer_draw_pick(const gn_pick *p, uint32_t n, uint64_t k);

/* rendezvous.c: the sticky pick for a client network of len bytes (weights > 0). */
uint32_t answer_rendezvous(const gn_pick *p, uint32_t n, const uint8_t *net, size_t len);
/* (d + 1) / (2^64 + 1) rounded to the nearest double, as Python's int division gives it. */
double answer_unit(uint64_t d);

/* rotate.c: `max` of the `n` records (each `len` bytes) at recs, from record start % n on
   and wrapping, appended at out + at when they fit in cap; the length after them, or
   cap + 1 when they do not fit. */
size_t answer_rotate(uint8_t *out, size_t at, size_t cap, const uint8_t *recs, uint32_t n,
                     uint32_t len, uint32_t max, uint64_t start);

#endif
