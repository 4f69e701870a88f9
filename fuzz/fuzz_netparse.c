/* Fuzz the native query parser and reply assembly (csrc/wire/parse.c,
   csrc/answer/reply.c, csrc/common/arena.c; helper NET's): any datagram. A query the parser
   accepts must point only inside the packet: the question, the ECS and COOKIE option
   bodies; the name lower-cased and ending in the root label. A reply answer_reply makes from
   a small table (static names, a wildcard, a cut, NXDOMAIN; server cookies on) fits its
   buffer, carries the query's ID and question, and is never larger than the limit it was
   made for, and so is what rate limiting makes of it; a policy name with two classes
   (decided by ECS or either family's source, split by a measured network) too. CHAOS questions
   (csrc/answer/chaos.c), NSID, and an answer too large for the query's size (TC,
   csrc/answer/truncate.c: no records) likewise; with DO, signed referrals and compact
   denial (csrc/answer/denial.c: the NSEC signed by csrc/sign/ per name). (Their bytes:
   tests/unit/test_native_diff.py and tests/native/, against the reference.) */
#include <string.h>

#include "answer/answer.h"
#include "fuzz.h"
#include "sign/sign.h"

static gn_table table;
static gn_decisions decisions;
static gd_rrl *rrl;
static gn_source source = {.family = 4, .addr = {192, 0, 2, 1}, .now = 1800000000};

static void name_set(gn_set *s, const char *wire, size_t n, uint16_t tag)
{
    if (common_set_put(s, &table.arena, (const uint8_t *)wire, n, tag, 0) < 0)
        fuzz_fail("no memory for the table");
}

#define ORIGIN                                                                                     \
    "\x07"                                                                                         \
    "example"                                                                                      \
    "\x04"                                                                                         \
    "test"                                                                                         \
    "\x00"
#define NAME(s) s ORIGIN, sizeof(s ORIGIN) - 1

/* DNSSEC compact denial (csrc/answer/denial.c): the real signer, as py/sign.c hands it */
static size_t sign_thunk(const void *key, const uint8_t *msg, size_t len, uint8_t *out, size_t cap)
{
    return sign_key_sign((const sign_key *)key, msg, len, out, cap);
}

/* The zone's denial: one RRSIG SOA standing record, two keys (a double signature), each
   head the RRSIG rdata's 18 fixed bytes and the signer's name. */
