/* The histogram bounds of the native threads' counters (csrc/serve/observe.h): the very
   bounds geodns/dns/stats.py exports with, so Python adds the two bucket by bucket. */
#include "serve/observe.h"

/* stats.BUCKETS (seconds) in ns */
const uint64_t serve_latency_bounds[SERVE_LAT_BOUNDS] = {
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 50000000, 250000000,
};

/* stats.SIZE_BUCKETS: CoreDNS's request/response size buckets */
const uint32_t serve_size_bounds[SERVE_SIZE_BOUNDS] = {
    0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000,
};

void serve_latency(serve_obs *o, uint64_t ns, uint64_t n)
{
    int i = 0;
    while (i < SERVE_LAT_BOUNDS && ns > serve_latency_bounds[i])
        i++;
    serve_add(&o->lat[i], n);
    serve_add(&o->lat_ns, ns * n);
}
