/* eh_json: see eh_json.h. */
#include "eh_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A bounded writer: appends until the buffer is full, then only remembers that it overflowed. */
typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    int overflow;
} writer_t;

static void put(writer_t *w, const char *s, size_t n)
{
    if (w->overflow || w->len + n + 1 > w->cap) {  /* +1: the NUL */
        w->overflow = 1;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void puts_(writer_t *w, const char *s) { put(w, s, strlen(s)); }

static int finish(writer_t *w) { return w->overflow ? EH_JSON_ERR_SPACE : (int)w->len; }

static writer_t writer(char *buf, size_t cap)
{
    writer_t w = {buf, cap, 0, cap == 0};
    if (cap) {
        buf[0] = '\0';
    }
    return w;
}

int eh_json_number(char *buf, size_t cap, double value)
{
    if (!isfinite(value)) {
        return EH_JSON_ERR_NONFINITE;
    }
    char tmp[EH_JSON_NUMBER_LEN];
    /* %.17g always round-trips a double; try shorter precisions first and keep the first that does.
     * %g writes valid JSON numbers for finite values: "-0", "50.21", "1e+20", "1.5e-07". */
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(tmp, sizeof tmp, "%.*g", precision, value);
        if (strtod(tmp, NULL) == value) {
            break;
        }
    }
    writer_t w = writer(buf, cap);
    puts_(&w, tmp);
    return finish(&w);
}

int eh_json_timestamp(char *buf, size_t cap, int64_t epoch_ms)
{
    if (epoch_ms < 0 || epoch_ms >= INT64_C(4102444800000)) {  /* 2100-01-01T00:00:00Z */
        return EH_JSON_ERR_ARG;
    }
    int64_t secs = epoch_ms / 1000;
    int ms = (int)(epoch_ms % 1000);
    int64_t days = secs / 86400;
    int sod = (int)(secs % 86400);
    /* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm; no gmtime, no time zone). */
    int64_t z = days + 719468;
    int64_t era = z / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int day = (int)(doy - (153 * mp + 2) / 5 + 1);
    int month = (int)(mp < 10 ? mp + 3 : mp - 9);
    int year = (int)(yoe + era * 400 + (month <= 2));
    char tmp[EH_JSON_TIMESTAMP_LEN + 8];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, month, day, sod / 3600,
             (sod / 60) % 60, sod % 60, ms);
    writer_t w = writer(buf, cap);
    puts_(&w, tmp);
    return finish(&w);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if the bytes there are not valid UTF-8. */
static size_t utf8_sequence(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        return 1;
    }
    unsigned char lo = 0x80, hi = 0xBF;  /* allowed range of the second byte */
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) {
            lo = 0xA0;  /* no overlong forms */
        } else if (c == 0xED) {
            hi = 0x9F;  /* no UTF-16 surrogates */
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) {
            lo = 0x90;
        } else if (c == 0xF4) {
            hi = 0x8F;  /* nothing above U+10FFFF */
        }
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
    }
    return n;
}

static void put_string(writer_t *w, const char *text)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)text;
    put(w, "\"", 1);
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(w, esc, 2);
            s++;
        } else if (c < 0x20) {
            const char *short_form = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t"
                                   : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (short_form) {
                put(w, short_form, 2);
            } else {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                put(w, esc, 6);
            }
            s++;
        } else {
            size_t n = utf8_sequence(s);  /* a NUL inside a sequence fails the check, so no overread */
            if (n == 0) {
                put(w, "\\ufffd", 6);
                s++;
            } else {
                put(w, (const char *)s, n);
                s += n;
            }
        }
    }
    put(w, "\"", 1);
}

int eh_json_string(char *buf, size_t cap, const char *text)
{
    if (!text) {
        return EH_JSON_ERR_ARG;
    }
    writer_t w = writer(buf, cap);
    put_string(&w, text);
    return finish(&w);
}

/* "sensor_type":…,"value":…,"unit":…[,"timestamp":…] */
static int put_fields(writer_t *w, const eh_reading_t *r)
{
    char tmp[EH_JSON_NUMBER_LEN > EH_JSON_TIMESTAMP_LEN ? EH_JSON_NUMBER_LEN : EH_JSON_TIMESTAMP_LEN];
    if (!r->sensor_type || !r->sensor_type[0]) {
        return EH_JSON_ERR_ARG;
    }
    int rc = eh_json_number(tmp, sizeof tmp, r->value);
    if (rc < 0) {
        return rc;
    }
    puts_(w, "\"sensor_type\":");
    put_string(w, r->sensor_type);
    puts_(w, ",\"value\":");
    puts_(w, tmp);
    puts_(w, ",\"unit\":");
    put_string(w, r->unit ? r->unit : "");
    if (r->has_ts) {
        rc = eh_json_timestamp(tmp, sizeof tmp, r->ts_ms);
        if (rc < 0) {
            return rc;
        }
        puts_(w, ",\"timestamp\":\"");
        puts_(w, tmp);
        puts_(w, "\"");
    }
    return 0;
}

int eh_json_reading(char *buf, size_t cap, const char *device_id, const eh_reading_t *reading)
{
    if (!device_id || !device_id[0] || !reading) {
        return EH_JSON_ERR_ARG;
    }
    writer_t w = writer(buf, cap);
    puts_(&w, "{\"device_id\":");
    put_string(&w, device_id);
    puts_(&w, ",");
    int rc = put_fields(&w, reading);
    if (rc < 0) {
        return rc;
    }
    puts_(&w, "}");
    return finish(&w);
}

int eh_json_bulk(char *buf, size_t cap, const char *device_id, const eh_reading_t *readings, size_t count,
                 size_t *used)
{
    *used = 0;
    if (!device_id || !device_id[0] || !readings || count == 0) {
        return EH_JSON_ERR_ARG;
    }
    writer_t w = writer(buf, cap);
    puts_(&w, "{\"device_id\":");
    put_string(&w, device_id);
    puts_(&w, ",\"readings\":[");
    for (size_t i = 0; i < count; i++) {
        size_t mark = w.len;
        if (i) {
            puts_(&w, ",");
        }
        puts_(&w, "{");
        int rc = put_fields(&w, &readings[i]);
        if (rc < 0) {
            return rc;
        }
        puts_(&w, "}");
        if (w.overflow || w.len + 2 + 1 > w.cap) {  /* room for the closing "]}" and the NUL */
            if (i == 0) {
                return EH_JSON_ERR_SPACE;
            }
            w.overflow = 0;
            w.len = mark;
            w.buf[mark] = '\0';
            break;
        }
        *used = i + 1;
    }
    puts_(&w, "]}");
    return finish(&w);
}

int eh_json_topic(char *buf, size_t cap, const char *device_id)
{
    if (!device_id || !device_id[0]) {
        return EH_JSON_ERR_ARG;
    }
    writer_t w = writer(buf, cap);
    puts_(&w, "devices/");
    puts_(&w, device_id);
    puts_(&w, "/telemetry");
    return finish(&w);
}
