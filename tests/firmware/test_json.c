/* The payload encoder (eh_json.c): number formatting, timestamps, escaping, bulk packing. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "eh_json.h"
#include "eh_payload.h"

static const char *num(double v)
{
    static char buf[EH_JSON_NUMBER_LEN];
    int n = eh_json_number(buf, sizeof buf, v);
    return n < 0 ? "(error)" : buf;
}

static void test_numbers_are_shortest_and_exact(void)
{
    CHECK_STR(num(50.21), "50.21");
    CHECK_STR(num(0.1), "0.1");
    CHECK_STR(num(24.8), "24.8");
    CHECK_STR(num(42.0), "42");
    CHECK_STR(num(-3.0), "-3");
    CHECK_STR(num(1.0 / 3.0), "0.3333333333333333");
    CHECK_STR(num(1e21), "1e+21");
    CHECK_STR(num(1.5e-7), "1.5e-07");
    CHECK_STR(num(-0.0), "-0");
    CHECK_STR(num(DBL_MAX), "1.7976931348623157e+308");
    CHECK_STR(num(5e-324), "5e-324"); /* the smallest subnormal */
    CHECK_STR(num(123456789.123), "123456789.123");
    CHECK_STR(num(0.30000000000000004), "0.30000000000000004");
    char buf[EH_JSON_NUMBER_LEN];
    CHECK_INT(eh_json_number(buf, sizeof buf, NAN), EH_JSON_ERR_NONFINITE);
    CHECK_INT(eh_json_number(buf, sizeof buf, INFINITY), EH_JSON_ERR_NONFINITE);
    CHECK_INT(eh_json_number(buf, sizeof buf, -INFINITY), EH_JSON_ERR_NONFINITE);
    CHECK_INT(eh_json_number(buf, 3, 50.21), EH_JSON_ERR_SPACE);

    /* Any finite double, by its bits: the text reads back as the same double, and no shorter
     * precision would (so it is the shortest %g form). */
    unsigned rng = 7;
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = (uint64_t)xorshift32(&rng) << 32 | xorshift32(&rng);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v)) {
            continue;
        }
        const char *text = num(v);
        double back = strtod(text, NULL);
        CHECK(memcmp(&back, &v, sizeof v) == 0 || (v == 0 && back == 0));
        CHECK(strchr(text, 'n') == NULL && strchr(text, 'i') == NULL); /* no nan/inf */
        if (check_failures) {
            fprintf(stderr, "  value bits %016llx -> %s\n", (unsigned long long)bits, text);
            break;
        }
    }
}

static const char *stamp(int64_t ms)
{
    static char buf[EH_JSON_TIMESTAMP_LEN];
    return eh_json_timestamp(buf, sizeof buf, ms) < 0 ? "(error)" : buf;
}

static void test_timestamps(void)
{
    CHECK_STR(stamp(0), "1970-01-01T00:00:00.000Z");
    CHECK_STR(stamp(1752045302123), "2025-07-09T07:15:02.123Z");
    CHECK_STR(stamp(951782400000), "2000-02-29T00:00:00.000Z");
    CHECK_STR(stamp(1709164800999), "2024-02-29T00:00:00.999Z");
    CHECK_STR(stamp(4102444799999), "2099-12-31T23:59:59.999Z");
    CHECK_STR(stamp(4102444800000), "(error)"); /* the edge accepts 1970-2100 */
    CHECK_STR(stamp(-1), "(error)");
    /* Against the C library's calendar, a random instant of every 3 days from 1970 to 2099. */
    unsigned rng = 3;
    for (int64_t day = 0; day < 47482; day += 3) {
        int64_t ms = day * 86400000 + xorshift32(&rng) % 86400000;
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char want[40];
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
        CHECK_STR(stamp(ms), want);
        if (check_failures) {
            break;
        }
    }
}

static const char *str(const char *s)
{
    static char buf[256];
    return eh_json_string(buf, sizeof buf, s) < 0 ? "(error)" : buf;
}

