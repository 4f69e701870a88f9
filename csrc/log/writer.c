/* The query log's writer thread: drains every producer's ring in turn, writes the log
   lines (to a pipe in chunks of whole lines no bigger than PIPE_BUF, so a line is never
   split by the Python logger writing to the same stderr; to a file in 64 KiB) and the
   dnstap frames to its socket. It alone
   blocks on I/O; the answering threads only ever find a ring full (a counted drop). The
   dnstap socket is connected (Frame Streams bidirectional handshake) at start and again
   every second while it is gone; frames meanwhile are counted lost. */
#include "log/log.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define TAP_BUF (256u << 10)

#define TEXT_BUF (64u << 10)

typedef struct {
    log_writer *w;
    uint8_t text[TEXT_BUF];
    size_t ntext, chunk; /* PIPE_BUF to a pipe or socket (whole lines); more to a file */
    uint8_t *tap;
    size_t ntap;
    int64_t stamp_sec;
    uint32_t stamp_ms;
    char stamp[32];
    double next_try;
} wstate;

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const uint8_t *p, size_t n, int sock)
{
    while (n) {
        ssize_t r = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Read until buf holds one whole control frame of `type`; 0, or -1 (timeout, other). */
static int read_control(int fd, uint32_t type)
{
    uint8_t buf[600];
    size_t n = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 2000) <= 0)
            return -1;
        ssize_t r = recv(fd, buf + n, sizeof buf - n, 0);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        int ok = log_fs_is_control(buf, n, type);
        if (ok)
            return ok > 0 ? 0 : -1;
    }
}

static void tap_close(log_writer *w)
{
    if (w->tap >= 0)
        close(w->tap);
    w->tap = -1;
}

/* Connect and shake hands: READY -> ACCEPT, then START. */
static void tap_connect(wstate *s)
{
    log_writer *w = s->w;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(w->path) >= sizeof sa.sun_path)
        return;
    strcpy(sa.sun_path, w->path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    uint8_t ctl[64];
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        write_all(fd, ctl, log_fs_control(LOG_FS_READY, 1, ctl), 1) < 0 ||
        read_control(fd, LOG_FS_ACCEPT) < 0 ||
        write_all(fd, ctl, log_fs_control(LOG_FS_START, 1, ctl), 1) < 0) {
        close(fd);
        return;
    }
    w->tap = fd;
    atomic_fetch_add(&w->tap_connects, 1);
}

static void flush_text(wstate *s)
{
    if (s->ntext && s->w->fd >= 0)
        (void)write_all(s->w->fd, s->text, s->ntext, 0); /* a closed stderr: lines lost */
    s->ntext = 0;
}

static void flush_tap(wstate *s)
{
    log_writer *w = s->w;
    if (s->ntap && w->tap >= 0 && write_all(w->tap, s->tap, s->ntap, 1) < 0) {
        tap_close(w); /* the reader went away: connect again later */
        s->next_try = now_mono() + 1.0;
    }
    s->ntap = 0;
}

static void text(wstate *s, const log_head *h)
{
    uint8_t line[LOG_LINE_MAX];
    int64_t sec = h->sec;
    uint32_t ms = h->nsec / 1000000;
    if (sec != s->stamp_sec || ms != s->stamp_ms) {
        log_stamp(&s->w->style, sec, h->nsec, s->stamp);
        s->stamp_sec = sec;
        s->stamp_ms = ms;
    }
    size_t n = log_line(&s->w->style, h, s->stamp, line);
    if (n > s->chunk - s->ntext)
        flush_text(s);
    if (n > s->chunk) { /* a line longer than PIPE_BUF: on its own */
        if (s->w->fd >= 0)
            (void)write_all(s->w->fd, line, n, 0);
        return;
    }
    memcpy(s->text + s->ntext, line, n);
    s->ntext += n;
}

static void tap(wstate *s, const log_head *h)
{
    log_writer *w = s->w;
    if (w->tap < 0) {
        atomic_fetch_add_explicit(&w->tap_lost, 1, memory_order_relaxed);
        return;
    }
    size_t need = 2 * ((size_t)h->qlen + h->rlen + 200);
    if (need > TAP_BUF - s->ntap)
        flush_tap(s);
    size_t n = log_dnstap(h, w->identity, w->identity_len, s->tap + s->ntap, TAP_BUF - s->ntap);
    if (n == 0) {
        atomic_fetch_add_explicit(&w->tap_lost, 1, memory_order_relaxed);
        return;
    }
    s->ntap += n;
    atomic_fetch_add_explicit(&w->tapped, 1, memory_order_relaxed);
}

/* Every record now in the rings, written; how many. */
static size_t drain(wstate *s)
{
    log_writer *w = s->w;
    size_t done = 0;
    for (int i = 0; i < w->nrings; i++) {
        log_ring *r = &w->rings[i];
        const log_head *h;
        for (int k = 0; k < 4096 && (h = log_ring_peek(r)) != NULL; k++) {
            if ((h->flags & LOG_TEXT) && w->fd >= 0)
                text(s, h);
            if ((h->flags & LOG_DNSTAP) && w->path != NULL)
                tap(s, h);
            log_ring_release(r, h);
            done++;
        }
    }
    flush_text(s);
    flush_tap(s);
    atomic_fetch_add_explicit(&w->written, done, memory_order_relaxed);
    return done;
}

static void *run(void *arg)
{
    wstate *s = arg;
    log_writer *w = s->w;
    pthread_setname_np(pthread_self(), "geodns-log");
    long idle_us = 1000;
    for (;;) {
        int stopping = atomic_load(&w->stop);
        if (w->path != NULL && w->tap < 0 && now_mono() >= s->next_try) {
            tap_connect(s);
            if (w->tap < 0)
                s->next_try = now_mono() + 1.0;
        }
        size_t done = drain(s);
        if (stopping && done == 0)
            break;
        if (done >= 1024) /* busy: straight on */
            continue;
        /* a few records: wait a little for more, so a write carries many lines (a ring
           holds far more than a millisecond of answers) */
        idle_us = done ? 1000 : (idle_us < 20000 ? idle_us + 1000 : idle_us);
        struct timespec ts = {0, idle_us * 1000};
        nanosleep(&ts, NULL);
    }
    if (w->tap >= 0) { /* STOP, then wait (a little) for FINISH */
        uint8_t ctl[64];
        if (write_all(w->tap, ctl, log_fs_control(LOG_FS_STOP, 0, ctl), 1) == 0)
            (void)read_control(w->tap, LOG_FS_FINISH);
        tap_close(w);
    }
    free(s->tap);
    free(s);
    return NULL;
}

int log_writer_start(log_writer *w)
{
    wstate *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    s->w = w;
    s->stamp_sec = -1;
    struct stat st;
    s->chunk = w->fd >= 0 && fstat(w->fd, &st) == 0 && S_ISREG(st.st_mode) ? TEXT_BUF : PIPE_BUF;
    s->tap = malloc(TAP_BUF);
    if (s->tap == NULL) {
        free(s);
        return -1;
    }
    w->tap = -1;
    atomic_store(&w->stop, 0);
    int err = pthread_create(&w->tid, NULL, run, s);
    if (err) {
        free(s->tap);
        free(s);
        errno = err;
        return -1;
    }
    w->running = 1;
    return 0;
}

void log_writer_stop(log_writer *w)
{
    if (!w->running)
        return;
    atomic_store(&w->stop, 1);
    pthread_join(w->tid, NULL);
    w->running = 0;
}
