/* A standalone fuzz driver for libFuzzer-style harnesses (LLVMFuzzerTestOneInput), for
   machines with GCC and no libFuzzer: runs every seed, then random and mutated inputs for
   a time or a count. Built with -fsanitize=address,undefined by fuzz/run.sh; an ASan/UBSan
   report, or a harness's own check (fuzz_fail), writes the input to
   $FUZZ_OUT/crash-<harness>-<pid>.bin and exits non-zero.

   usage: driver [-seconds S] [-runs N] [-seed X] [-max_len L] SEED_FILE_OR_DIR...
   (-runs 0: the seeds alone, e.g. to replay a saved finding)
   Each input is copied into a heap block of exactly its size, so a read one past the end
   is an ASan report. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

/* the sanitizer runtime's, when linked in (weak: the driver also builds without one, for
   coverage runs) */
__attribute__((weak)) void __sanitizer_set_death_callback(void (*callback)(void));

static uint8_t **seeds;
static size_t *seed_len, n_seeds, cap_seeds;
static const uint8_t *current;
static size_t current_len;
static const char *harness = "harness";

static void save_current(void)
{
    const char *dir = getenv("FUZZ_OUT");
    char path[4096];
    snprintf(path, sizeof path, "%s/crash-%s-%d.bin", dir ? dir : ".", harness, (int)getpid());
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        if (current_len)
            fwrite(current, 1, current_len, f);
        fclose(f);
        fprintf(stderr, "fuzz: the input (%zu bytes) is in %s\n", current_len, path);
    }
}

void fuzz_fail(const char *why)
{
    fprintf(stderr, "fuzz: %s: check failed: %s\n", harness, why);
    save_current();
    abort();
}

static void add_seed(const uint8_t *p, size_t n)
{
    if (n_seeds == cap_seeds) {
        cap_seeds = cap_seeds ? cap_seeds * 2 : 64;
        seeds = realloc(seeds, cap_seeds * sizeof *seeds);
        seed_len = realloc(seed_len, cap_seeds * sizeof *seed_len);
        if (!seeds || !seed_len)
            abort();
    }
    seeds[n_seeds] = malloc(n ? n : 1);
    if (!seeds[n_seeds])
        abort();
    memcpy(seeds[n_seeds], p, n);
    seed_len[n_seeds++] = n;
}

static void load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            if (!buf)
                abort();
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    add_seed(buf, n);
    free(buf);
}

static void load(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        load_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        load_file(sub);
    }
    closedir(d);
}

/* xorshift64*: fast, and reproducible from -seed */
static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}
static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static const uint8_t INTERESTING[] = {0, 1, 2, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xfe, 0xff};

/* One mutation of buf[0..*n) in place (cap bytes available). */
static void mutate_once(uint8_t *buf, size_t *n, size_t cap)
{
    size_t len = *n;
    switch (below(9)) {
    case 0:
        if (len)
            buf[below(len)] ^= (uint8_t)(1u << below(8));
        break;
    case 1:
        if (len)
            buf[below(len)] = (uint8_t)rnd();
        break;
    case 2:
        if (len)
            buf[below(len)] = INTERESTING[below(sizeof INTERESTING)];
        break;
    case 3: /* a 16-bit field (counts, lengths, types) to an edge value */
        if (len >= 2) {
            size_t at = below(len - 1);
            static const uint16_t edge[] = {0, 1, 2, 0x7fff, 0x8000, 0xffff, 41, 10, 8};
            uint16_t v = edge[below(sizeof edge / sizeof edge[0])];
            buf[at] = (uint8_t)(v >> 8), buf[at + 1] = (uint8_t)v;
        }
        break;
    case 4: /* insert random bytes */
        if (len < cap) {
            size_t at = below(len + 1), k = 1 + below(cap - len < 16 ? cap - len : 16);
            memmove(buf + at + k, buf + at, len - at);
            for (size_t i = 0; i < k; i++)
                buf[at + i] = (uint8_t)rnd();
            *n = len + k;
        }
        break;
    case 5: /* delete a range */
        if (len) {
            size_t at = below(len), k = 1 + below(len - at);
            memmove(buf + at, buf + at + k, len - at - k);
            *n = len - k;
        }
        break;
    case 6:
        *n = below(len + 1);
        break; /* truncate */
    case 7:    /* splice a piece of another seed in */
        if (n_seeds) {
            size_t s = below(n_seeds), sl = seed_len[s];
            if (sl) {
                size_t from = below(sl), k = 1 + below(sl - from), at = below(len + 1);
                if (at + k > cap)
                    k = cap - at;
                memcpy(buf + at, seeds[s] + from, k);
                if (at + k > len)
                    *n = at + k;
            }
        }
        break;
    default: /* duplicate a range onto another place */
        if (len >= 2) {
            size_t from = below(len), k = 1 + below(len - from), at = below(len);
            if (at + k > cap)
                k = cap - at;
            memmove(buf + at, buf + from, k);
            if (at + k > len)
                *n = at + k;
        }
    }
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run_one(const uint8_t *p, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1); /* exactly n bytes: one past is an ASan report */
    if (!copy)
        abort();
    memcpy(copy, p, n);
    current = copy, current_len = n;
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
}

int main(int argc, char **argv)
{
    double seconds = 10;
    long long runs = -1; /* -runs N: exactly N inputs after the seeds (0: the seeds alone) */
    unsigned long long seed = (unsigned long long)time(NULL);
    size_t max_len = 4096;
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *slash = strrchr(argv[0], '/');
    harness = slash ? slash + 1 : argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "-runs") && i + 1 < argc)
            runs = strtoll(argv[++i], 0, 10);
        else if (!strcmp(argv[i], "-seed") && i + 1 < argc)
            seed = strtoull(argv[++i], 0, 10);
        else if (!strcmp(argv[i], "-max_len") && i + 1 < argc)
            max_len = strtoul(argv[++i], 0, 10);
        else
            load(argv[i]);
    }
    if (__sanitizer_set_death_callback != NULL)
        __sanitizer_set_death_callback(save_current);
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    for (size_t i = 0; i < n_seeds; i++)
        run_one(seeds[i], seed_len[i]);
    size_t big = max_len;
    for (size_t i = 0; i < n_seeds; i++)
        if (seed_len[i] > big)
            big = seed_len[i];
    uint8_t *buf = malloc(big + 1);
    if (!buf)
        abort();
    double start = seconds_now(), deadline = start + seconds;
    long long done = 0;
    while (runs >= 0 ? done < runs : seconds_now() < deadline) {
        for (int k = 0; k < 256 && (runs < 0 || done < runs); k++, done++) {
            size_t n;
            if (n_seeds == 0 || below(10) == 0) { /* random bytes */
                n = below(max_len < 600 ? max_len + 1 : 601);
                for (size_t i = 0; i < n; i++)
                    buf[i] = (uint8_t)rnd();
            } else {
                size_t s = below(n_seeds);
                n = seed_len[s];
                memcpy(buf, seeds[s], n);
                size_t cap = n > max_len ? n : max_len;
                for (size_t m = 1 + below(8); m; m--)
                    mutate_once(buf, &n, cap);
            }
            run_one(buf, n);
        }
    }
    free(buf);
    printf("fuzz: %s: %llu seeds, %llu runs in %.1f s (seed %llu), 0 findings\n", harness,
           (unsigned long long)n_seeds, (unsigned long long)done + n_seeds, seconds_now() - start,
           seed);
    return 0;
}