static void set_denial(gn_zone *zone, const uint8_t *rr, size_t rrlen)
{
    static const uint8_t scalar[SIGN_SCALAR] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    static sign_key *key;
    if (key == NULL && (key = sign_key_new(SIGN_ECDSAP256SHA256, scalar, sizeof scalar)) == NULL)
        fuzz_fail("no signing key");
    uint8_t head[18 + sizeof ORIGIN - 1] = {0, 47, 13, 0, 0, 0, 0, 60};
    memcpy(head + 18, ORIGIN, sizeof ORIGIN - 1);
    gn_denial *dn = &zone->denial;
    dn->sign = sign_thunk, dn->ttl = 60, dn->nkeys = 2;
    common_buf_add(&table.arena, rr, rrlen, &dn->sigs_off);
    dn->sigs_len = (uint16_t)rrlen, dn->sigs_count = 1;
    for (unsigned k = 0; k < 2; k++) {
        dn->keys[k] = key;
        common_buf_add(&table.arena, head, sizeof head, &dn->head_off[k]);
        dn->head_len[k] = sizeof head;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    gn_opts *o = &table.opts;
    memcpy(o->plain[0], "\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00", 11);
    memcpy(o->plain[1], "\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00", 11);
    memcpy(o->ecs_head[0], "\x00\x00\x29\x04\xd0\x00\x00\x00\x00", 9);
    memcpy(o->ecs_head[1], "\x00\x00\x29\x04\xd0\x00\x00\x80\x00", 9);
    o->payload = 1232;
    o->ecs_enabled = 1;
    o->cookies = 1;
    o->max_v4 = 24, o->max_v6 = 56;
    static const uint8_t secret[GD_COOKIE_SECRET] = {1, 2, 3};
    if ((source.cookies = cookies_new(secret, 1024)) == NULL)
        fuzz_fail("no memory for the cookies");
    gd_rrl_config rc = {.rates = {2, 1, 1},
                        .window = 15,
                        .slip = 2,
                        .ipv4_prefix = 24,
                        .ipv6_prefix = 56,
                        .slots = 1024};
    if ((rrl = rrl_new(&rc)) == NULL)
        fuzz_fail("no memory for the RRL table");
    o->known[0] = 0xFF;
    static gn_zone zone;
    static uint8_t heads[1][80];
    static gn_entry entry[6];
    static const uint8_t soa[] = {0xC0, 0x00, 0, 6, 0, 1, 0, 0, 0, 60, 0, 6, 1, 'a', 0xC0, 0x00};
    common_buf_add(&table.arena, ORIGIN, sizeof ORIGIN - 1, &zone.origin_off);
    zone.origin_len = sizeof ORIGIN - 1;
    common_buf_add(&table.arena, soa, sizeof soa, &zone.soa_off);
    zone.soa_len = sizeof soa;
    zone.nptr = 2, zone.ptr[0] = 0, zone.ptr[1] = 14;
    zone.wildcards = zone.cuts = 1;
    zone.signed_ = 1; /* DNSSEC: a DO query gets a signed variant (static, class 0) or Python */
    table.zv = &zone;
    table.n_zones = 1;
    name_set(&table.zones, ORIGIN, sizeof ORIGIN - 1, 0);
    name_set(&table.names, ORIGIN, sizeof ORIGIN - 1, 0);
    name_set(&table.names, NAME("\x06static"), 0);
    name_set(&table.names,
             NAME("\x04"
                  "edge"),
             0);
    name_set(&table.names,
             NAME("\x01*\x04"
                  "edge"),
             0);
    name_set(&table.names, NAME("\x03sub"), 0);
    name_set(&table.cuts, NAME("\x03sub"), 0);
    memset(heads, 0x11, sizeof heads);
    table.heads = heads;
    table.n_heads = 1;
    static const char rr[] = "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x01";
    entry[0].body_len = 16;
    common_buf_add(&table.arena, rr, 16, &entry[0].body_off);
    entry[0].qtype = 1;
    entry[0].sheads = 1; /* its signed variant: two records (the second stands for the RRSIG) */
    common_buf_add(&table.arena, rr, 16, &entry[0].sbody_off);
    common_buf_add(&table.arena, rr, 16, &entry[0].sbody_off);
    entry[0].sbody_off -= 16, entry[0].sbody_len = 32;
    /* static's signed NODATA: one record after the SOA (standing for RRSIG SOA, NSEC...) */
    uint32_t nodata = 0, skip = 0;
    common_buf_add(&table.arena, "\x00\x01\x00\x10", 4, &nodata);
    common_buf_add(&table.arena, rr, 16, &skip);
    if (common_set_put(&table.nodata, &table.arena, (const uint8_t *)"\x06static" ORIGIN,
                       sizeof("\x06static" ORIGIN) - 1, 0, nodata) < 0)
        fuzz_fail("no memory for the table");
    entry[1] = entry[0]; /* www: a policy name (slot 0); its body is the NODATA SOA here */
    entry[1].kind = GN_POLICY;
    /* a referral for sub (kind REFERRAL, type 0 class 0), the wildcard's A, and alias A:
       a CNAME chain's record before www's policy answer */
    entry[2] = entry[0], entry[2].kind = GN_REFERRAL;
    entry[2].sbelow_heads = 1; /* signed below the cut: its pointers moved (cut - 2) on */
    entry[2].sbelow_off = entry[0].sbody_off, entry[2].sbelow_len = entry[0].sbody_len;
    set_denial(&zone, (const uint8_t *)rr, 16); /* NXDOMAIN with DO: the NSEC signed here */
    entry[3] = entry[0];
    entry[4] = entry[1], entry[4].chain = 1;
    table.ents = entry;
    table.n_ents = 6;
    /* big: 44 A records (704 bytes), over most queries' size: TC */
    entry[5] = entry[0];
    for (int i = 0; i < 44; i++)
        common_buf_add(&table.arena, rr, 16, i ? &(uint32_t){0} : &entry[5].body_off);
    entry[5].body_len = 44 * 16;
    if (common_set_put(&table.entries, &table.arena,
                       (const uint8_t *)"\x03big" ORIGIN "\x00\x01\x00\x01",
                       sizeof("\x03big" ORIGIN) - 1 + 4, 0, 5) < 0)
        fuzz_fail("no memory for the table");
    name_set(&table.names, NAME("\x03big"), 0);
    /* who answers: NSID on, CH TXT for id.server. (version: REFUSED) */
    static const char txt[] = "\xc0\x0c\x00\x10\x00\x03\x00\x00\x00\x00\x00\x05\x04"
                              "fuzz";
    o->nsid = 1;
    memcpy(table.ident.nsid,
           "\x00\x03\x00\x04"
           "fuzz",
           8);
    table.ident.nsid_len = 8;
    memcpy(table.ident.id_rec, txt, sizeof txt - 1);
    table.ident.id_len = sizeof txt - 1;
    table.ident.set = 1;
    if (common_set_put(&table.entries, &table.arena, (const uint8_t *)"\x03sub" ORIGIN "\0\0\0\0",
                       sizeof("\x03sub" ORIGIN) - 1 + 4, 0, 2) < 0 ||
        common_set_put(&table.entries, &table.arena,
                       (const uint8_t *)"\x01*\x04"
                                        "edge" ORIGIN "\x00\x01\x00\x01",
                       sizeof("\x01*\x04"
                              "edge" ORIGIN) -
                           1 + 4,
                       0, 3) < 0 ||
        common_set_put(&table.entries, &table.arena,
                       (const uint8_t *)"\x05"
                                        "alias" ORIGIN "\x00\x01\x00\x01",
                       sizeof("\x05"
                              "alias" ORIGIN) -
                           1 + 4,
                       0, 4) < 0)
        fuzz_fail("no memory for the table");
    name_set(&table.names,
             NAME("\x05"
                  "alias"),
             0);
    if (common_set_put(&table.entries, &table.arena,
                       (const uint8_t *)"\x06static" ORIGIN "\x00\x01\x00\x01",
                       sizeof("\x06static" ORIGIN) - 1 + 4, 0, 0) < 0 ||
        common_set_put(&table.entries, &table.arena,
                       (const uint8_t *)"\x03www" ORIGIN "\x00\x01\x00\x01",
                       sizeof("\x03www" ORIGIN) - 1 + 4, 0, 1) < 0)
        fuzz_fail("no memory for the table");
    name_set(&table.names, NAME("\x03www"), 0);
    /* decisions: IPv4 0/1 -> class 0 (an answer, pool 0), 128/1 -> class 1 (NODATA), IPv6
       all class 0 */
    /* and what is picked per query: 64/2 -> class 4 (sticky over classes 3 and 0), IPv6 ->
       class 2 (a draw over classes 3 and 1); class 3 rotates 2 of its 3 records */
    static const uint32_t start4[3] = {0, 0x40000000u, 0x80000000u}, cls4[3] = {0, 4, 1};
    static const uint32_t cls6[1] = {2};
    static const uint8_t start6[1][16] = {{0}};
    static gn_policy pv[1];
    static gn_class cv[5];
    static gn_pick picks[4] = {{.bound = 1ull << 52, .cls = 3},
                               {.bound = 1ull << 53, .cls = 1},
                               {.weight = 1.0, .key = {1}, .cls = 3},
                               {.weight = 2.5, .key = {2}, .cls = 0}};
    static uint64_t rot[1];
    static uint8_t dheads[1][80];
    pv[0] = (gn_policy){.r = {start4, cls4, 3, start6, cls6, 1}, .first = 0, .n = 5, .ready = 1};
    /* split by measured networks (csrc/answer/split.c): 192/2 measured (group 1), where
       class 1 becomes 0 and class 0 becomes 3; scope at least /24 (IPv4) */
    static const uint32_t ostart4[2] = {0, 0xC0000000u}, ogroup4[2] = {0, 1};
    static const uint32_t ogroup6[1] = {0};
    static const uint64_t pkeys[2] = {1ull << 32, 1ull << 32 | 1};
    static const uint32_t pcls[2] = {3, 0};
    pv[0].split = 1, pv[0].floor4 = 24, pv[0].floor6 = 0;
    pv[0].ov = (gd_ranges){ostart4, ogroup4, 2, start6, ogroup6, 1};
    pv[0].pair_key = pkeys, pv[0].pair_cls = pcls, pv[0].n_pairs = 2;
    if (!geo_ranges_valid(&pv[0].ov))
        fuzz_fail("bad overlay");
    if (!geo_ranges_valid(&pv[0].r))
        fuzz_fail("bad ranges");
    common_buf_add(&decisions.arena, rr, 16, &cv[0].body_off);
    cv[0].body_len = 16, cv[0].pool = 0;
    common_buf_add(&decisions.arena, rr, 16, &cv[0].sbody_off);
    common_buf_add(&decisions.arena, rr, 16, &cv[0].sbody_off);
    cv[0].sbody_off -= 16, cv[0].sbody_len = 32, cv[0].sheads = 1;
    cv[3].sheads = 1; /* rotating: never signed natively, whatever it says */
    cv[1].pool = -1;
    cv[1].sheads = 1; /* NODATA signed: one record after the entry's SOA */
    common_buf_add(&decisions.arena, rr, 16, &cv[1].sbody_off);
    cv[1].sbody_len = 16;
    cv[2] = (gn_class){.kind = GN_DRAW, .first = 0, .n = 2};
    common_buf_add(&decisions.arena, rr, 16, &cv[3].body_off);
    common_buf_add(&decisions.arena, rr, 16, &cv[3].body_off);
    common_buf_add(&decisions.arena, rr, 16, &cv[3].body_off);
    cv[3].body_off -= 32, cv[3].body_len = 48, cv[3].rot = 1, cv[3].rot_max = 2;
    cv[3].rot_len = 16;
    cv[4] = (gn_class){.kind = GN_STICKY, .first = 2, .n = 2, .bits4 = 24, .bits6 = 56};
    decisions.picks = picks, decisions.n_picks = 4;
    decisions.rot = rot, decisions.n_rot = 1;
    memset(dheads, 0x21, sizeof dheads); /* no TC bit */
    decisions.pv = pv, decisions.n_policies = 1;
    decisions.cv = cv, decisions.n_classes = 5;
    decisions.heads = dheads, decisions.n_heads = 1;
    return 0;
}

static void check_parse(const uint8_t *data, size_t size)
{
    gn_query q;
    memset(&q, 0xA5, sizeof q);
    (void)wire_ecs_valid(data, size);
    if (wire_parse(data, size, &q) != 0)
        return;
    FUZZ_CHECK(q.qend <= size && q.qend >= 12 + 1 + 4);
    FUZZ_CHECK(q.nlen >= 1 && q.nlen <= GN_MAX_NAME && q.lname[q.nlen - 1] == 0);
    for (size_t i = 0; i < q.nlen; i++)
        FUZZ_CHECK(q.lname[i] < 'A' || q.lname[i] > 'Z');
    FUZZ_CHECK(memcmp(q.key, q.lname, q.nlen) == 0);
    FUZZ_CHECK(q.variant < 4 && (q.opt == 0 || q.opt == 1));
    if (q.ecs != NULL) {
        FUZZ_CHECK(q.ecs >= data + q.qend && q.ecs + q.ecs_len <= data + size);
        (void)wire_ecs_valid(q.ecs, q.ecs_len);
    }
    if (q.cookie != NULL)
        FUZZ_CHECK(q.cookie >= data + q.qend && q.cookie + q.cookie_len <= data + size);
    if (!q.opt)
        FUZZ_CHECK(q.ecs == NULL && q.cookie == NULL && q.qend == size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_parse(data, size);
    static uint8_t out[1300];
    for (size_t cap = 0; cap <= sizeof out; cap += sizeof out / 2) {
        uint64_t ckey = 0;
        uint64_t pkey = 0;
        source.family = (size & 1) ? 4 : 6;    /* decisions by either family's source */
        source.addr[0] = size & 2 ? 192 : 64;  /* a fixed class or the sticky one */
        table.signed_until = size & 4 ? 1 : 0; /* the signing week over, or no limit */
        size_t n = answer_reply(&table, &decisions, &source, data, size, out, cap, &ckey, &pkey);
        if (n == 0)
            continue;
        gn_query q;
        FUZZ_CHECK(wire_parse(data, size, &q) == 0);
        FUZZ_CHECK(n <= cap && n <= (q.opt ? 1232u : 512u) && n >= q.qend);
        FUZZ_CHECK(pkey == 0 || pkey == GN_PKEY(0, 0));
        FUZZ_CHECK(memcmp(out, data, 2) == 0 && memcmp(out + 12, data + 12, q.qend - 12) == 0);
        /* outside the zone or IN (index 1, no zone): CH TXT or REFUSED */
        FUZZ_CHECK(ckey >> 32 == 1 || (ckey >> 32 == 2 && ((ckey & 0xFF) == 5 || q.qclass == 3)));
        if (out[2] & 0x02) /* TC: the question, our OPT */
            FUZZ_CHECK(out[5] == 1 && !out[6] && !out[7] && !out[8] && !out[9] && !out[10]);
        uint64_t akey = 0;
        size_t m = rrl_limit(&table, rrl, &source, data, size, out, n, ckey, 1.0, &akey);
        FUZZ_CHECK(m <= n && (m == n || akey != 0) && (m == 0 || m >= q.qend));
    }
    return 0;
}
