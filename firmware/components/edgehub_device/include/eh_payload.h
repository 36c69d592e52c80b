/*
 * eh_payload: ring records -> the MQTT message that carries them.
 *
 * One record goes out as a single reading, several as one bulk "readings" message (as many as fit
 * the buffer, oldest first). A record's time is sent when it is known: taken from the synchronised
 * clock, or taken before SNTP answered in this same boot (uptime + the boot's epoch, once known).
 * A reading taken before the clock was set, in a boot that ended before it was, has no knowable time
 * and goes without "timestamp": the edge then stamps its receive time.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "eh_json.h"
#include "eh_ring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* boot_epoch_ms: epoch milliseconds at which this boot started, or -1 while the clock is unset. */
void eh_payload_reading(const eh_record_t *rec, uint16_t current_boot, int64_t boot_epoch_ms, eh_reading_t *out);

/* The message for records[0..count); *used tells how many it carries. Length or EH_JSON_ERR_*. */
int eh_payload_build(char *buf, size_t cap, const char *device_id, const eh_record_t *records, size_t count,
                     uint16_t current_boot, int64_t boot_epoch_ms, size_t *used);

#ifdef __cplusplus
}
#endif
