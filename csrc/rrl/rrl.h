/* Response rate limiting with BIND's and Knot's semantics in a table of fixed size: exactly
   what geodns/dns/rrl.py does, for the native threads of geodns._native.

   An account is one client network (the packet's source cut to ipv4_prefix/ipv6_prefix;
   an IPv4-mapped IPv6 source counts as its IPv4 address; never ECS) and one response
   identity (kind and name: the question's wire bytes, name+type+class, lowercased, for
   answers; the zone's origin for NXDOMAIN and errors, empty outside every zone; exactly the
   bytes handler.py's _identity() gives). Each account earns its kind's rate in credit per
   second, at most one second's worth; a response spends one; one that finds it below zero
   is limited; credit falls no lower than -window x rate. Slots are picked by a keyed
   SipHash of the key (a random key per table); a new key takes the slot over.

   Threads and processes: a gd_rrl lives in a shared anonymous mapping; the supervisor makes
   it ONCE PER SERVER with rrl_new() before forking its workers, and every native thread of
   every worker and their Python handlers (geodns._native.RateLimiter wraps the same table)
   spend from it: one set of accounts whichever path or worker answers, so a spoofer who
   varies the source port (the kernel picks the worker by it) gains nothing. Each slot has
   its own spin lock (held for a few dozen instructions; a lock-free atomic, valid across
   processes); the pending-log note has its own. No Python API; call without the GIL. */
#ifndef GD_FASTRRL_H
#define GD_FASTRRL_H

#include <stddef.h>
#include <stdint.h>

enum { GD_RRL_ANSWER = 0, GD_RRL_NXDOMAIN = 1, GD_RRL_ERROR = 2 };
enum { GD_RRL_ALL = 3 }; /* the account of every response to a network (all_rate) */ /* kinds */
enum { GD_RRL_OK = 0, GD_RRL_SLIP = 1, GD_RRL_DROP = 2, GD_RRL_LOG_ONLY = 3 };       /* verdicts */
#define GD_RRL_SLOTS 131072 /* rrl.py's TABLE_SIZE */

typedef struct {
    int family;       /* 4 or 6 */
    uint8_t addr[16]; /* network order: 4 bytes used for IPv4 */
    int prefix;       /* 0..32 or 0..128 */
} gd_net;

typedef struct {
    double rates[3];      /* per kind (ANSWER, NXDOMAIN, ERROR) per second; 0 = unlimited */
    double all_rate;      /* every response to a network per second (rrl.all_per_second) */
    double window;        /* seconds (rrl.window) */
    uint32_t slip;        /* every Nth limited response slips (TC); 0 = drop all */
    int ipv4_prefix;      /* 0..32 */
    int ipv6_prefix;      /* 0..128 */
    const gd_net *exempt; /* never limited (matched on the source as given: a mapped */
    size_t n_exempt;      /*   IPv6 source does not match an IPv4 network, as in Python) */
    int log_only;         /* limited responses go out, verdict GD_RRL_LOG_ONLY */
    size_t slots;         /* power of two; 0 = GD_RRL_SLOTS */
} gd_rrl_config;

typedef struct gd_rrl gd_rrl;

/* A table for cfg (exempt copied). NULL on a bad config (slots not a power of two,
   prefixes out of range) or no memory. */
gd_rrl *rrl_new(const gd_rrl_config *cfg);
void rrl_free(gd_rrl *r);

/* RateLimiter.verdict(): spend one response of `kind` for name[0..namelen) to the source
   addr (family 4: 4 bytes, 6: 16 bytes, network order) at now = seconds on a monotonic
   clock (CLOCK_MONOTONIC as a double, Python's time.monotonic()). Returns a GD_RRL_ verdict.
   Streams (TCP) and queries with a valid server cookie must not be passed here. */
int rrl_verdict(gd_rrl *r, int family, const uint8_t *addr, int kind, const uint8_t *name,
                size_t namelen, double now);

/* For the log line rrl.py writes at most once a second ("rrl: limited N responses; the
   latest to HOST"): how many were limited since the last call (0: nothing to log), and the
   latest limited source in *family / addr. Call from one place (Python, once a second). */
uint64_t rrl_take_limited(gd_rrl *r, int *family, uint8_t addr[16]);

/* The slot a key lands in (tests: to build collisions), and the bytes the table takes. */
size_t rrl_slot(gd_rrl *r, int family, const uint8_t *addr, int kind, const uint8_t *name,
                size_t namelen);
size_t rrl_table_bytes(const gd_rrl *r);

/* ---- around a verdict (csrc/rrl/slip.c): what handler.py does, byte for byte ---- */

#define GD_RRL_QUESTION_MAX 260 /* a question: name (<= 255) + type + class */

/* The kind a reply counts as (handler._identity): NOERROR an answer, NXDOMAIN, or else
   an error. */
int rrl_kind(const uint8_t *resp, size_t len);

/* An answer's account name: the reply's question (name, type, class) lowercased as Python's
   bytes.lower() does (every byte A-Z, type and class bytes too) into out; its length, 0
   when the reply has no readable question (the account b""). NXDOMAIN and errors are
   counted by the zone's origin (wire bytes, lowercased; b"" outside every zone), which the
   caller knows from its table (handler: table.find_zone(question name)). */
size_t rrl_question(const uint8_t *resp, size_t len, uint8_t out[GD_RRL_QUESTION_MAX]);

/* assemble.limited(): the slip a limited client gets instead of resp, for its query. With
   our COOKIE option (cookie: code, length and data, as cookies_answer() wrote it; NULL/0
   when the query had none) and an OPT in the query: BADCOOKIE with that option, so the
   retry carries a valid cookie; else TC with no records. The question and our OPT (payload:
   dns.max_udp_payload; DO copied) stay. Written to out (cap bytes); its length, or 0 if it
   does not fit or the messages are shorter than a header. */
size_t rrl_slip(const uint8_t *query, size_t qlen, const uint8_t *resp, size_t rlen,
                unsigned payload, const uint8_t *cookie, size_t cookielen, uint8_t *out,
                size_t cap);

#endif
