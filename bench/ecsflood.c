/* ecsflood: a small UDP DNS load generator for the mix dnsperf cannot make.
 *
 * Every query is "NAME TYPE" with an EDNS OPT carrying an ECS option (RFC 7871)
 * whose /24 client network cycles through N distinct public networks, so a geo
 * server has to look up (or cache) N different clients instead of one. One
 * thread, non-blocking connected UDP sockets, epoll, sendmmsg/recvmmsg batches.
 * Keeps C queries in flight, retries nothing, counts a query lost when it is not
 * answered within the timeout. Replies are matched by DNS ID through a per-slot
 * table (low bits = slot, high bits = generation, so a late reply for a reused
 * slot is not mistaken for the current query).
 *
 * The summary mimics dnsperf's, so the same awk reads both:
 *   Queries sent / Queries completed / Queries lost / Queries per second /
 *   Average Latency (s)
 * plus rcode counts, how many replies carried ECS with a non-zero scope (proof
 * that the server did geo work), and which A answers came back.
 *
 * Loopback only: the server must be in 127.0.0.0/8 or ::1 (workplace rule).
 *
 *   ecsflood -s 127.0.0.1 -p 5300 -n www.geo.example -t A -N 100000 -c 200 -l 10
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKS 64
#define BATCH 64      /* recvmmsg batch */
#define QBUF 512      /* one query */
#define RBUF 4096     /* one reply */
#define HIST_US 10    /* latency histogram bucket width (microseconds) */
#define HIST_N 200001 /* buckets: 0 .. 2 s, last one is overflow */
#define MAX_ANS 16    /* distinct A answers tracked */

struct slot {
    uint16_t id; /* full DNS ID of the query in flight */
    uint8_t busy;
    double sent;    /* monotonic seconds */
    int prev, next; /* in-flight list in send order (oldest first) */
};

static struct opts {
    const char *server, *name, *type;
    int port, nets, outstanding, socks, no_ecs, payload;
    double seconds, timeout;
} o = {"127.0.0.1", "www.geo.example", "A", 53, 100000, 200, 4, 0, 1232, 10.0, 1.0};

static struct stats {
    uint64_t sent, completed, lost, late, send_err, recv_err, malformed, truncated;
    uint64_t rcode[17]; /* 0..15, 16 = other (extended) */
    uint64_t ecs_reply, ecs_scope;
    double lat_sum, lat_min, lat_max;
    uint32_t ans_addr[MAX_ANS];
    uint64_t ans_count[MAX_ANS], ans_other, ans_none;
} st = {.lat_min = 1e9};

static uint32_t *hist;
static struct slot *slots;
static int head = -1, tail = -1; /* in-flight list */
static int *free_stack, free_top;
static unsigned slot_bits;
static uint16_t *gen;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *msg)
{
    fprintf(stderr, "ecsflood: %s\n", msg);
    exit(2);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ecsflood [-s host] [-p port] [-n name] [-t type] [-N networks]\n"
            "                [-c outstanding] [-k sockets] [-l seconds] [-T timeout] [-x]\n"
            "  -s server address, loopback only (127.0.0.0/8 or ::1; default 127.0.0.1)\n"
            "  -p port (default 53)\n"
            "  -n query name (default www.geo.example)\n"
            "  -t query type: A AAAA NS SOA CNAME MX TXT SRV CAA PTR ANY or a number (default A)\n"
            "  -N distinct ECS /24 client networks to cycle through (default 100000)\n"
            "  -c queries kept in flight (default 200)\n"
            "  -k UDP sockets (source ports) to spread them over (default 4, like dnsperf -c 4)\n"
            "  -l run time in seconds (default 10)\n"
            "  -T seconds before an unanswered query counts as lost (default 1)\n"
            "  -x plain queries: no EDNS, no ECS (like dnsperf without -e/-E)\n");
    exit(2);
}

