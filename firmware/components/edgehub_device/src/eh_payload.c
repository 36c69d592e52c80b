/* eh_payload: see eh_payload.h. */
#include "eh_payload.h"

#include <string.h>

#define MAX_BULK 64 /* readings in one message: ~100 bytes each, a 4-8 KiB buffer holds 40-80 */

void eh_payload_reading(const eh_record_t *rec, uint16_t current_boot, int64_t boot_epoch_ms, eh_reading_t *out)
{
    memset(out, 0, sizeof *out);
    out->sensor_type = rec->sensor_type;
    out->unit = rec->unit;
    out->value = rec->value;
    if (rec->flags & EH_RING_HAS_TIME) {
        out->ts_ms = rec->ts_ms;
        out->has_ts = 1;
    } else if ((rec->flags & EH_RING_UPTIME) && rec->boot == current_boot && boot_epoch_ms >= 0) {
        out->ts_ms = boot_epoch_ms + rec->ts_ms;
        out->has_ts = 1;
    }
}

int eh_payload_build(char *buf, size_t cap, const char *device_id, const eh_record_t *records, size_t count,
                     uint16_t current_boot, int64_t boot_epoch_ms, size_t *used)
{
    eh_reading_t readings[MAX_BULK];
    *used = 0;
    if (count == 0) {
        return EH_JSON_ERR_ARG;
    }
    if (count > MAX_BULK) {
        count = MAX_BULK;
    }
    for (size_t i = 0; i < count; i++) {
        eh_payload_reading(&records[i], current_boot, boot_epoch_ms, &readings[i]);
    }
    if (count == 1) {
        int n = eh_json_reading(buf, cap, device_id, &readings[0]);
        *used = n >= 0;
        return n;
    }
    return eh_json_bulk(buf, cap, device_id, readings, count, used);
}
