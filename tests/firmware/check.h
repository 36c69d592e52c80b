/* A minimal test harness for the firmware's host tests: CHECK records a failure and goes on. */
#pragma once

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        check_count++;                                                               \
        if (!(cond)) {                                                               \
            check_failures++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_STR(got, want)                                                                          \
    do {                                                                                              \
        const char *got_ = (got), *want_ = (want);                                                    \
        check_count++;                                                                                \
        if (strcmp(got_, want_) != 0) {                                                               \
            check_failures++;                                                                         \
            fprintf(stderr, "%s:%d: got\n  %s\nwanted\n  %s\n", __FILE__, __LINE__, got_, want_);     \
        }                                                                                             \
    } while (0)

#define CHECK_INT(got, want)                                                                         \
    do {                                                                                             \
        long long got_ = (long long)(got), want_ = (long long)(want);                                \
        check_count++;                                                                               \
        if (got_ != want_) {                                                                         \
            check_failures++;                                                                        \
            fprintf(stderr, "%s:%d: %s is %lld, wanted %lld\n", __FILE__, __LINE__, #got, got_, want_); \
        }                                                                                            \
    } while (0)

static inline int check_report(const char *name)
{
    if (check_failures) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, check_failures, check_count);
        return 1;
    }
    printf("%s: %d checks passed\n", name, check_count);
    return 0;
}

/* xorshift32: deterministic test data without libc's rand(). */
static inline unsigned xorshift32(unsigned *state)
{
    unsigned x = *state ? *state : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}