static int qtype_of(const char *t)
{
    static const struct {
        const char *n;
        int v;
    } tab[] = {{"A", 1},    {"NS", 2},    {"CNAME", 5}, {"SOA", 6},   {"PTR", 12}, {"MX", 15},
               {"TXT", 16}, {"AAAA", 28}, {"SRV", 33},  {"ANY", 255}, {"CAA", 257}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcasecmp(t, tab[i].n))
            return tab[i].v;
    char *end;
    long v = strtol(t, &end, 10);
    if (*t && !*end && v > 0 && v < 65536)
        return (int)v;
    die("unknown query type");
    return 0;
}

/* Text name -> wire labels; returns length. */
static size_t encode_name(const char *name, uint8_t *out, size_t cap)
{
    size_t n = 0;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len == 0 || len > 63 || n + len + 2 > cap)
            die("bad query name");
        out[n++] = (uint8_t)len;
        memcpy(out + n, p, len);
        n += len;
        p += len;
        if (*p == '.')
            p++;
    }
    out[n++] = 0;
    if (n > 255)
        die("query name too long");
    return n;
}

/* The /24 networks, as the top three bytes of the address. A full-period linear
 * congruential walk over the 2^24 /24 indices (c odd, a = 1 mod 4) visits each
 * index once, so the first N accepted are distinct and spread over the space.
 * Non-public ranges are skipped: 0/8 10/8 100.64/10 127/8 169.254/16 172.16/12
 * 192.168/16 224/3. */
static int public_net(uint32_t idx)
{
    unsigned a = idx >> 16, b = (idx >> 8) & 0xff;
    if (a == 0 || a == 10 || a == 127 || a >= 224)
        return 0;
    if ((a == 100 && (b & 0xc0) == 64) || (a == 169 && b == 254) ||
        (a == 172 && (b & 0xf0) == 16) || (a == 192 && b == 168))
        return 0;
    return 1;
}

static uint32_t *make_nets(int n)
{
    uint32_t *nets = malloc(sizeof *nets * (size_t)n);
    if (!nets)
        die("out of memory");
    uint32_t x = 0x5eed42;
    int k = 0;
    for (uint32_t steps = 0; k < n && steps < (1u << 24); steps++) {
        x = (x * 1103515245u + 12345u) & 0xffffff;
        if (public_net(x))
            nets[k++] = x;
    }
    if (k < n)
        die("too many networks (max ~14.5M public /24s)");
    return nets;
}

static int loopback_addr(const char *host, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof *ss);
    if (!strcmp(host, "localhost"))
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127)
            return 0;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)o.port);
        *len = sizeof *s4;
        return 1;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
            return 0;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)o.port);
        *len = sizeof *s6;
        return 1;
    }
    return 0;
}

/* --- in-flight list (send order == deadline order, all share one timeout) --- */
static void list_append(int i)
{
    slots[i].prev = tail;
    slots[i].next = -1;
    if (tail >= 0)
        slots[tail].next = i;
    else
        head = i;
    tail = i;
}

static void list_remove(int i)
{
    if (slots[i].prev >= 0)
        slots[slots[i].prev].next = slots[i].next;
    else
        head = slots[i].next;
    if (slots[i].next >= 0)
        slots[slots[i].next].prev = slots[i].prev;
    else
        tail = slots[i].prev;
}

static void release(int i)
{
    slots[i].busy = 0;
    list_remove(i);
    free_stack[free_top++] = i;
}

/* --- reply parsing --- */
static int skip_name(const uint8_t *p, int len, int off)
{
    while (off < len) {
        uint8_t l = p[off];
        if (l == 0)
            return off + 1;
        if ((l & 0xc0) == 0xc0)
            return off + 2 <= len ? off + 2 : -1;
        if (l & 0xc0)
            return -1;
        off += l + 1;
    }
    return -1;
}

static void count_answer(uint32_t addr)
{
    for (int i = 0; i < MAX_ANS; i++) {
        if (st.ans_count[i] && st.ans_addr[i] == addr) {
            st.ans_count[i]++;
            return;
        }
        if (!st.ans_count[i]) {
            st.ans_addr[i] = addr;
            st.ans_count[i] = 1;
            return;
        }
    }
    st.ans_other++;
}

