/* Response rate limiting, as geodns/dns/rrl.py: see csrc/rrl/rrl.h for the contract. The
   arithmetic is rrl.py's, step for step in doubles, so both give the same verdicts for the
   same sequence of (account, time); only which keys share a slot differs (Python's hash()
   there, a keyed SipHash here). */
#include "rrl/rrl.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include "common/siphash.h"
#include "common/spin.h"

typedef struct {
    uint64_t hash; /* the key's full hash; 0 = never used */
    double credit;
    double stamp;
    uint32_t slips;
    atomic_flag lock;
} slot_t;

struct gd_rrl {
    double rates[3];
    double all_rate; /* 0: no account of every response to a network */
    double window;
    uint32_t slip;
    int v4_prefix, v6_prefix, log_only;
    gd_net *exempt; /* in the table's own mapping, just past this struct */
    size_t n_exempt;
    size_t map_bytes; /* of that mapping: this struct and the exempt networks */
    size_t mask;
    uint8_t key[GD_SIP_KEY];
    slot_t *slots;
    atomic_flag note_lock; /* guards the three below */
    uint64_t limited;
    int last_family;
    uint8_t last_addr[16];
};

static const uint8_t MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void random_key(uint8_t key[GD_SIP_KEY])
{
    size_t got = 0;
    while (got < GD_SIP_KEY) {
        ssize_t n = getrandom(key + got, GD_SIP_KEY - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < GD_SIP_KEY) { /* no entropy source: still a key, if a guessable one */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t v = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)ts.tv_sec;
        common_sip_store_le(v, key);
        common_sip_store_le(~v, key + 8);
    }
}

/* The table and its slots live in one shared anonymous mapping: every process forked after
   rrl_new() spends from the same accounts (the supervisor makes it before forking its
   workers, so the worker count changes nothing: one set of accounts per server). The
   slots' spin locks and the note lock are lock-free atomics, valid across processes. */
