/* The query log ring (csrc/log/ring.c) under ThreadSanitizer: one producer pushes numbered
   records of varying sizes as fast as it can (a full ring drops, as the answering thread's
   does), one consumer reads them; every record read is whole, in order, and what was
   pushed; pushed = read + dropped. Run by fuzz/run.sh with the other thread stresses. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"

#define RECORDS 2000000u

static log_ring ring;
static _Atomic int done;
static uint64_t pushed, read_n;

static void *produce(void *arg)
{
    (void)arg;
    uint8_t body[1200];
    for (uint32_t i = 0; i < RECORDS; i++) {
        log_head h = {0};
        h.qlen = (uint16_t)(8 + i % 700);
        h.rlen = (uint16_t)(i % 300);
        h.ns = i;
        memset(body, (int)(i & 0xFF), sizeof body);
        if (log_push(&ring, &h, body, body, "", "") == 0)
            pushed++;
    }
    atomic_store(&done, 1);
    return NULL;
}

static void *consume(void *arg)
{
    (void)arg;
    uint64_t last = 0;
    int first = 1;
    for (;;) {
        const log_head *h = log_ring_peek(&ring);
        if (h == NULL) {
            if (atomic_load(&done) && log_ring_peek(&ring) == NULL)
                break;
            continue;
        }
        uint32_t i = (uint32_t)h->ns;
        const uint8_t *b = (const uint8_t *)(h + 1);
        if ((!first && i <= last) || h->qlen != 8 + i % 700 || h->rlen != i % 300) {
            fprintf(stderr, "stress_ring: record %u out of order or torn\n", i);
            exit(1);
        }
        for (size_t k = 0; k < (size_t)h->qlen + h->rlen; k++)
            if (b[k] != (uint8_t)(i & 0xFF)) {
                fprintf(stderr, "stress_ring: record %u corrupt at %zu\n", i, k);
                exit(1);
            }
        first = 0;
        last = i;
        read_n++;
        log_ring_release(&ring, h);
    }
    return NULL;
}

int main(void)
{
    pthread_t p, c;
    if (log_ring_init(&ring, 1u << 16) < 0)
        return 1;
    pthread_create(&c, NULL, consume, NULL);
    pthread_create(&p, NULL, produce, NULL);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    uint64_t dropped = atomic_load(&ring.dropped);
    printf("stress_ring: %llu pushed, %llu read, %llu dropped\n", (unsigned long long)pushed,
           (unsigned long long)read_n, (unsigned long long)dropped);
    log_ring_free(&ring);
    return pushed == read_n && pushed + dropped == RECORDS && read_n > 0 ? 0 : 1;
}
