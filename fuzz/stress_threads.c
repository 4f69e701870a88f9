/* The shared tables under concurrent native threads (csrc/rrl/rrl.c, csrc/cookies/cookies.c):
   built by fuzz/run.sh with ThreadSanitizer. One RRL account at a frozen clock must answer
   exactly `rate` responses in all, whichever threads spend them (a per-thread or racy table
   would answer more); a flood of other keys in the other slots of a small table (each
   taking its slot over from the last) runs beside it. The
   cookie memo, shared too, must hand every thread a valid cookie for its client.
   usage: stress_threads [THREADS] [ITERATIONS] */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cookies/cookies.h"
#include "rrl/rrl.h"

#define RATE 1000

static gd_rrl *rrl;
static gd_cookies *jar;
static const uint8_t secret[16] = "stress secret 16";
static atomic_long answered, bad_cookies;
static long iterations = 50000;

static void *worker(void *arg)
{
    long id = (long)arg;
    const uint8_t flooded[4] = {192, 0, 2, 7}, name[] = "\3www\3geo\4test\0\0\1\0\1";
    uint8_t other[4] = {10, 0, 0, 0}, client[8] = {0};
    memcpy(client, &id, sizeof id < 8 ? sizeof id : 8);
    long ok = 0;
    size_t flooded_slot = rrl_slot(rrl, 4, flooded, GD_RRL_ANSWER, name, sizeof name - 1);
    for (long i = 0; i < iterations; i++) {
        if (rrl_verdict(rrl, 4, flooded, GD_RRL_ANSWER, name, sizeof name - 1, 50.0) == GD_RRL_OK)
            ok++;
        other[1] = (uint8_t)i, other[2] = (uint8_t)(i >> 8); /* other networks, other slots */
        if (rrl_slot(rrl, 4, other, GD_RRL_NXDOMAIN, name, 4) != flooded_slot)
            rrl_verdict(rrl, 4, other, GD_RRL_NXDOMAIN, name, 4, 50.0 + (double)i);
        if (i % 16 == 0) {
            uint8_t out[GD_COOKIE_OPTION];
            client[7] = (uint8_t)(i >> 4);
            int r = cookies_answer(jar, client, 8, flooded, 4, 1700000000 + i / 1000, out, NULL);
            if (r != GD_COOKIE_NEW || memcmp(out + 4, client, 8) != 0 ||
                !cookies_valid(secret, out + 4, 24, flooded, 4, 1700000000 + i / 1000))
                atomic_fetch_add(&bad_cookies, 1);
        }
    }
    atomic_fetch_add(&answered, ok);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    if (argc > 2)
        iterations = atol(argv[2]);
    if (threads < 1 || threads > 64)
        threads = 4;
    gd_rrl_config cfg = {.rates = {RATE, RATE, RATE},
                         .window = 15,
                         .slip = 2,
                         .ipv4_prefix = 24,
                         .ipv6_prefix = 56,
                         .slots = 64};
    rrl = rrl_new(&cfg);
    jar = cookies_new(secret, 4);
    if (!rrl || !jar)
        return 2;
    pthread_t t[64];
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    long got = atomic_load(&answered), bad = atomic_load(&bad_cookies);
    printf("stress: %d threads x %ld: %ld answered of one account (want %d), %ld bad cookies\n",
           threads, iterations, got, RATE, bad);
    rrl_free(rrl);
    cookies_free(jar);
    return got == RATE && bad == 0 ? 0 : 1;
}