/* Walk the reply: rcode (with OPT's extended bits), first A answer, ECS scope. */
static void inspect(const uint8_t *p, int len)
{
    unsigned rcode = p[3] & 0x0f;
    unsigned qd = p[4] << 8 | p[5], an = p[6] << 8 | p[7];
    unsigned ns = p[8] << 8 | p[9], ar = p[10] << 8 | p[11];
    int off = 12, got_a = 0;
    if (p[2] & 0x02)
        st.truncated++;
    for (unsigned i = 0; i < qd && off >= 0; i++) {
        off = skip_name(p, len, off);
        if (off >= 0)
            off = off + 4 <= len ? off + 4 : -1;
    }
    for (unsigned i = 0; i < an + ns + ar && off >= 0; i++) {
        off = skip_name(p, len, off);
        if (off < 0 || off + 10 > len) {
            off = -1;
            break;
        }
        unsigned type = p[off] << 8 | p[off + 1];
        unsigned rdlen = p[off + 8] << 8 | p[off + 9];
        int rd = off + 10;
        if (rd + (int)rdlen > len) {
            off = -1;
            break;
        }
        if (i < an && type == 1 && rdlen == 4 && !got_a) {
            got_a = 1;
            count_answer((uint32_t)p[rd] << 24 | p[rd + 1] << 16 | p[rd + 2] << 8 | p[rd + 3]);
        }
        if (i >= an + ns && type == 41) {
            rcode |= (unsigned)p[off + 4] << 4; /* extended rcode (TTL's top byte) */
            for (int q = rd; q + 4 <= rd + (int)rdlen;) {
                unsigned code = p[q] << 8 | p[q + 1], olen = p[q + 2] << 8 | p[q + 3];
                if (q + 4 + (int)olen > rd + (int)rdlen)
                    break;
                if (code == 8 && olen >= 4) {
                    st.ecs_reply++;
                    if (p[q + 4 + 3]) /* family(2) source(1) scope(1) */
                        st.ecs_scope++;
                }
                q += 4 + (int)olen;
            }
        }
        off = rd + (int)rdlen;
    }
    if (off < 0)
        st.malformed++;
    if (!got_a)
        st.ans_none++;
    st.rcode[rcode < 16 ? rcode : 16]++;
}

