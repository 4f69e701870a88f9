/* What the native cookie and RRL code costs per call (ns), for bench/RESULTS.md and the
   issue 14 budget (gdnsd answers in about 3 us of CPU per query).
   build: gcc -std=c11 -O2 -D_GNU_SOURCE -Icsrc -o /tmp/abuse_cost bench/abuse_cost.c \
            csrc/common/siphash.c csrc/cookies/cookies.c csrc/rrl/rrl.c
   run:   /tmp/abuse_cost */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cookies/cookies.h"
#include "rrl/rrl.h"
#include "common/siphash.h"

#ifndef N
#define N 4000000
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t x = 88172645463325252ULL;
static uint64_t rnd(void)
{
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    return x * 2685821657736338717ULL;
}

int main(void)
{
    static const uint8_t name[] = "\3www\3geo\4test\0\0\1\0\1", secret[16] = "0123456789abcdef";
    volatile uint64_t sink = 0;
    uint8_t addr[16] = {192, 0, 2, 7}, out[GD_COOKIE_OPTION], body[24];
    double t;

    t = now_s();
    for (long i = 0; i < N; i++)
        sink += common_siphash24(secret, name, 32);
    printf("siphash24, 32 bytes:              %6.1f ns\n", (now_s() - t) * 1e9 / N);

    gd_rrl_config cfg = {
        .rates = {1e9, 1e9, 1e9}, .window = 15, .slip = 2, .ipv4_prefix = 24, .ipv6_prefix = 56};
    gd_rrl *r = rrl_new(&cfg);
    t = now_s();
    for (long i = 0; i < N; i++)
        sink += rrl_verdict(r, 4, addr, 0, name, 19, 1.0 + i * 1e-6);
    printf("rrl verdict, one account:         %6.1f ns\n", (now_s() - t) * 1e9 / N);
    t = now_s();
    for (long i = 0; i < N; i++) {
        uint64_t v = rnd();
        memcpy(addr, &v, 4);
        sink += rrl_verdict(r, 4, addr, 0, name, 19, 1.0 + i * 1e-6);
    }
    printf("rrl verdict, random sources:      %6.1f ns\n", (now_s() - t) * 1e9 / N);

    gd_cookies *c = cookies_new(secret, 0);
    memset(body, 7, 8);
    t = now_s();
    for (long i = 0; i < N; i++)
        sink += cookies_answer(c, body, 8, addr, 4, 1700000000, out, 0);
    printf("cookie, client cookie, memo hit:  %6.1f ns\n", (now_s() - t) * 1e9 / N);
    memcpy(body + 8, out + 12, 16);
    t = now_s();
    for (long i = 0; i < N; i++)
        sink += cookies_answer(c, body, 24, addr, 4, 1700000000, out, 0);
    printf("cookie, our server cookie back:   %6.1f ns\n", (now_s() - t) * 1e9 / N);
    t = now_s();
    for (long i = 0; i < N; i++) {
        uint64_t v = rnd();
        memcpy(body, &v, 8);
        sink += cookies_answer(c, body, 8, addr, 4, 1700000000, out, 0);
    }
    printf("cookie, new client each query:    %6.1f ns\n", (now_s() - t) * 1e9 / N);
    rrl_free(r);
    cookies_free(c);
    return sink == 42;
}
