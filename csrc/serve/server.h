/* The Server object of geodns._native, shared by its threads (csrc/serve/udp.c) and its
   Python methods (csrc/py/server.c). */
#ifndef GN_FASTNETSRV_H
#define GN_FASTNETSRV_H

#include "answer/answer.h"
#include "log/log.h"
#include "serve/observe.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define BATCH 32
#define RECV_SIZE 65536 /* any UDP datagram whole */
#define MAX_FDS 8
#define MAX_THREADS 16
/* counter keys per thread: (zone, qtype, rcode), (name, pool), actions */
#define COUNT_SLOTS 65536
#define COUNT_PROBES 64
#define IDLE UINT64_MAX

typedef struct {
    size_t len;
    int fd_index;
    socklen_t addrlen;
    struct sockaddr_storage addr;
    uint8_t data[];
} gn_queued;

struct gn_server;

typedef struct {
    struct gn_server *s;
    pthread_t tid;
    _Atomic uint64_t seen; /* the epoch this thread read, or IDLE */
    _Atomic uint64_t keys[COUNT_SLOTS];
    _Atomic uint64_t counts[COUNT_SLOTS];
    _Atomic uint64_t answered, handed;
    _Atomic uint64_t truncated; /* replies sent with TC (too large, or an RRL slip) */
    uint8_t *in, *out;
    size_t out_cap;
    /* observe: histograms, and the query log ring (NULL: off) this thread pushes to */
    serve_obs obs;
    log_ring *ring;
    uint64_t rng; /* the query log's sample draw */
} gn_thread;

typedef struct gn_server {
    _Atomic(gn_table *) cur;
    _Atomic(gn_decisions *) dec;
    gd_cookies *cookies; /* the worker's server cookies, shared with its Python handler */
    gd_rrl *rrl;         /* the worker's RRL accounts, shared likewise (NULL: off) */
    _Atomic uint64_t epoch;
    int fds[MAX_FDS];
    int nfds;
    int stopfd, wakefd;
    gn_thread *th;
    int nthreads, running;
    pthread_mutex_t qlock;
    gn_queued **ring;
    size_t qhead, qlen, qcap;
    _Atomic uint64_t dropped;
    /* observe: the query log (csrc/log/), set before start; our address per socket */
    log_writer *log;
    uint8_t log_flags;   /* LOG_TEXT | LOG_DNSTAP */
    uint32_t log_sample; /* a query is logged when its draw is below (UINT32_MAX: all) */
    struct sockaddr_storage local[MAX_FDS];
} gn_server;

void *serve_thread(void *arg);

/* csrc/serve/logq.c: a batch's sent answers into the thread's query log ring */
typedef struct {
    const uint8_t *q, *r;
    size_t qn, rn;
    const struct sockaddr_storage *addr;
    uint64_t ckey, pkey;
} serve_sent;
void serve_log_sent(gn_thread *th, const gn_table *t, int fdi, const serve_sent *sent, int k,
                    const struct timespec *wall, uint64_t ns);

#endif
