/* What the native threads observe of each answer they send: the receive-to-send time and
   the request and response sizes as histograms with fixed buckets (the bounds of
   geodns/dns/stats.py, read by Python from the extension and checked by a test), and the
   GeoIP class lookups. One per thread: only that thread writes (plain loads and stores, no
   locked instruction), Python sums them when a worker reports its counters. */
#ifndef SERVE_OBSERVE_H
#define SERVE_OBSERVE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SERVE_LAT_BOUNDS 10  /* stats.BUCKETS, in ns */
#define SERVE_SIZE_BOUNDS 14 /* stats.SIZE_BUCKETS (CoreDNS's), in bytes */

extern const uint64_t serve_latency_bounds[SERVE_LAT_BOUNDS];
extern const uint32_t serve_size_bounds[SERVE_SIZE_BOUNDS];

typedef struct {
    _Atomic uint64_t lat[SERVE_LAT_BOUNDS + 1]; /* the last: over every bound (+Inf) */
    _Atomic uint64_t lat_ns;                    /* their sum */
    _Atomic uint64_t req[SERVE_SIZE_BOUNDS + 1], resp[SERVE_SIZE_BOUNDS + 1];
    _Atomic uint64_t req_bytes, resp_bytes;
    _Atomic uint64_t geo; /* policy classes found by address (counted as GeoIP cache hits) */
} serve_obs;

/* Add n to a counter only this thread writes: no locked instruction. */
static inline void serve_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* The bucket of a size: the first bound it does not exceed. */
static inline int serve_size_bucket(size_t n)
{
    int i = 0;
    while (i < SERVE_SIZE_BOUNDS && n > serve_size_bounds[i])
        i++;
    return i;
}

/* One answer's request and response sizes. */
static inline void serve_sizes(serve_obs *o, size_t req, size_t resp)
{
    serve_add(&o->req[serve_size_bucket(req)], 1);
    serve_add(&o->resp[serve_size_bucket(resp)], 1);
    serve_add(&o->req_bytes, req);
    serve_add(&o->resp_bytes, resp);
}

/* n answers that each took ns from receive to send. */
void serve_latency(serve_obs *o, uint64_t ns, uint64_t n);

#endif
