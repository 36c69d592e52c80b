/* eh_backoff: see eh_backoff.h. */
#include "eh_backoff.h"

void eh_backoff_init(eh_backoff_t *b, uint32_t first_ms, uint32_t cap_ms, uint32_t (*random)(void *ctx),
                     void *random_ctx)
{
    b->first_ms = first_ms ? first_ms : 1;
    b->cap_ms = cap_ms < b->first_ms ? b->first_ms : cap_ms;
    b->attempt = 0;
    b->random = random;
    b->random_ctx = random_ctx;
}

uint32_t eh_backoff_next_ms(eh_backoff_t *b)
{
    uint64_t d = b->first_ms;
    for (uint32_t i = 0; i < b->attempt && d < b->cap_ms; i++) {
        d <<= 1; /* stops growing at the cap, so no overflow however many failures */
    }
    if (d > b->cap_ms) {
        d = b->cap_ms;
    }
    if (b->attempt < UINT32_MAX) {
        b->attempt++;
    }
    uint32_t half = (uint32_t)(d / 2);
    uint32_t span = (uint32_t)d - half; /* [half, d] has span + 1 values */
    return half + (uint32_t)((uint64_t)b->random(b->random_ctx) % ((uint64_t)span + 1));
}

void eh_backoff_reset(eh_backoff_t *b) { b->attempt = 0; }
