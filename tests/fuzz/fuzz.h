/* fuzz: what every fuzz target shares.
 *
 * A target is one libFuzzer entry point, LLVMFuzzerTestOneInput, built two ways: linked with
 * driver.c (a plain main() that replays a corpus and mutates it for a bounded time: the ctest
 * smoke run) and, with clang and FARM_LIBFUZZER=ON, linked with libFuzzer itself.
 *
 * Targets check invariants (round trips, "a blob we protected passes the MAC") and stop with
 * FUZZ_CHECK, which aborts: a broken invariant is a crash like any other. Messages name the
 * invariant, never key or input bytes. */
#ifndef FARM_FUZZ_H
#define FARM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The libFuzzer entry point each fuzz_<name>.c defines. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, what)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, (what));          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Lengths beyond this are cut: every parser here refuses far shorter input long before, and
 * long inputs only slow the run down. */
#define FUZZ_INPUT_MAX (64 * 1024)

#endif
