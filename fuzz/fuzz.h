/* What fuzz/driver.c and every harness share (libFuzzer's entry points, and a check). */
#ifndef GD_FUZZ_H
#define GD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* optional; weak so a harness need not define it */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A harness's own invariant failed: save the input, abort (with libFuzzer: abort only). */
void fuzz_fail(const char *why);
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__ ": " #cond);                                                        \
    } while (0)

#endif