static void test_strings_are_escaped_and_utf8(void)
{
    CHECK_STR(str("humidity"), "\"humidity\"");
    CHECK_STR(str("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
    CHECK_STR(str("a\nb\tc\r\b\f"), "\"a\\nb\\tc\\r\\b\\f\"");
    CHECK_STR(str("\x01\x1f"), "\"\\u0001\\u001f\"");
    CHECK_STR(str("\xc2\xb0" "C"), "\"\xc2\xb0" "C\"");                     /* °C passes as UTF-8 */
    CHECK_STR(str("m/s\xc2\xb2 \xe2\x82\xac \xf0\x9f\x8c\xa1"), "\"m/s\xc2\xb2 \xe2\x82\xac \xf0\x9f\x8c\xa1\"");
    CHECK_STR(str("\xff"), "\"\\ufffd\"");                                  /* not UTF-8 */
    CHECK_STR(str("a\x80z"), "\"a\\ufffdz\"");                              /* stray continuation byte */
    CHECK_STR(str("\xc0\xaf"), "\"\\ufffd\\ufffd\"");                       /* overlong '/' */
    CHECK_STR(str("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");            /* a UTF-16 surrogate */
    CHECK_STR(str("\xe2\x82"), "\"\\ufffd\\ufffd\"");                       /* cut short at the end */
    CHECK_STR(str("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* above U+10FFFF */
    CHECK_STR(str("\x7f/"), "\"\x7f/\"");
    char small[4];
    CHECK_INT(eh_json_string(small, sizeof small, "abc"), EH_JSON_ERR_SPACE);
    CHECK_STR(small, "\"ab"); /* truncated but terminated */
}

static void test_reading_and_bulk(void)
{
    const char *dev = "95b2524b-fa0e-4717-b4ba-9ae9aff3365d";
    char buf[1024];
    eh_reading_t r = {"humidity", "%", 50.21, 1752045302000, 1};
    CHECK(eh_json_reading(buf, sizeof buf, dev, &r) > 0);
    CHECK_STR(buf, "{\"device_id\":\"95b2524b-fa0e-4717-b4ba-9ae9aff3365d\",\"sensor_type\":\"humidity\","
                   "\"value\":50.21,\"unit\":\"%\",\"timestamp\":\"2025-07-09T07:15:02.000Z\"}");
    r.has_ts = 0;
    r.unit = NULL;
    CHECK(eh_json_reading(buf, sizeof buf, dev, &r) > 0);
    CHECK_STR(buf, "{\"device_id\":\"95b2524b-fa0e-4717-b4ba-9ae9aff3365d\",\"sensor_type\":\"humidity\","
                   "\"value\":50.21,\"unit\":\"\"}");
    r.value = NAN;
    CHECK_INT(eh_json_reading(buf, sizeof buf, dev, &r), EH_JSON_ERR_NONFINITE);
    r.value = 1;
    r.sensor_type = "";
    CHECK_INT(eh_json_reading(buf, sizeof buf, dev, &r), EH_JSON_ERR_ARG);
    CHECK_INT(eh_json_reading(buf, sizeof buf, "", &r), EH_JSON_ERR_ARG);

    eh_reading_t many[3] = {{"temperature", "\xc2\xb0" "C", 21.5, 0, 1}, {"humidity", "%", 48, 1000, 1},
                            {"t", "", -0.5, 0, 0}};
    size_t used;
    int n = eh_json_bulk(buf, sizeof buf, "dev", many, 3, &used);
    CHECK(n > 0);
    CHECK_INT(used, 3);
    CHECK_STR(buf, "{\"device_id\":\"dev\",\"readings\":["
                   "{\"sensor_type\":\"temperature\",\"value\":21.5,\"unit\":\"\xc2\xb0" "C\","
                   "\"timestamp\":\"1970-01-01T00:00:00.000Z\"},"
                   "{\"sensor_type\":\"humidity\",\"value\":48,\"unit\":\"%\","
                   "\"timestamp\":\"1970-01-01T00:00:01.000Z\"},"
                   "{\"sensor_type\":\"t\",\"value\":-0.5,\"unit\":\"\"}]}");
    /* Exactly enough room for all three, then one byte less: two fit, and the result is complete. */
    size_t full = (size_t)n + 1;
    char *tight = malloc(full);
    CHECK_INT(eh_json_bulk(tight, full, "dev", many, 3, &used), n);
    CHECK_INT(used, 3);
    CHECK(eh_json_bulk(tight, full - 1, "dev", many, 3, &used) > 0);
    CHECK_INT(used, 2);
    CHECK(strcmp(tight + strlen(tight) - 2, "]}") == 0);
    free(tight);
    CHECK_INT(eh_json_bulk(buf, 30, "dev", many, 3, &used), EH_JSON_ERR_SPACE);
    CHECK_INT(used, 0);
    many[1].value = INFINITY;
    CHECK_INT(eh_json_bulk(buf, sizeof buf, "dev", many, 3, &used), EH_JSON_ERR_NONFINITE);

    CHECK(eh_json_topic(buf, sizeof buf, dev) > 0);
    CHECK_STR(buf, "devices/95b2524b-fa0e-4717-b4ba-9ae9aff3365d/telemetry");
}

static void test_record_times(void)
{
    eh_record_t rec;
    memset(&rec, 0, sizeof rec);
    strcpy(rec.sensor_type, "temperature");
    eh_reading_t out;
    rec.flags = EH_RING_HAS_TIME;
    rec.ts_ms = 1752045302000;
    eh_payload_reading(&rec, 3, -1, &out);
    CHECK(out.has_ts && out.ts_ms == 1752045302000);
    rec.flags = EH_RING_UPTIME; /* taken 5 s after boot 3, before SNTP answered */
    rec.ts_ms = 5000;
    rec.boot = 3;
    eh_payload_reading(&rec, 3, -1, &out);
    CHECK(!out.has_ts); /* clock still unset */
    eh_payload_reading(&rec, 3, 1752045000000, &out);
    CHECK(out.has_ts && out.ts_ms == 1752045005000);
    eh_payload_reading(&rec, 4, 1752045000000, &out);
    CHECK(!out.has_ts); /* an earlier boot: its start time is unknown */
    rec.flags = 0;
    eh_payload_reading(&rec, 3, 1752045000000, &out);
    CHECK(!out.has_ts);

    char buf[128];
    size_t used;
    eh_record_t two[2] = {rec, rec};
    int n = eh_payload_build(buf, sizeof buf, "dev", two, 1, 3, -1, &used);
    CHECK_STR(buf, "{\"device_id\":\"dev\",\"sensor_type\":\"temperature\",\"value\":0,\"unit\":\"\"}");
    CHECK_INT(n, strlen(buf));
    CHECK_INT(used, 1);
    CHECK_INT(eh_payload_build(buf, sizeof buf, "dev", two, 0, 3, -1, &used), EH_JSON_ERR_ARG);
}

int main(void)
{
    test_numbers_are_shortest_and_exact();
    test_timestamps();
    test_strings_are_escaped_and_utf8();
    test_reading_and_bulk();
    test_record_times();
    return check_report("test_json");
}