static void *shared_zeros(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

gd_rrl *rrl_new(const gd_rrl_config *cfg)
{
    size_t slots = cfg->slots ? cfg->slots : GD_RRL_SLOTS;
    if (slots & (slots - 1) || cfg->ipv4_prefix < 0 || cfg->ipv4_prefix > 32 ||
        cfg->ipv6_prefix < 0 || cfg->ipv6_prefix > 128 || (cfg->n_exempt && !cfg->exempt))
        return NULL;
    size_t head = (sizeof(gd_rrl) + _Alignof(gd_net) - 1) / _Alignof(gd_net) * _Alignof(gd_net);
    size_t bytes = head + (cfg->n_exempt ? cfg->n_exempt : 1) * sizeof(gd_net);
    gd_rrl *r = shared_zeros(bytes);
    if (r == NULL)
        return NULL;
    r->map_bytes = bytes;
    r->exempt = (gd_net *)((uint8_t *)r + head);
    r->mask = slots - 1; /* before any failure: rrl_free() unmaps the slots by it */
    r->slots = shared_zeros(slots * sizeof *r->slots);
    if (r->slots == NULL) {
        rrl_free(r);
        return NULL;
    }
    /* the mapping's zeros are clear flags (GCC and Clang on every target): no loop that
       would touch every page of a table most of which may never be used */
    atomic_flag_clear(&r->note_lock);
    if (cfg->n_exempt)
        memcpy(r->exempt, cfg->exempt, cfg->n_exempt * sizeof *r->exempt);
    r->n_exempt = cfg->n_exempt;
    memcpy(r->rates, cfg->rates, sizeof r->rates);
    r->all_rate = cfg->all_rate;
    r->window = cfg->window;
    r->slip = cfg->slip;
    r->v4_prefix = cfg->ipv4_prefix, r->v6_prefix = cfg->ipv6_prefix;
    r->log_only = cfg->log_only;
    random_key(r->key);
    return r;
}

void rrl_free(gd_rrl *r)
{
    if (r == NULL)
        return;
    if (r->slots != NULL)
        munmap(r->slots, (r->mask + 1) * sizeof *r->slots);
    munmap(r, r->map_bytes);
}

size_t rrl_table_bytes(const gd_rrl *r)
{
    return (r->mask + 1) * sizeof(slot_t);
}

/* addr[0..n) with every bit past `prefix` cleared. */
static void cut(uint8_t *dst, const uint8_t *addr, size_t n, int prefix)
{
    for (size_t i = 0; i < n; i++) {
        int keep = prefix - 8 * (int)i;
        dst[i] = keep >= 8 ? addr[i] : keep <= 0 ? 0 : (uint8_t)(addr[i] & (0xff00 >> keep));
    }
}

/* The account's hash: family, kind and network, then the name (its length is implied). */
static uint64_t key_hash(gd_rrl *r, int family, const uint8_t *addr, int kind, const uint8_t *name,
                         size_t namelen)
{
    uint8_t stack[2 + 16 + 300];
    uint8_t *buf = stack;
    if (family == 6 && memcmp(addr, MAPPED, 12) == 0)
        family = 4, addr += 12;
    size_t n = family == 4 ? 4 : 16;
    size_t total = 2 + n + namelen;
    if (total > sizeof stack) {
        buf = malloc(total);
        if (buf == NULL) { /* hash the head and the length only: still one account per key */
            buf = stack;
            namelen = 0;
            total = 2 + n;
        }
    }
    buf[0] = (uint8_t)family, buf[1] = (uint8_t)kind;
    cut(buf + 2, addr, n, family == 4 ? r->v4_prefix : r->v6_prefix);
    if (namelen)
        memcpy(buf + 2 + n, name, namelen);
    uint64_t h = common_siphash24(r->key, buf, total);
    if (buf != stack)
        free(buf);
    return h ? h : 1; /* 0 marks a slot never used */
}

size_t rrl_slot(gd_rrl *r, int family, const uint8_t *addr, int kind, const uint8_t *name,
                size_t namelen)
{
    return key_hash(r, family, addr, kind, name, namelen) & r->mask;
}

static int in_net(const gd_net *net, int family, const uint8_t *addr)
{
    if (net->family != family)
        return 0;
    int p = net->prefix;
    for (int i = 0; p > 0; i++, p -= 8) {
        uint8_t m = p >= 8 ? 0xff : (uint8_t)(0xff00 >> p);
        if ((addr[i] & m) != (net->addr[i] & m))
            return 0;
    }
    return 1;
}

static int exempt(gd_rrl *r, int family, const uint8_t *addr)
{
    for (size_t i = 0; i < r->n_exempt; i++)
        if (in_net(&r->exempt[i], family, addr))
            return 1;
    return 0;
}

static void note(gd_rrl *r, int family, const uint8_t *addr)
{
    gd_spin_lock(&r->note_lock);
    r->limited++;
    r->last_family = family;
    memcpy(r->last_addr, addr, family == 4 ? 4 : 16);
    gd_spin_unlock(&r->note_lock);
}

uint64_t rrl_take_limited(gd_rrl *r, int *family, uint8_t addr[16])
{
    gd_spin_lock(&r->note_lock);
    uint64_t n = r->limited;
    r->limited = 0;
    *family = r->last_family;
    memcpy(addr, r->last_addr, 16);
    gd_spin_unlock(&r->note_lock);
    return n;
}

/* One response from the account of `key` at `rate`: its balance after (below 0: limited). */
static double spend(gd_rrl *r, slot_t *s, uint64_t key, double rate, double now)
{
    gd_spin_lock(&s->lock);
    double balance;
    if (s->hash != key) { /* a new account (or one that took the slot over) */
        s->hash = key;
        balance = rate;
        s->slips = 0;
    } else {
        balance = s->credit + (now - s->stamp) * rate;
        if (balance > rate)
            balance = rate;
    }
    balance -= 1.0;
    double floor = -r->window * rate;
    s->credit = balance > floor ? balance : floor;
    s->stamp = now;
    gd_spin_unlock(&s->lock);
    return balance;
}

int rrl_verdict(gd_rrl *r, int family, const uint8_t *addr, int kind, const uint8_t *name,
                size_t namelen, double now)
{
    if (kind < 0 || kind > 2 || (family != 4 && family != 6))
        return GD_RRL_OK;
    double rate = r->rates[kind];
    if (!(rate > 0) && !(r->all_rate > 0))
        return GD_RRL_OK;
    slot_t *s = NULL;
    double balance = 0.0;
    if (rate > 0) {
        uint64_t key = key_hash(r, family, addr, kind, name, namelen);
        s = &r->slots[key & r->mask];
        balance = spend(r, s, key, rate, now);
    }
    if (r->all_rate > 0) { /* the network's account of every response (rrl.py's ALL) */
        uint64_t key = key_hash(r, family, addr, GD_RRL_ALL, NULL, 0);
        slot_t *all = &r->slots[key & r->mask];
        double left = spend(r, all, key, r->all_rate, now);
        if (s == NULL || left < balance) /* the emptier account decides (and slips) */
            s = all, balance = left;
    }
    /* exempt networks are looked up only for a response about to be limited */
    int limited = !(balance >= 0.0) && !exempt(r, family, addr);
    uint32_t count = 0;
    if (limited && !r->log_only && r->slip) {
        gd_spin_lock(&s->lock);
        count = ++s->slips;
        gd_spin_unlock(&s->lock);
    }
    if (!limited)
        return GD_RRL_OK;
    note(r, family, addr);
    if (r->log_only)
        return GD_RRL_LOG_ONLY;
    if (!r->slip)
        return GD_RRL_DROP;
    return count % r->slip == 0 ? GD_RRL_SLIP : GD_RRL_DROP;
}
