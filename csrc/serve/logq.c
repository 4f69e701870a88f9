/* The native threads' side of the query log: after a batch is sent, one record per answer
   (sampled by log.query_sample) into this thread's ring, with the zone and pool texts of
   the table it was answered from. Never waits: a full ring drops the record (counted). */
#include "serve/server.h"

#include <netinet/in.h>
#include <string.h>

/* xorshift64*: the sample draw, per thread */
static uint32_t draw(gn_thread *th)
{
    uint64_t x = th->rng ? th->rng : 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)th;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    th->rng = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

static void address(const struct sockaddr_storage *a, uint8_t *family, uint8_t addr[16],
                    uint16_t *port)
{
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;
        *family = 4;
        memcpy(addr, &v4->sin_addr, 4);
        *port = ntohs(v4->sin_port);
    } else {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;
        *family = 6;
        memcpy(addr, &v6->sin6_addr, 16);
        *port = ntohs(v6->sin6_port);
    }
}

void serve_log_sent(gn_thread *th, const gn_table *t, int fdi, const serve_sent *sent, int k,
                    const struct timespec *wall, uint64_t ns)
{
    gn_server *s = th->s;
    log_head h;
    memset(&h, 0, sizeof h);
    h.flags = s->log_flags;
    h.transport = LOG_UDP;
    h.sec = wall->tv_sec;
    h.nsec = (uint32_t)wall->tv_nsec;
    h.ns = ns;
    address(&s->local[fdi], &h.family, h.laddr, &h.lport); /* a socket's peers: its family */
    for (int j = 0; j < k; j++) {
        const serve_sent *a = &sent[j];
        if (s->log_sample != UINT32_MAX && draw(th) >= s->log_sample)
            continue;
        size_t zlen = 0, plen = 0;
        const char *zone = "", *pool = "";
        if (a->ckey >> 32) /* GN_CKEY: zone index + 1 */
            zone = log_zone(t->log_names, (uint32_t)(a->ckey >> 32) - 1, &zlen);
        if (a->pkey >> 63) /* GN_PKEY: slot, pool */
            pool =
                log_pool(t->log_names, (uint32_t)(a->pkey >> 8), (uint32_t)(a->pkey & 0xFF), &plen);
        address(a->addr, &h.family, h.addr, &h.port);
        h.qlen = (uint16_t)a->qn;
        h.rlen = (uint16_t)a->rn;
        h.zlen = (uint8_t)(zlen > 255 ? 255 : zlen);
        h.plen = (uint8_t)(plen > 255 ? 255 : plen);
        (void)log_push(th->ring, &h, a->q, a->r, zone, pool);
    }
}
