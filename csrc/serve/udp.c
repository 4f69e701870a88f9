/* Native serving: threads that own a worker's UDP sockets, receive and send in batches
   (recvmmsg/sendmmsg) without the GIL, answer what the table holds, and queue the rest
   (with its source) for the Python handler, woken through an eventfd.

   The table is swapped whole (set_table) with an epoch scheme: a thread publishes the
   epoch it read before it loads the table pointer and "idle" before it blocks, so an old
   table is released once every thread is idle or has read a later epoch; the read path
   takes no lock. */
#define PY_SSIZE_T_CLEAN
#include "serve/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The counter slot of key in this thread's map (taken now if new), or -1 when there is
   no room near it. Only this thread writes keys; Python reads them (counts()). */
static long slot_of(gn_thread *th, uint64_t key)
{
    size_t at = (size_t)(key * 0x9E3779B97F4A7C15ull >> 40) & (COUNT_SLOTS - 1);
    for (size_t i = 0; i < COUNT_PROBES; i++, at = (at + 1) & (COUNT_SLOTS - 1)) {
        uint64_t k = atomic_load_explicit(&th->keys[at], memory_order_acquire);
        if (k == 0) {
            atomic_store_explicit(&th->counts[at], 0, memory_order_relaxed);
            atomic_store_explicit(&th->keys[at], key, memory_order_release);
            return (long)at;
        }
        if (k == key)
            return (long)at;
    }
    return -1;
}

static void bump(gn_thread *th, long slot)
{
    atomic_fetch_add_explicit(&th->counts[slot], 1, memory_order_relaxed);
}

/* Count an answer under its query key and (a policy's) pool key, both or neither: 0, or
   -1 when there is no room (Python answers and counts it). */
static int count(gn_thread *th, uint64_t ckey, uint64_t pkey)
{
    long c = slot_of(th, ckey), p = pkey ? slot_of(th, pkey) : 0;
    if (c < 0 || p < 0)
        return -1;
    bump(th, c);
    if (pkey)
        bump(th, p);
    return 0;
}

/* Queue one datagram for Python; wake it when the queue was empty. */
static void hand_over(gn_server *s, int fdi, const uint8_t *d, size_t n,
                      const struct sockaddr_storage *addr, socklen_t alen)
{
    gn_queued *item = malloc(sizeof *item + n);
    if (item == NULL) {
        atomic_fetch_add(&s->dropped, 1);
        return;
    }
    item->len = n;
    item->fd_index = fdi;
    item->addrlen = alen;
    memcpy(&item->addr, addr, alen <= sizeof item->addr ? alen : sizeof item->addr);
    memcpy(item->data, d, n);
    pthread_mutex_lock(&s->qlock);
    int was_empty = s->qlen == 0, full = s->qlen == s->qcap;
    if (!full)
        s->ring[(s->qhead + s->qlen++) % s->qcap] = item;
    pthread_mutex_unlock(&s->qlock);
    if (full) {
        free(item);
        atomic_fetch_add(&s->dropped, 1);
        return;
    }
    if (was_empty) {
        uint64_t one = 1;
        ssize_t w = write(s->wakefd, &one, sizeof one);
        (void)w; /* EAGAIN: the counter is already non-zero, Python will wake */
    }
}

/* The packet's source as a decision sees it: IPv4-mapped IPv6 is IPv4 (ecs.from_source). */
static int source_of(const struct sockaddr_storage *a, gn_source *src)
{
    if (a->ss_family == AF_INET) {
        src->family = 4;
        memcpy(src->addr, &((const struct sockaddr_in *)a)->sin_addr, 4);
        return 1;
    }
    if (a->ss_family != AF_INET6)
        return 0;
    const uint8_t *v6 = (const uint8_t *)&((const struct sockaddr_in6 *)a)->sin6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (memcmp(v6, mapped, 12) == 0) {
        src->family = 4;
        memcpy(src->addr, v6 + 12, 4);
    } else {
        src->family = 6;
        memcpy(src->addr, v6, 16);
    }
    return 1;
}

/* One batch from one socket: answered replies go out in one sendmmsg. 0: the socket may
   hold more; -1: it is empty (or failing). */
