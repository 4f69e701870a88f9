/* The Server object of geodns._native, shared by its threads (csrc/serve/udp.c) and its
   Python methods (csrc/py/server.c). */
#ifndef GN_FASTNETSRV_H
#define GN_FASTNETSRV_H

#include "answer/answer.h"

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
    uint8_t *in, *out;
    size_t out_cap;
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
} gn_server;

void *serve_thread(void *arg);

#endif
