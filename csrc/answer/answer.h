/* geodns._native: native UDP serving (dns.fast_path, docs/reference.md).

   The Python side (geodns/dns/native.py) builds a gn_table from the compiled Table: exact
   questions -> pre-encoded static answers, zones -> what a negative answer needs. Native
   threads (csrc/serve/udp.c) answer what the table holds and hand everything else to the
   Python handler, which stays the reference: a reply made here is byte for byte the one
   Handler.handle gives for the same query and source. Nothing in this header touches the
   Python API except the object structs; the answer path runs without the GIL. */
#ifndef GN_FASTNET_H
#define GN_FASTNET_H

#include <stddef.h>
#include <stdint.h>

#include "answer/pick.h"
#include "cookies/cookies.h"
#include "geo/ranges.h"
#include "rrl/rrl.h"

#define GN_UDP_SIZE 512         /* what a datagram carries whatever the query says */
#define GN_MAX_NAME 255         /* a wire name's longest */
#define GN_QTYPE_OTHER 0x10000u /* stats.QTYPE_OTHER: types outside wire.TYPE_TEXT */

/* A growable byte arena: every key, body and name lives here, addressed by offset. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} gn_buf;

/* One key in a set: arena offset, length, a tag (the zone of a name) and a value. */
typedef struct {
    uint32_t off;
    uint16_t len;
    uint16_t tag;
    uint32_t value;
} gn_item;

/* Open addressing over items; slots hold item index + 1 (0 = empty). */
typedef struct {
    gn_item *items;
    size_t n, cap;
    uint32_t *slots;
    size_t mask; /* slots - 1 */
} gn_set;

/* REFERRAL: keyed by a cut's name and type 0 class 0, never by a question: the referral
   (NS and glue) every name at or below the cut gets (but DS at the cut). */
enum { GN_STATIC = 0, GN_POLICY = 1, GN_REFERRAL = 2 };
#define GN_NAME_PYTHON 1 /* a name's value in gn_table.names: its NODATA is Python's */

typedef struct {
    uint32_t body_off, body_len;
    uint16_t zone;
    uint16_t heads;  /* index into gn_table.heads: 8 variants of 10 bytes */
    uint32_t qtype;  /* counted as is (the Python fast path counts entry.qtype) */
    uint32_t policy; /* POLICY: its slot in the decisions (gn_decisions.pv) */
    uint8_t kind;
    uint8_t chain; /* POLICY: the body is a CNAME chain's records before the policy's */
    /* DNSSEC: STATIC's answer with its RRSIGs (signed when the table was built,
       geodns/native/signing.py) for a DO query in a signed zone; sheads 0: none, Python's */
    uint16_t sheads; /* its heads' index + 1 */
    uint32_t sbody_off, sbody_len;
    /* REFERRAL: sheads/sbody are the signed referral (NS, DS and its RRSIG, or the NSEC
       proving no DS and its RRSIG; glue) asked at the cut; these, asked below it (the DS
       or NSEC owner written out, not a pointer), made for a name 2 bytes longer than the
       cut (a 1-byte label): its pointers move (the cut's offset - 2) on */
    uint16_t sbelow_heads;
    uint32_t sbelow_off, sbelow_len;
} gn_entry;

/* DNSSEC compact denial (RFC 9824, csrc/answer/denial.c): what a zone's NXDOMAIN for a DO
   query needs to be answered natively, its per-name NSEC signed on the answering thread.
   sign: a signer callable without the GIL (csrc/sign/ through py/sign.c); NULL: Python's. */
#define GN_DENIAL_KEYS 4 /* signing keys at once (a rollover's double signature) */
typedef size_t (*gn_sign_fn)(const void *key, const uint8_t *msg, size_t len, uint8_t *out,
                             size_t cap);
typedef struct {
    gn_sign_fn sign;
    uint32_t ttl;      /* the NSEC's and its RRSIG's: min(SOA TTL, minimum) */
    uint32_t sigs_off; /* the RRSIG SOA records, signed ahead (arena) */
    uint16_t sigs_len, sigs_count;
    uint8_t nkeys; /* the zone's signing keys now (state.zsks) */
    const void *keys[GN_DENIAL_KEYS];
    uint32_t head_off[GN_DENIAL_KEYS]; /* each key's RRSIG NSEC rdata before the signature, */
    uint16_t head_len[GN_DENIAL_KEYS]; /* its Labels byte (offset 3) set per name (arena) */
} gn_denial;