static int serve_batch(gn_thread *th, int fdi)
{
    gn_server *s = th->s;
    int fd = s->fds[fdi];
    struct mmsghdr msgs[BATCH], outs[BATCH];
    struct iovec iov[BATCH], oiov[BATCH];
    struct sockaddr_storage addrs[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = th->in + (size_t)i * RECV_SIZE;
        iov[i].iov_len = RECV_SIZE;
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &addrs[i];
        msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
    }
    int got = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (got <= 0)
        return -1;
    struct timespec t0, t1, wall; /* observe: receive to send, and the wall clock to log */
    serve_sent sent[BATCH];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (th->ring != NULL)
        clock_gettime(CLOCK_REALTIME, &wall);
    const gn_table *t = atomic_load(&s->cur);
    const gn_decisions *dec = atomic_load(&s->dec);
    gn_source src = {.cookies = s->cookies, .now = (int64_t)time(NULL)};
    double mono = 0.0; /* read once a batch, when RRL needs it */
    int k = 0;
    for (int i = 0; i < got; i++) {
        const uint8_t *d = iov[i].iov_base;
        size_t n = msgs[i].msg_len;
        uint8_t *out = th->out + (size_t)k * th->out_cap;
        uint64_t ckey = 0, pkey = 0;
        size_t len = 0;
        if (t != NULL && source_of(&addrs[i], &src))
            len = answer_reply(t, dec, &src, d, n, out, th->out_cap, &ckey, &pkey);
        if (len && count(th, ckey, pkey) == 0) {
            if (s->rrl != NULL) { /* spent from the accounts the Python handler uses too */
                uint64_t akey = 0;
                if (mono == 0.0) {
                    struct timespec ts;
                    clock_gettime(CLOCK_MONOTONIC, &ts);
                    mono = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
                }
                len = rrl_limit(t, s->rrl, &src, d, n, out, len, ckey, mono, &akey);
                long a = akey ? slot_of(th, akey) : -1;
                if (a >= 0) /* no room: uncounted (the answer is spent already) */
                    bump(th, a);
                if (!len)
                    continue; /* dropped */
            }
            if (out[2] & 0x02) /* TC: stats.truncated, as UdpProtocol counts */
                serve_add(&th->truncated, 1);
            oiov[k].iov_base = out;
            oiov[k].iov_len = len;
            memset(&outs[k].msg_hdr, 0, sizeof outs[k].msg_hdr);
            outs[k].msg_hdr.msg_iov = &oiov[k];
            outs[k].msg_hdr.msg_iovlen = 1;
            outs[k].msg_hdr.msg_name = &addrs[i];
            outs[k].msg_hdr.msg_namelen = msgs[i].msg_hdr.msg_namelen;
            sent[k] = (serve_sent){d, out, n, len, &addrs[i], ckey, pkey}; /* observe */
            k++;
        } else {
            hand_over(s, fdi, d, n, &addrs[i], msgs[i].msg_hdr.msg_namelen);
            atomic_fetch_add_explicit(&th->handed, 1, memory_order_relaxed);
        }
    }
    atomic_fetch_add_explicit(&th->answered, (uint64_t)k, memory_order_relaxed);
    for (int done = 0; done < k;) {
        int r = sendmmsg(fd, outs + done, (unsigned)(k - done), MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        done += r > 0 ? r : 1; /* a reply the kernel refuses is lost, as asyncio's would be */
    }
    if (k) { /* observe: every answer sent, timed from the batch's receive */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        uint64_t ns =
            (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)(t1.tv_nsec - t0.tv_nsec);
        serve_latency(&th->obs, ns, (uint64_t)k);
        for (int j = 0; j < k; j++)
            serve_sizes(&th->obs, sent[j].qn, sent[j].rn);
        if (th->ring != NULL)
            serve_log_sent(th, t, fdi, sent, k, &wall, ns);
    }
    serve_add(&th->obs.geo, src.geo);
    return 0; /* more may have come meanwhile: try again before poll() */
}

void *serve_thread(void *arg)
{
    gn_thread *th = arg;
    gn_server *s = th->s;
    pthread_setname_np(pthread_self(), "geodns-udp"); /* ps -L, /proc/PID/task/TID/comm */
    struct pollfd pfd[MAX_FDS + 1];
    for (int i = 0; i < s->nfds; i++)
        pfd[i] = (struct pollfd){.fd = s->fds[i], .events = POLLIN};
    pfd[s->nfds] = (struct pollfd){.fd = s->stopfd, .events = POLLIN};
    for (;;) {
        atomic_store(&th->seen, IDLE);
        int r = poll(pfd, (nfds_t)s->nfds + 1, -1);
        if (r < 0 && errno != EINTR)
            break;
        if (pfd[s->nfds].revents)
            break;
        atomic_store(&th->seen, atomic_load(&s->epoch));
        for (int i = 0; i < s->nfds; i++) {
            if (!pfd[i].revents)
                continue;
            for (int b = 0; b < 64 && serve_batch(th, i) == 0; b++) {
            }
        }
    }
    atomic_store(&th->seen, IDLE);
    return NULL;
}
