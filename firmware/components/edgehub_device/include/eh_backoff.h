/*
 * eh_backoff: reconnect delays for Wi-Fi and MQTT, exponential with jitter.
 *
 * The n-th consecutive failure waits a random time in [d/2, d], where d = min(cap, first * 2^n).
 * The random half keeps a plant's devices from reconnecting in lock-step after a broker or access
 * point restart (hundreds of TLS handshakes in the same second); the fixed half keeps a device from
 * retrying in a tight loop. Reset after a connection that worked.
 */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t first_ms;
    uint32_t cap_ms;
    uint32_t attempt;
    uint32_t (*random)(void *ctx); /* uniform 32-bit random numbers (esp_random on the device) */
    void *random_ctx;
} eh_backoff_t;

void eh_backoff_init(eh_backoff_t *b, uint32_t first_ms, uint32_t cap_ms, uint32_t (*random)(void *ctx),
                     void *random_ctx);

/* The delay before the next attempt; counts one more failure. */
uint32_t eh_backoff_next_ms(eh_backoff_t *b);

void eh_backoff_reset(eh_backoff_t *b);

#ifdef __cplusplus
}
#endif