typedef struct {
    uint32_t origin_off;
    uint16_t origin_len;
    uint8_t wildcards; /* the zone has wildcards: negative answers are Python's */
    uint8_t cuts;      /* the zone has delegations below its apex */
    uint8_t signed_;   /* DNSSEC: a DO query for it needs a pre-signed answer, else Python's */
    uint32_t soa_off;  /* the negative SOA with every name pointer at offset 0 */
    uint16_t soa_len;
    uint8_t nptr;
    uint16_t ptr[8];  /* where those pointers are, in the SOA record */
    gn_denial denial; /* DNSSEC: NXDOMAIN for a DO query (sign NULL: Python's) */
} gn_zone;

/* What a table answers with, besides its entries: our OPT pieces and the settings that
   send a query to Python. */
typedef struct {
    uint8_t plain[2][11];   /* our OPT without options, by DO */
    uint8_t ecs_head[2][9]; /* our OPT up to its RDLENGTH, by DO */
    uint16_t payload;       /* dns.max_udp_payload */
    uint8_t ecs_enabled, cookies, nsid;
    uint8_t max_v4, max_v6; /* ecs.max_source_v4/v6: the source prefix acted on */
    uint8_t known[8192];    /* bitmap of wire.TYPE_TEXT: qtype labels of negative answers */
} gn_opts;

/* Who answers (dns/identity.py): our NSID option and the CHAOS TXT records, pre-encoded
   by Python (csrc/answer/chaos.c). Unset: NSID and CHAOS queries are Python's. */
#define GN_IDENT_MAX 1100
typedef struct {
    uint8_t set;
    uint16_t nsid_len, id_len, ver_len; /* id_len, ver_len 0: that name is REFUSED */
    uint8_t nsid[GN_IDENT_MAX];         /* option code 3, its length, the instance name */
    uint8_t id_rec[GN_IDENT_MAX];       /* TXT CH for id.server. and hostname.bind. */
    uint8_t ver_rec[GN_IDENT_MAX];      /* TXT CH for version.server. and version.bind. */
} gn_ident;

typedef struct {
    gn_buf arena;
    gn_set entries; /* lowercased name + type + class -> gn_entry index */
    gn_set zones;   /* origin -> zone index */
    gn_set names;   /* (zone, name): every name that exists */
    gn_set cuts;    /* (zone, name): delegation points */
    gn_set nodata;  /* DNSSEC: (zone, name) -> arena offset of its signed NODATA's records
                       after the SOA (u16 count, u16 length, records: RRSIG SOA, NSEC, RRSIG) */
    gn_entry *ents;
    size_t n_ents, cap_ents;
    gn_zone *zv;
    size_t n_zones, cap_zones;
    uint8_t (*heads)[80];
    size_t n_heads, cap_heads;
    gn_opts opts;
    int64_t signed_until;        /* DNSSEC: from then (wall clock) the signed variants' week is
                                    over: DO queries are Python's until a rebuild (0: no limit) */
    struct log_names *log_names; /* observe: zone and pool texts for the query log (owned) */
    gn_ident ident;              /* NSID and CHAOS (set_identity) */
} gn_table;

enum { GN_FIXED = 0, GN_DRAW = 1, GN_STICKY = 2 };

/* One class of a compiled policy tree: its answer with health applied, or Python's; or
   the outcomes it picks from per query (a weighted draw, a sticky hash: answer/pick.h). */
typedef struct {
    uint32_t body_off, body_len; /* the answer records; none: NODATA (the entry's SOA) */
    int32_t pool;                /* the pool's index in its tree's pools (0..255); -1: none */
    uint16_t heads;              /* gn_decisions.heads index */
    uint8_t python;              /* decided per query (failed open, ...): Python's */
    uint8_t kind;                /* GN_FIXED, or how it picks among picks[first, first+n) */
    uint8_t bits4, bits6;        /* sticky: the network hashed, and the ECS scope */
    uint16_t rot_max, rot_len;   /* max_answers N, and the body's record size */
    uint32_t first, n;           /* draw, sticky: its picks in gn_decisions.picks */
    uint32_t rot;                /* max_answers set: its rotation counter + 1 (0: none) */
    /* DNSSEC: the answer with its RRSIGs, signed when the decisions were built, for a DO
       query in a signed zone; sheads 0: none (NODATA, rotation, the cap): Python's */
    uint16_t sheads; /* gn_decisions.heads index + 1 */
    uint32_t sbody_off, sbody_len;
} gn_class;

