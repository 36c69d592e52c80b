/*
 * eh_json: the device -> edge payloads of ARCHITECTURE.md, encoded without a JSON library.
 *
 *   one reading  {"device_id":"…","sensor_type":"…","value":50.21,"unit":"%","timestamp":"2025-07-09T07:15:02.000Z"}
 *   bulk         {"device_id":"…","readings":[{"sensor_type":"…","value":…,"unit":"…","timestamp":"…"},…]}
 *
 * Numbers are written in the shortest form that reads back as the same double (so 50.21 stays
 * "50.21", not "50.210000000000001"), never as NaN or Infinity, which JSON does not have and the
 * edge rejects. Strings are escaped for JSON; bytes that are not valid UTF-8 become U+FFFD, because
 * the edge refuses a payload that is not UTF-8. The timestamp is left out when the device does not
 * know the time; the edge then stamps the time it received the message.
 *
 * Every function writes a NUL-terminated string and returns its length, or a negative EH_JSON_*
 * error; nothing is written past `cap` bytes.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EH_JSON_ERR_SPACE (-1)      /* the buffer is too small */
#define EH_JSON_ERR_NONFINITE (-2)  /* NaN or infinity: not representable in JSON */
#define EH_JSON_ERR_ARG (-3)        /* NULL or empty name, or a timestamp outside 1970-2099 */

/* Longest timestamp text: "2099-12-31T23:59:59.999Z" plus NUL. */
#define EH_JSON_TIMESTAMP_LEN 25
/* Longest number text: "-1.2345678901234567e-308" plus NUL. */
#define EH_JSON_NUMBER_LEN 32

typedef struct {
    const char *sensor_type; /* e.g. "temperature" */
    const char *unit;        /* e.g. "°C"; NULL or "" for none */
    double value;
    int64_t ts_ms;           /* epoch milliseconds (UTC); used only when has_ts */
    int has_ts;
} eh_reading_t;

/* The shortest decimal text that strtod() reads back as exactly `value`. */
int eh_json_number(char *buf, size_t cap, double value);

/* Epoch milliseconds as ISO-8601 UTC with milliseconds: "2025-07-09T07:15:02.123Z" (1970-2099). */
int eh_json_timestamp(char *buf, size_t cap, int64_t epoch_ms);

/* `text` as a JSON string literal, quotes included. */
int eh_json_string(char *buf, size_t cap, const char *text);

/* The one-reading payload. */
int eh_json_reading(char *buf, size_t cap, const char *device_id, const eh_reading_t *reading);

/*
 * The bulk payload with as many of readings[0..count) as fit in `cap`, in order; *used tells how
 * many. At least one must fit (else EH_JSON_ERR_SPACE). A reading with a non-finite value fails the
 * whole call (EH_JSON_ERR_NONFINITE), so the caller can drop it instead of sending it forever.
 */
int eh_json_bulk(char *buf, size_t cap, const char *device_id, const eh_reading_t *readings, size_t count,
                 size_t *used);

/* "devices/<device_id>/telemetry" */
int eh_json_topic(char *buf, size_t cap, const char *device_id);

#ifdef __cplusplus
}
#endif
