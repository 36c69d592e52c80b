/* Reconnect backoff (eh_backoff.c): growth, cap, jitter bounds, reset, no overflow. */
#include "check.h"
#include "eh_backoff.h"

static uint32_t fixed;
static uint32_t fixed_random(void *ctx)
{
    (void)ctx;
    return fixed;
}

static uint32_t xs_random(void *ctx) { return xorshift32(ctx); }

int main(void)
{
    eh_backoff_t b;
    eh_backoff_init(&b, 500, 60000, fixed_random, NULL);
    fixed = 0; /* the lowest draw: half of each step */
    CHECK_INT(eh_backoff_next_ms(&b), 250);
    CHECK_INT(eh_backoff_next_ms(&b), 500);
    CHECK_INT(eh_backoff_next_ms(&b), 1000);
    eh_backoff_reset(&b);
    fixed = 0xFFFFFFFFu; /* the highest draw: the full step */
    CHECK_INT(eh_backoff_next_ms(&b), (0xFFFFFFFFu % 251) + 250);
    for (int i = 0; i < 1000; i++) {
        eh_backoff_next_ms(&b); /* a week offline: no overflow, stays at the cap */
    }
    fixed = 0;
    CHECK_INT(eh_backoff_next_ms(&b), 30000);

    /* Random draws stay in [d/2, d] and spread out: devices do not reconnect in lock-step. */
    unsigned state = 42;
    eh_backoff_init(&b, 1000, 8000, xs_random, &state);
    uint32_t lo = UINT32_MAX, hi = 0;
    for (int round = 0; round < 2000; round++) {
        eh_backoff_reset(&b);
        for (uint32_t step = 0; step < 5; step++) {
            uint32_t d = 1000u << step > 8000 ? 8000 : 1000u << step;
            uint32_t got = eh_backoff_next_ms(&b);
            CHECK(got >= d / 2 && got <= d);
            if (step == 4) {
                lo = got < lo ? got : lo;
                hi = got > hi ? got : hi;
            }
        }
    }
    CHECK(lo < 4200 && hi > 7800);

    eh_backoff_init(&b, 0, 0, fixed_random, NULL); /* nonsense bounds become 1 ms, not a busy loop of 0 */
    CHECK(eh_backoff_next_ms(&b) <= 1);
    return check_report("test_backoff");
}
