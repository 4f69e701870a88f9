/* A single-producer, single-consumer ring of variable-length records: the answering thread
   reserves, writes and commits (one release store); the writer peeks and releases. Never a
   lock, never a wait: a record that does not fit is dropped and counted. */
#include "log/log.h"

#include <stdlib.h>
#include <string.h>

int log_ring_init(log_ring *r, size_t cap)
{
    memset(r, 0, sizeof *r);
    r->buf = malloc(cap);
    if (r->buf == NULL)
        return -1;
    r->cap = cap;
    return 0;
}

void log_ring_free(log_ring *r)
{
    free(r->buf);
    r->buf = NULL;
}

/* Room for len bytes at the producer's position; a record that would cross the end starts
   over at 0, the rest of the end marked by a zero length. */
uint8_t *log_ring_reserve(log_ring *r, size_t len)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t at = (size_t)(head & (r->cap - 1)), room_end = r->cap - at;
    size_t need = len + (room_end < len + sizeof(uint32_t) ? room_end : 0);
    if (len > r->cap / 4)
        goto full;
    if (r->cap - (head - r->tail_seen) < need + sizeof(uint32_t)) {
        r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (r->cap - (head - r->tail_seen) < need + sizeof(uint32_t))
            goto full;
    }
    if (need != len) { /* wrap: mark the end, start at 0 */
        memset(r->buf + at, 0, sizeof(uint32_t));
        atomic_store_explicit(&r->head, head + room_end, memory_order_release);
        at = 0;
    }
    return r->buf + at;
full:
    atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
    return NULL;
}

void log_ring_commit(log_ring *r, size_t len)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    atomic_store_explicit(&r->head, head + len, memory_order_release);
}

const log_head *log_ring_peek(log_ring *r)
{
    for (;;) {
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        if (head == tail)
            return NULL;
        size_t at = (size_t)(tail & (r->cap - 1));
        uint32_t len;
        memcpy(&len, r->buf + at, sizeof len);
        if (len != 0)
            return (const log_head *)(r->buf + at);
        /* the end marker: skip to the start */
        atomic_store_explicit(&r->tail, tail + (r->cap - at), memory_order_release);
    }
}

void log_ring_release(log_ring *r, const log_head *h)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    atomic_store_explicit(&r->tail, tail + h->len, memory_order_release);
}

int log_push(log_ring *r, log_head *h, const uint8_t *q, const uint8_t *resp, const char *zone,
             const char *pool)
{
    size_t body = (size_t)h->qlen + h->rlen + h->zlen + h->plen;
    size_t len = (sizeof *h + body + 7) & ~(size_t)7;
    uint8_t *at = log_ring_reserve(r, len);
    if (at == NULL)
        return -1;
    h->len = (uint32_t)len;
    memcpy(at, h, sizeof *h);
    uint8_t *p = at + sizeof *h;
    memcpy(p, q, h->qlen);
    p += h->qlen;
    memcpy(p, resp, h->rlen);
    p += h->rlen;
    memcpy(p, zone, h->zlen);
    p += h->zlen;
    memcpy(p, pool, h->plen);
    log_ring_commit(r, len);
    return 0;
}