/* One policy slot: a tree's ranges (GEO's csrc/geo/ranges.h) and its classes' answers. */
typedef struct {
    gd_ranges r;
    uint32_t first, n; /* classes first .. first + n - 1 in gn_decisions.cv (shared by the
                          slots of every name with the same tree, TTL and type) */
    uint8_t ready;     /* 0: not compiled (sticky, measured RTTs...): Python's */
    /* split by measured RTTs (geodns/geo/measuredsplit.py, csrc/answer/split.c): the
       measured intervals (cls: their group, 0 none), the class of each (group, GeoIP
       class) by sorted key group << 32 | class, and the ECS scope floors */
    uint8_t split, floor4, floor6;
    gd_ranges ov;
    const uint64_t *pair_key;
    const uint32_t *pair_cls;
    size_t n_pairs;
} gn_policy;

/* Every policy slot's decisions under one health state: built by Python on start and on
   every health change, swapped whole (the same epoch scheme as the table). */
typedef struct {
    gn_buf arena;
    gn_policy *pv;
    size_t n_policies;
    gn_class *cv;
    size_t n_classes, cap_classes;
    uint8_t (*heads)[80];
    size_t n_heads, cap_heads;
    gn_pick *picks; /* the outcomes of draw and sticky classes */
    size_t n_picks, cap_picks;
    uint64_t *rot; /* the names' rotation counters (kept by the caller across health) */
    size_t n_rot;
} gn_decisions;

/* A parsed query: what the answer path needs, all offsets into the packet. */
typedef struct {
    size_t qend;                    /* past the question */
    size_t nlen;                    /* the name's wire length */
    uint8_t lname[GN_MAX_NAME + 1]; /* the name, lower-cased */
    uint8_t key[GN_MAX_NAME + 5];   /* lname + type + class */
    unsigned variant;               /* RD | CD << 1 */
    unsigned qtype, qclass;
    int opt; /* 1 when one OPT record follows the question */
    int do_bit;
    int co; /* the Compact Answers OK flag (RFC 9824): a compact denial keeps NXDOMAIN */
    unsigned udp_limit; /* min(max(payload, 512), ours) */
    const uint8_t *ecs;
    size_t ecs_len; /* the ECS option body, NULL if none */
    const uint8_t *cookie;
    size_t cookie_len;
    int nsid;
    int synth; /* answered from a wildcard's entry (set by answer_reply, not the parser) */
} gn_query;

/* csrc/wire/parse.c */
int wire_parse(const uint8_t *d, size_t n, gn_query *q);
int wire_ecs_valid(const uint8_t *b, size_t len);

/* csrc/common/arena.c */
uint64_t common_hash(const uint8_t *p, size_t n, uint32_t tag);
int common_buf_add(gn_buf *b, const void *p, size_t n, uint32_t *off);
void common_buf_free(gn_buf *b);
int common_set_put(gn_set *s, gn_buf *a, const uint8_t *p, size_t n, uint16_t tag, uint32_t value);
const gn_item *common_set_get(const gn_set *s, const gn_buf *a, const uint8_t *p, size_t n,
                              uint16_t tag);
void common_set_free(gn_set *s);
size_t common_set_bytes(const gn_set *s);

/* csrc/answer/reply.c: the reply for d[0..n) in out (cap bytes), its length, or 0 when the
   query is Python's. *ckey: the counter key of the answer (zone, qtype, rcode). */
/* Who sent a query, and what answering it may use besides the tables. */
typedef struct {
    int family;          /* 4 or 6 (an IPv4-mapped IPv6 source is 4): what decisions see */
    uint8_t addr[16];    /* network order */
    gd_cookies *cookies; /* the worker's server cookies (NULL: a COOKIE goes to Python) */
    int64_t now;         /* wall clock, whole seconds (server cookies) */
    int cookie_result;   /* set by wire_add_cookie: GD_COOKIE_NEW/VALID/INVALID; -1: none */
    uint32_t geo;        /* observe: policy classes found by address (GeoIP counters) */
    uint64_t *draw;      /* the random draws' state (NULL: the thread's own) */
    unsigned max_size;   /* what the transport carries (0: a datagram's 512; TCP 65535) */
    /* RRL's account (dns/rrlkey.py) where the answer knows better than its question: */
    uint8_t acct_kind;             /* GN_ACCT_: 0 the question */
    uint16_t acct_len;             /* acct: the cut (REFERRAL) or the wildcard's owner */
    uint8_t acct[GN_MAX_NAME + 2]; /* (WILD), lower-case wire name */
    /* what wire_add_cookie appends after our OPT's options (set by wire_our_opt): our NSID
       option (nsid_len 0: none), then our COOKIE when tail_cookie */
    const uint8_t *nsid;
    uint16_t nsid_len;
    uint8_t tail_cookie;
} gn_source;
/* GN_ACCT_OUTSIDE: a name outside our zones (CHAOS): its question, even when empty */
enum { GN_ACCT_QUESTION = 0, GN_ACCT_REFERRAL = 1, GN_ACCT_WILD = 2, GN_ACCT_OUTSIDE = 3 };