static void print_summary(double run_time)
{
    static const char *rc[16] = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",  "RCODE12", "RCODE13", "RCODE14",  "RCODE15"};
    uint64_t done = st.completed ? st.completed : 1;
    printf("Statistics:\n\n");
    printf("  Queries sent:         %llu\n", (unsigned long long)st.sent);
    printf("  Queries completed:    %llu (%.2f%%)\n", (unsigned long long)st.completed,
           st.sent ? 100.0 * st.completed / st.sent : 0.0);
    printf("  Queries lost:         %llu (%.2f%%)\n", (unsigned long long)st.lost,
           st.sent ? 100.0 * st.lost / st.sent : 0.0);
    if (st.late)
        printf("  Late/unmatched replies: %llu\n", (unsigned long long)st.late);
    if (st.send_err || st.recv_err)
        printf("  Socket errors:        send %llu, recv %llu\n", (unsigned long long)st.send_err,
               (unsigned long long)st.recv_err);
    printf("\n  Response codes:      ");
    for (int i = 0; i < 17; i++)
        if (st.rcode[i])
            printf(" %s %llu (%.2f%%)", i < 16 ? rc[i] : "EXTENDED",
                   (unsigned long long)st.rcode[i], 100.0 * st.rcode[i] / done);
    printf("\n");
    if (!o.no_ecs)
        printf("  ECS in replies:       %llu (%.2f%%), scope > 0: %llu (%.2f%%)\n",
               (unsigned long long)st.ecs_reply, 100.0 * st.ecs_reply / done,
               (unsigned long long)st.ecs_scope, 100.0 * st.ecs_scope / done);
    printf("  A answers:           ");
    for (int i = 0; i < MAX_ANS && st.ans_count[i]; i++)
        printf(" %u.%u.%u.%u %llu", st.ans_addr[i] >> 24, (st.ans_addr[i] >> 16) & 0xff,
               (st.ans_addr[i] >> 8) & 0xff, st.ans_addr[i] & 0xff,
               (unsigned long long)st.ans_count[i]);
    if (st.ans_other)
        printf(" other %llu", (unsigned long long)st.ans_other);
    printf(" none %llu\n", (unsigned long long)st.ans_none);
    if (st.truncated || st.malformed)
        printf("  Truncated (TC): %llu, unparsable: %llu\n", (unsigned long long)st.truncated,
               (unsigned long long)st.malformed);
    printf("  Run time (s):         %.6f\n", run_time);
    printf("  Queries per second:   %.6f\n\n", run_time > 0 ? st.completed / run_time : 0.0);
    double p50 = 0, p99 = 0;
    uint64_t acc = 0;
    for (int i = 0; i < HIST_N && st.completed; i++) {
        acc += hist[i];
        if (!p50 && acc * 2 >= st.completed)
            p50 = (i + 1) * HIST_US / 1e6;
        if (!p99 && acc * 100 >= st.completed * 99) {
            p99 = (i + 1) * HIST_US / 1e6;
            break;
        }
    }
    printf("  Average Latency (s):  %.6f (min %.6f, max %.6f)\n",
           st.completed ? st.lat_sum / st.completed : 0.0, st.completed ? st.lat_min : 0.0,
           st.lat_max);
    printf("  Latency p50/p99 (s):  %.6f %.6f\n", p50, p99);
}

