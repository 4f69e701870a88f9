/* Fuzz the native RRL table (csrc/rrl/rrl.c): any settings, any sequence of sources,
   kinds, names (up to 64 KiB, past the stack buffer) and clock steps, in tables of 1 to 128
   slots so keys collide and take slots over. Input: settings (12 bytes) | exempt network
   (18) | operations: family (1) | address (16) | kind (1) | name length (2) | name | step
   (1). Checks: a bad setting is refused, a verdict is one of the four, an unlimited kind or
   an exempt source is always OK, log_only never slips or drops, slip 0 never slips. */
#include <string.h>

#include "rrl/rrl.h"
#include "fuzz.h"

typedef struct {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t byte(reader *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader in = {data, size};
    gd_rrl_config cfg;
    memset(&cfg, 0, sizeof cfg);
    for (int k = 0; k < 3; k++)
        cfg.rates[k] = byte(&in) % 8 == 0 ? 0 : byte(&in) / 16.0 + 0.5;
    cfg.window = byte(&in) / 8.0;
    cfg.slip = byte(&in) % 4;
    cfg.ipv4_prefix = byte(&in) % 40 - 2; /* some out of range */
    cfg.ipv6_prefix = byte(&in) % 140 - 2;
    uint8_t flags = byte(&in);
    cfg.log_only = flags & 1;
    cfg.slots = (size_t)1 << (byte(&in) % 8);
    if (flags & 2)
        cfg.slots += 1; /* not a power of two: refused */
    gd_net net = {.family = byte(&in) & 1 ? 6 : 4};
    for (int i = 0; i < 16; i++)
        net.addr[i] = byte(&in);
    net.prefix = byte(&in) % (net.family == 4 ? 33 : 129);
    cfg.exempt = &net;
    cfg.n_exempt = flags & 4 ? 1 : 0;
    gd_rrl *r = rrl_new(&cfg);
    int bad = (flags & 2 && cfg.slots != 2) || cfg.ipv4_prefix < 0 || cfg.ipv4_prefix > 32 ||
              cfg.ipv6_prefix < 0 || cfg.ipv6_prefix > 128;
    FUZZ_CHECK((r == NULL) == bad);
    if (r == NULL)
        return 0;
    FUZZ_CHECK(rrl_table_bytes(r) >= rrl_slot(r, 4, net.addr, 0, NULL, 0));
    double now = 1000.0;
    uint64_t limited = 0;
    while (in.n) {
        int family = byte(&in) & 1 ? 6 : 4;
        uint8_t addr[16];
        for (int i = 0; i < 16; i++)
            addr[i] = byte(&in);
        if (family == 6 && (addr[15] & 1)) /* an IPv4-mapped source now and then */
            memcpy(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
        int kind = byte(&in) % 5 - 1; /* -1 and 3: not kinds */
        size_t namelen = (size_t)byte(&in) << 8;
        namelen |= byte(&in);
        if (namelen > in.n)
            namelen = in.n;
        const uint8_t *name = in.p;
        in.p += namelen, in.n -= namelen;
        uint8_t step = byte(&in);
        now += step < 200 ? 0.0 : (step - 200) / 4.0;
        int v = rrl_verdict(r, family, addr, kind, name, namelen, now);
        FUZZ_CHECK(v >= GD_RRL_OK && v <= GD_RRL_LOG_ONLY);
        size_t slot = rrl_slot(r, family, addr, kind, name, namelen);
        FUZZ_CHECK(slot < cfg.slots);
        if (kind < 0 || kind > 2 || cfg.rates[kind] == 0)
            FUZZ_CHECK(v == GD_RRL_OK);
        if (cfg.log_only)
            FUZZ_CHECK(v == GD_RRL_OK || v == GD_RRL_LOG_ONLY);
        else
            FUZZ_CHECK(v != GD_RRL_LOG_ONLY);
        if (cfg.slip == 0)
            FUZZ_CHECK(v != GD_RRL_SLIP);
        if (cfg.slip == 1)
            FUZZ_CHECK(v != GD_RRL_DROP);
        if (cfg.n_exempt && net.family == family) {
            int p = net.prefix, in_net = 1;
            for (int i = 0; p > 0; i++, p -= 8) {
                uint8_t m = p >= 8 ? 0xff : (uint8_t)(0xff00 >> p);
                if ((addr[i] & m) != (net.addr[i] & m))
                    in_net = 0;
            }
            if (in_net)
                FUZZ_CHECK(v == GD_RRL_OK);
        }
        limited += v != GD_RRL_OK;
    }
    int family;
    uint8_t last[16];
    FUZZ_CHECK(rrl_take_limited(r, &family, last) == limited);
    FUZZ_CHECK(rrl_take_limited(r, &family, last) == 0);
    rrl_free(r);
    return 0;
}