/* The reply size a transport carries whatever the query says (handler.handle's max_size). */
static inline size_t gn_transport(const gn_source *src)
{
    return src != NULL && src->max_size ? src->max_size : GN_UDP_SIZE;
}

size_t answer_reply(const gn_table *t, const gn_decisions *dec, gn_source *src, const uint8_t *d,
                    size_t n, uint8_t *out, size_t cap, uint64_t *ckey, uint64_t *pkey);
/* csrc/answer/split.c: the class of a tree split by measured networks (cls: the GeoIP
   one; *scope narrowed to both ranges and the floor), UINT32_MAX when there is none */
uint32_t answer_split(const gn_policy *p, int family, uint32_t a4, const uint8_t addr[16],
                      uint32_t cls, int *scope);
/* csrc/py/decisions.c: a POLICY entry's reply (0: Python's) */
/* answer/signed.c: whether the signed variants may answer now (their week not over); a
   name's signed NODATA records (u16 count, u16 length, records) or NULL */
int answer_signed_fresh(const gn_table *t, const gn_source *src);
/* an entry's signed variant (which: 1 its own, 2 a referral's below its cut) as heads
   index, body offset and length: 0 when it has none or it is stale (then Python's) */
int answer_signed_entry(const gn_table *t, const gn_entry *e, const gn_source *src, int which,
                        unsigned *hi, uint32_t *off, uint32_t *len);
const uint8_t *answer_nodata_signed(const gn_table *t, const gn_query *q, long zi,
                                    const gn_source *src);
/* answer/denial.c: a nonexistent name's compact denial records after the zone's SOA (u16
   count, u16 length, records: RRSIG SOA, the name's NSEC, its RRSIGs) into out (cap
   bytes): their length, 0 when the zone has none ready (then Python's) */
#define GN_DENIAL_MAX 4096
size_t answer_denial(const gn_table *t, const gn_query *q, long zi, const gn_source *src,
                     uint8_t *out, size_t cap);
size_t answer_policy(const gn_table *t, const gn_decisions *dec, const gn_entry *e, gn_source *src,
                     const uint8_t *d, const gn_query *q, uint8_t *out, size_t cap, uint64_t *ckey,
                     uint64_t *pkey);
size_t wire_our_opt(const gn_table *t, const gn_query *q, gn_source *src, unsigned scope,
                    uint8_t *opt, size_t *tail);
size_t wire_add_cookie(const gn_query *q, gn_source *src, uint8_t *out, size_t at);
/* csrc/answer/truncate.c: assemble.reply's size limit for q, and its TC form of a reply
   whose ID, head and question are in out (0: even that does not fit cap) */
size_t answer_limit(const gn_table *t, const gn_query *q, const gn_source *src);
size_t answer_truncate(const gn_query *q, gn_source *src, uint8_t *out, size_t cap,
                       const uint8_t *opt, size_t optlen, size_t tail);
/* csrc/answer/chaos.c: a question outside IN or our zones (CHAOS, REFUSED), 0: Python's */
size_t answer_outside(const gn_table *t, gn_source *src, const uint8_t *d, const gn_query *q,
                      uint8_t *out, size_t cap, uint64_t *ckey);
/* by_pool counter: the slot (its name) and the pool's index in the tree's pools */
#define GN_PKEY(slot, pool) ((1ull << 63) | (uint64_t)(slot) << 8 | (uint64_t)(pool))
#define GN_AKEY(action) ((1ull << 62) | (uint64_t)(action)) /* an RRL action below */
/* RRL actions a native reply may take, counted as rrl_actions_total{action} under these
   names (geodns._native.counter_key() gives Python the name). */
enum { GN_ACT_SLIP = 0, GN_ACT_BADCOOKIE = 1, GN_ACT_DROP = 2, GN_ACT_LOG_ONLY = 3 };
#define GN_ACTION_NAMES                                                                            \
    {                                                                                              \
        "slip", "badcookie", "drop", "log_only"                                                    \
    }

/* csrc/rrl/limit.c: handler.py's _limited() on a native reply of `len` bytes in out (its
   counter key ckey): the new length (0: dropped), *akey the RRL action counted or 0. */
size_t rrl_limit(const gn_table *t, gd_rrl *rrl, const gn_source *src, const uint8_t *d, size_t n,
                 uint8_t *out, size_t len, uint64_t ckey, double now, uint64_t *akey);
#define GN_CKEY(zone, qtype, rcode)                                                                \
    ((((uint64_t)(zone) + 1) << 32) | ((uint64_t)(qtype) << 8) | (uint64_t)(rcode))

#endif