int main(int argc, char **argv)
{
    int ch;
    while ((ch = getopt(argc, argv, "s:p:n:t:N:c:k:l:T:xh")) != -1) {
        switch (ch) {
        case 's':
            o.server = optarg;
            break;
        case 'p':
            o.port = atoi(optarg);
            break;
        case 'n':
            o.name = optarg;
            break;
        case 't':
            o.type = optarg;
            break;
        case 'N':
            o.nets = atoi(optarg);
            break;
        case 'c':
            o.outstanding = atoi(optarg);
            break;
        case 'k':
            o.socks = atoi(optarg);
            break;
        case 'l':
            o.seconds = atof(optarg);
            break;
        case 'T':
            o.timeout = atof(optarg);
            break;
        case 'x':
            o.no_ecs = 1;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || o.port <= 0 || o.port > 65535 || o.nets <= 0 || o.outstanding <= 0 ||
        o.outstanding > 16384 || o.socks <= 0 || o.socks > MAX_SOCKS || o.seconds <= 0 ||
        o.timeout <= 0)
        usage();
    struct sockaddr_storage srv;
    socklen_t srvlen;
    if (!loopback_addr(o.server, &srv, &srvlen))
        die("refusing: the server must be a loopback address (127.0.0.0/8 or ::1)");

    /* Query template: header, question, OPT + ECS (family 1, source /24, scope 0). */
    uint8_t tmpl[QBUF];
    size_t qlen = 12;
    memset(tmpl, 0, sizeof tmpl);
    tmpl[5] = 1;  /* QDCOUNT */
    tmpl[11] = 1; /* ARCOUNT: OPT */
    qlen += encode_name(o.name, tmpl + qlen, 300);
    int qt = qtype_of(o.type);
    tmpl[qlen++] = (uint8_t)(qt >> 8);
    tmpl[qlen++] = (uint8_t)qt;
    tmpl[qlen++] = 0;
    tmpl[qlen++] = 1; /* class IN */
    uint8_t opt[] = {0,
                     0,
                     41,
                     (uint8_t)(o.payload >> 8),
                     (uint8_t)o.payload,
                     0,
                     0,
                     0,
                     0,
                     0,
                     11,
                     0,
                     8,
                     0,
                     7,
                     0,
                     1,
                     24,
                     0,
                     0,
                     0,
                     0};
    if (o.no_ecs) {
        tmpl[11] = 0; /* plain query, like dnsperf without -e/-E: no OPT */
    } else {
        memcpy(tmpl + qlen, opt, sizeof opt);
        qlen += sizeof opt;
    }
    size_t ecs_off = qlen - 3; /* the three address bytes */

    uint32_t *nets = o.no_ecs ? NULL : make_nets(o.nets);
    unsigned bits = 0;
    while ((1u << bits) < (unsigned)o.outstanding)
        bits++;
    slot_bits = bits;
    int nslots = o.outstanding;
    slots = calloc((size_t)nslots, sizeof *slots);
    free_stack = malloc(sizeof *free_stack * (size_t)nslots);
    gen = calloc((size_t)nslots, sizeof *gen);
    hist = calloc(HIST_N, sizeof *hist);
    uint8_t *qbufs = malloc((size_t)nslots * QBUF);
    uint8_t *rbufs = malloc((size_t)BATCH * RBUF);
    struct mmsghdr *smsg = calloc((size_t)nslots, sizeof *smsg);
    struct iovec *siov = calloc((size_t)nslots, sizeof *siov);
    int *sslot = malloc(sizeof *sslot * (size_t)nslots);
    struct mmsghdr rmsg[BATCH];
    struct iovec riov[BATCH];
    if (!slots || !free_stack || !gen || !hist || !qbufs || !rbufs || !smsg || !siov || !sslot)
        die("out of memory");
    for (int i = nslots - 1; i >= 0; i--)
        free_stack[free_top++] = i;
    for (int i = 0; i < nslots; i++)
        memcpy(qbufs + (size_t)i * QBUF, tmpl, qlen);

    int ep = epoll_create1(0);
    int socks[MAX_SOCKS];
    for (int k = 0; k < o.socks; k++) {
        socks[k] = socket(srv.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int buf = 4 << 20;
        setsockopt(socks[k], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
        setsockopt(socks[k], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        if (socks[k] < 0 || connect(socks[k], (struct sockaddr *)&srv, srvlen) < 0)
            die("cannot open/connect UDP socket");
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)k};
        epoll_ctl(ep, EPOLL_CTL_ADD, socks[k], &ev);
    }

    printf("[Status] ecsflood: %s %s to %s port %d, %s, %d in flight over %d sockets, %.1f s\n",
           o.name, o.type, o.server, o.port, o.no_ecs ? "no ECS" : "ECS /24 cycling", o.outstanding,
           o.socks, o.seconds);
    if (!o.no_ecs)
        printf("[Status] %d distinct client networks\n", o.nets);
    fflush(stdout);

    uint64_t seq = 0;
    double start = now_s(), end = start + o.seconds, now = start, last_reply = start;
    int stopping = 0;
    for (;;) {
        now = now_s();
        if (!stopping && now >= end)
            stopping = 1;
        /* Oldest first: everything past its deadline is lost. */
        while (head >= 0 && now - slots[head].sent >= o.timeout) {
            st.lost++;
            release(head);
        }
        if (stopping && head < 0)
            break;
        /* Refill every free slot, one sendmmsg per socket. */
        int send_blocked = 0;
        if (!stopping && free_top > 0) {
            for (int k = 0; k < o.socks; k++) {
                int n = 0;
                for (int j = free_top - 1; j >= 0; j--) {
                    int i = free_stack[j];
                    if (i % o.socks != k)
                        continue;
                    uint8_t *q = qbufs + (size_t)i * QBUF;
                    uint16_t id = (uint16_t)(((unsigned)gen[i]++ << slot_bits) | (unsigned)i);
                    slots[i].id = id;
                    q[0] = (uint8_t)(id >> 8);
                    q[1] = (uint8_t)id;
                    if (nets) {
                        uint32_t net = nets[seq % (uint64_t)o.nets];
                        q[ecs_off] = (uint8_t)(net >> 16);
                        q[ecs_off + 1] = (uint8_t)(net >> 8);
                        q[ecs_off + 2] = (uint8_t)net;
                    }
                    seq++;
                    siov[n].iov_base = q;
                    siov[n].iov_len = qlen;
                    memset(&smsg[n].msg_hdr, 0, sizeof smsg[n].msg_hdr);
                    smsg[n].msg_hdr.msg_iov = &siov[n];
                    smsg[n].msg_hdr.msg_iovlen = 1;
                    sslot[n++] = i;
                }
                if (!n)
                    continue;
                int m = sendmmsg(socks[k], smsg, (unsigned)n, 0);
                if (m < 0) {
                    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
                        st.send_err++;
                    m = 0;
                    send_blocked = 1;
                } else if (m < n) {
                    send_blocked = 1;
                }
                /* Sent ones leave the free stack; the rest stay free. */
                for (int j = 0; j < m; j++) {
                    int i = sslot[j];
                    slots[i].busy = 1;
                    slots[i].sent = now;
                    list_append(i);
                }
                st.sent += (uint64_t)m;
                seq -= (uint64_t)(n - m); /* unsent networks are reused next time */
                if (m) {
                    int w = 0;
                    for (int j = 0; j < free_top; j++)
                        if (!slots[free_stack[j]].busy)
                            free_stack[w++] = free_stack[j];
                    free_top = w;
                }
            }
        }
        /* Wait for replies, at most until the next deadline or the end. */
        double wait = 0.010;
        if (head >= 0 && slots[head].sent + o.timeout - now < wait)
            wait = slots[head].sent + o.timeout - now;
        if (!stopping && end - now < wait)
            wait = end - now;
        if (send_blocked)
            wait = 0.001;
        struct epoll_event evs[MAX_SOCKS];
        int ne = epoll_wait(ep, evs, MAX_SOCKS, wait > 0 ? (int)(wait * 1000) + 1 : 0);
        if (ne < 0 && errno != EINTR)
            die("epoll_wait failed");
        for (int e = 0; e < ne; e++) {
            int fd = socks[evs[e].data.u32];
            for (;;) {
                for (int j = 0; j < BATCH; j++) {
                    riov[j].iov_base = rbufs + (size_t)j * RBUF;
                    riov[j].iov_len = RBUF;
                    memset(&rmsg[j].msg_hdr, 0, sizeof rmsg[j].msg_hdr);
                    rmsg[j].msg_hdr.msg_iov = &riov[j];
                    rmsg[j].msg_hdr.msg_iovlen = 1;
                }
                int m = recvmmsg(fd, rmsg, BATCH, MSG_DONTWAIT, NULL);
                if (m < 0) {
                    if (errno != EAGAIN && errno != EWOULDBLOCK)
                        st.recv_err++; /* e.g. ECONNREFUSED: nothing listening */
                    break;
                }
                double t = now_s();
                for (int j = 0; j < m; j++) {
                    const uint8_t *p = riov[j].iov_base;
                    int len = (int)rmsg[j].msg_len;
                    if (len < 12 || !(p[2] & 0x80)) {
                        st.malformed++;
                        continue;
                    }
                    uint16_t id = (uint16_t)(p[0] << 8 | p[1]);
                    int i = (int)(id & ((1u << slot_bits) - 1));
                    if (i >= nslots || !slots[i].busy || slots[i].id != id) {
                        st.late++;
                        continue;
                    }
                    double lat = t - slots[i].sent;
                    st.completed++;
                    st.lat_sum += lat;
                    if (lat < st.lat_min)
                        st.lat_min = lat;
                    if (lat > st.lat_max)
                        st.lat_max = lat;
                    long b = (long)(lat * 1e6 / HIST_US);
                    hist[b < HIST_N - 1 ? b : HIST_N - 1]++;
                    inspect(p, len);
                    release(i);
                }
                last_reply = t;
                if (m < BATCH)
                    break;
            }
        }
    }
    double run_time = (last_reply > end ? last_reply : end) - start;
    print_summary(run_time);
    return 0;
}
