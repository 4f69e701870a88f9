/* The query log of the native engine (docs/reference.md, log.queries): each answering
   thread pushes one record per answer into its own single-producer ring, never waiting;
   one writer thread drains every ring and writes the log lines (text or JSON, the Python
   path's format) and, when asked, dnstap (Frame Streams + protobuf) to a unix socket. */
#ifndef LOG_LOG_H
#define LOG_LOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_TEXT 1   /* a record wants a log line */
#define LOG_DNSTAP 2 /* ... and dnstap frames */
#define LOG_UDP 0
#define LOG_TCP 1
#define LOG_RING_BYTES (4u << 20) /* per producer: ~20k answers of 200 bytes */
#define LOG_MAX_RINGS 17          /* 16 threads + the event loop's */

/* A record's fixed part; the query, the response, the zone and the pool texts follow. */
typedef struct {
    uint32_t len;        /* the whole record, padded to 8 */
    uint16_t qlen, rlen; /* query and response bytes that follow */
    uint8_t flags;       /* LOG_TEXT | LOG_DNSTAP */
    uint8_t transport;   /* LOG_UDP, LOG_TCP */
    uint8_t family;      /* 4 or 6 */
    uint8_t zlen;        /* the zone's text (0: none) */
    uint8_t plen;        /* the pool's text (0: none) */
    uint8_t path;        /* 0: native, 1: python */
    uint16_t port;       /* the client's */
    uint16_t lport;      /* ours */
    uint16_t spare;
    uint8_t addr[16], laddr[16]; /* network order; IPv4 in the first 4 */
    int64_t sec;                 /* receive time (wall clock) */
    uint32_t nsec;
    uint32_t spare2;
    uint64_t ns; /* receive to send */
} log_head;

/* One producer's ring of variable-length records (bytes; a record never wraps: a head of
   len 0 means "go back to the start"). head is the producer's, tail the writer's. */
typedef struct {
    _Atomic uint64_t head;
    char pad1[56];
    _Atomic uint64_t tail;
    char pad2[56];
    _Atomic uint64_t dropped; /* records that found the ring full */
    uint64_t tail_seen;       /* producer's copy of tail */
    uint8_t *buf;
    size_t cap; /* a power of two */
} log_ring;

/* The texts the log names answers by: zone i, and pool p of policy slot s. Built by Python
   with each native table (csrc/py/qlog.c), freed with it. */
typedef struct log_names {
    uint32_t nzones, nslots, npools;
    uint32_t *zone;  /* nzones + 1 offsets into text */
    uint32_t *first; /* nslots + 1: slot s's pools are first[s] .. first[s + 1] - 1 */
    uint32_t *pool;  /* npools + 1 offsets into text */
    char *text;
} log_names;

/* What the writer formats with: type and rcode mnemonics (wire.TYPE_TEXT, RCODE_TEXT). */
typedef struct {
    char types[256][12]; /* qtype < 256 with a mnemonic; others TYPE<n> */
    char wide[8][12];    /* a few types above 255 */
    uint16_t wide_code[8];
    char rcodes[32][12];
    int json;
    unsigned max_v4, max_v6; /* ecs.max_source_v4/v6: the ECS client as Python logs it */
} log_style;

typedef struct log_writer {
    log_ring rings[LOG_MAX_RINGS];
    int nrings;
    int fd;     /* log lines (stderr), -1: none */
    char *path; /* the dnstap socket, NULL: none */
    int tap;    /* connected dnstap socket, -1 */
    uint8_t *identity;
    size_t identity_len;
    log_style style;
    pthread_t tid;
    int running;
    _Atomic int stop;
    _Atomic uint64_t written, tapped, tap_lost, tap_connects;
} log_writer;

/* csrc/log/ring.c */
int log_ring_init(log_ring *r, size_t cap);
void log_ring_free(log_ring *r);
/* Reserve room for a record of len bytes (len % 8 == 0): where to write it, or NULL (the
   ring is full: counted as dropped). log_ring_commit publishes it. */
uint8_t *log_ring_reserve(log_ring *r, size_t len);
void log_ring_commit(log_ring *r, size_t len);
/* The oldest record (its head), or NULL; log_ring_release gives its room back. */
const log_head *log_ring_peek(log_ring *r);
void log_ring_release(log_ring *r, const log_head *h);
/* Push one record: the head (len filled in here) then its parts; 0, or -1 when full. */
int log_push(log_ring *r, log_head *h, const uint8_t *q, const uint8_t *resp, const char *zone,
             const char *pool);

/* csrc/log/names.c */
log_names *log_names_new(uint32_t nzones, uint32_t nslots, uint32_t npools, size_t text);
void log_names_free(log_names *n);
/* The zone's and pool's texts of an answer (counter keys of answer.h), with their lengths. */
const char *log_zone(const log_names *n, uint32_t zone, size_t *len);
const char *log_pool(const log_names *n, uint32_t slot, uint32_t pool, size_t *len);

/* csrc/log/line.c: the log line of a record into out (cap >= LOG_LINE_MAX): its length. */
#define LOG_LINE_MAX 2048
size_t log_line(const log_style *st, const log_head *h, const char *stamp, uint8_t *out);
/* The wall-clock stamp of a line ("2026-01-02 03:04:05,678" or the JSON ts), into out[32]. */
void log_stamp(const log_style *st, int64_t sec, uint32_t nsec, char *out);

/* csrc/log/dnstap.c: one record's two dnstap frames (AUTH_QUERY, AUTH_RESPONSE) in Frame
   Streams framing into out (cap bytes): their length, 0 when they do not fit. */
size_t log_dnstap(const log_head *h, const uint8_t *identity, size_t idlen, uint8_t *out,
                  size_t cap);
/* A Frame Streams control frame (READY, START, STOP) with our content type: its length. */
#define LOG_FS_ACCEPT 1
#define LOG_FS_START 2
#define LOG_FS_STOP 3
#define LOG_FS_READY 4
#define LOG_FS_FINISH 5
size_t log_fs_control(uint32_t type, int with_content_type, uint8_t *out);
/* Whether buf[0..n) is one whole control frame of `type` (0: read more; -1: not it). */
int log_fs_is_control(const uint8_t *buf, size_t n, uint32_t type);

/* csrc/log/writer.c */
int log_writer_start(log_writer *w);
void log_writer_stop(log_writer *w);

#endif
