/*
 * Prints payloads made by the firmware's encoder, one per line, for tests/firmware/test_host.py to
 * feed to the edge's own validator (edge.payload.parse):
 *
 *   <topic> TAB <payload> TAB <expected readings>
 *
 * where each expected reading is "sensor_hex|unit_hex|value_as_%a|ts_ms_or_-1", joined by ";"
 * (hex of the UTF-8 bytes the edge should end up with, hex float for the exact double).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "eh_json.h"

#define DEVICE "95b2524b-fa0e-4717-b4ba-9ae9aff3365d"

static void hex(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        printf("%02x", *p);
    }
}

static void emit(const char *payload, const eh_reading_t *r, size_t n)
{
    char topic[80];
    eh_json_topic(topic, sizeof topic, DEVICE);
    printf("%s\t%s\t", topic, payload);
    for (size_t i = 0; i < n; i++) {
        printf(i ? ";" : "");
        hex(r[i].sensor_type);
        printf("|");
        hex(r[i].unit ? r[i].unit : "");
        printf("|%a|%lld", r[i].value, r[i].has_ts ? (long long)r[i].ts_ms : -1LL);
    }
    printf("\n");
}

static double random_double(unsigned *rng)
{
    for (;;) {
        unsigned long long bits = (unsigned long long)xorshift32(rng) << 32 | xorshift32(rng);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (isfinite(v)) {
            return v;
        }
    }
}

int main(void)
{
    static const char *const names[] = {"temperature", "humidity", "pressure", "vibration", "t",
                                        "quote\"back\\slash", "tab\there", "\xc2\xb0" "C", "\x01\x1f"};
    static const char *const units[] = {"\xc2\xb0" "C", "%", "hPa", "mm/s", "", "m/s\xc2\xb2", "\xe2\x82\xac"};
    static const double fixed[] = {50.21, 0.1, 24.8, 42, -3, 1e21, 1.5e-7, -0.0, 1.7976931348623157e308, 5e-324,
                                   123456789.123, 0.30000000000000004};
    static char buf[256 * 1024];
    unsigned rng = 2024;
    eh_reading_t r[64];

    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) { /* singles: exact numbers */
        eh_reading_t one = {"humidity", "%", fixed[i], 1752045302000 + (long long)i, (int)(i % 2)};
        if (eh_json_reading(buf, sizeof buf, DEVICE, &one) < 0) {
            return 1;
        }
        emit(buf, &one, 1);
    }
    for (int round = 0; round < 300; round++) { /* singles and bulks of random readings */
        size_t count = 1 + xorshift32(&rng) % 64;
        for (size_t i = 0; i < count; i++) {
            r[i].sensor_type = names[xorshift32(&rng) % (sizeof names / sizeof names[0])];
            r[i].unit = units[xorshift32(&rng) % (sizeof units / sizeof units[0])];
            r[i].value = xorshift32(&rng) % 2 ? random_double(&rng) : (double)(xorshift32(&rng) % 100000) / 100.0;
            r[i].has_ts = (int)(xorshift32(&rng) % 3 != 0);
            r[i].ts_ms = ((long long)xorshift32(&rng) << 10 | xorshift32(&rng) % 1024) % 4102444800000LL;
        }
        size_t used = 0;
        size_t cap = 200 + xorshift32(&rng) % 8000; /* small buffers exercise the bulk packing */
        int n = count == 1 ? eh_json_reading(buf, cap, DEVICE, r) : eh_json_bulk(buf, cap, DEVICE, r, count, &used);
        if (count == 1) {
            used = n >= 0;
        }
        if (n < 0) {
            continue; /* a single reading that does not fit the small buffer */
        }
        emit(buf, r, used);
    }
    return 0;
}
