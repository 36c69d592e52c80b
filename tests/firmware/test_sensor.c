/* Sensor drivers (eh_sensor.c): the SHT3x over a simulated chip, and the synthetic driver. */
#include <string.h>

#include "check.h"
#include "eh_crc.h"
#include "eh_json.h"
#include "eh_sensor.h"

/* A simulated SHT3x behind eh_i2c_dev_t: records commands and delays, answers a measurement. */
typedef struct {
    uint8_t last_cmd[2];
    int commands;
    uint32_t slept_ms;
    uint16_t t_raw, rh_raw;
    int corrupt; /* flip a bit in the answer */
    int nack;    /* fail every transfer */
} chip_t;

static int chip_write(void *ctx, const uint8_t *data, size_t len)
{
    chip_t *c = ctx;
    if (c->nack || len != 2) {
        return -1;
    }
    memcpy(c->last_cmd, data, 2);
    c->commands++;
    c->slept_ms = 0;
    return 0;
}

static int chip_read(void *ctx, uint8_t *data, size_t len)
{
    chip_t *c = ctx;
    if (c->nack || len != 6 || c->last_cmd[0] != 0x24 || c->last_cmd[1] != 0x00 || c->slept_ms < 16) {
        return -1; /* no measurement asked for, or read before it is done: the chip NACKs */
    }
    data[0] = (uint8_t)(c->t_raw >> 8);
    data[1] = (uint8_t)c->t_raw;
    data[2] = eh_crc8_sensirion(data, 2);
    data[3] = (uint8_t)(c->rh_raw >> 8);
    data[4] = (uint8_t)c->rh_raw;
    data[5] = eh_crc8_sensirion(data + 3, 2);
    if (c->corrupt) {
        data[4] ^= 0x10;
    }
    return 0;
}

static void chip_delay(void *ctx, uint32_t ms) { ((chip_t *)ctx)->slept_ms += ms; }

static void test_crc_and_decode(void)
{
    const uint8_t beef[2] = {0xBE, 0xEF};
    CHECK_INT(eh_crc8_sensirion(beef, 2), 0x92); /* the datasheet's example */
    CHECK_INT(eh_crc32("123456789", 9), 0xCBF43926u); /* the standard check value */
    uint8_t raw[6] = {0x66, 0x66, 0, 0x80, 0x00, 0};
    raw[2] = eh_crc8_sensirion(raw, 2);
    raw[5] = eh_crc8_sensirion(raw + 3, 2);
    double t, rh;
    CHECK_INT(eh_sht3x_decode(raw, &t, &rh), EH_SENSOR_OK);
    CHECK(t == 25.0);  /* -45 + 175 * 26214 / 65535 = 25.00 */
    CHECK(rh == 50.0); /* 100 * 32768 / 65535 = 50.00 */
    raw[1] ^= 1;
    CHECK_INT(eh_sht3x_decode(raw, &t, &rh), EH_SENSOR_ERR_CRC);
}

static void test_sht3x_driver(void)
{
    chip_t chip = {.t_raw = 0x0000, .rh_raw = 0xFFFF};
    eh_i2c_dev_t dev = {&chip, chip_write, chip_read, chip_delay};
    eh_sht3x_t state;
    eh_sensor_t sensor;
    eh_sht3x_driver(&sensor, &state, &dev);
    CHECK_STR(sensor.name, "sht3x");
    CHECK_INT(sensor.start(&sensor), EH_SENSOR_OK);
    CHECK(chip.last_cmd[0] == 0x30 && chip.last_cmd[1] == 0xA2); /* soft reset first */
    eh_sample_t out[EH_SENSOR_MAX_SAMPLES];
    size_t n;
    CHECK_INT(sensor.read(&sensor, out, EH_SENSOR_MAX_SAMPLES, &n), EH_SENSOR_OK);
    CHECK_INT(n, 2);
    CHECK_STR(out[0].sensor_type, "temperature");
    CHECK_STR(out[0].unit, "\xc2\xb0" "C");
    CHECK(out[0].value == -45.0);
    CHECK_STR(out[1].sensor_type, "humidity");
    CHECK_STR(out[1].unit, "%");
    CHECK(out[1].value == 100.0);
    chip.corrupt = 1;
    CHECK_INT(sensor.read(&sensor, out, EH_SENSOR_MAX_SAMPLES, &n), EH_SENSOR_ERR_CRC);
    CHECK_INT(n, 0);
    chip.corrupt = 0;
    chip.nack = 1;
    CHECK_INT(sensor.read(&sensor, out, EH_SENSOR_MAX_SAMPLES, &n), EH_SENSOR_ERR_BUS);
    CHECK_INT(sensor.start(&sensor), EH_SENSOR_ERR_BUS);
}

static void test_synthetic_driver(void)
{
    eh_synthetic_t state;
    eh_sensor_t sensor;
    eh_synthetic_driver(&sensor, &state, 1234);
    CHECK_INT(sensor.start(&sensor), EH_SENSOR_OK);
    eh_sample_t out[EH_SENSOR_MAX_SAMPLES], first[EH_SENSOR_MAX_SAMPLES];
    size_t n;
    for (int i = 0; i < 200; i++) {
        CHECK_INT(sensor.read(&sensor, out, EH_SENSOR_MAX_SAMPLES, &n), EH_SENSOR_OK);
        CHECK_INT(n, 2);
        CHECK(out[0].value > 17.0 && out[0].value < 25.0);
        CHECK(out[1].value > 39.0 && out[1].value < 57.0);
        for (int k = 0; k < 2; k++) { /* two decimals, so payloads stay short: "21.37", not "21.3712..." */
            char text[EH_JSON_NUMBER_LEN];
            eh_json_number(text, sizeof text, out[k].value);
            const char *dot = strchr(text, '.');
            CHECK(!strchr(text, 'e') && (!dot || strlen(dot + 1) <= 2));
        }
        if (i == 0) {
            memcpy(first, out, sizeof out);
        }
    }
    sensor.start(&sensor); /* deterministic: the same sequence again */
    sensor.read(&sensor, out, EH_SENSOR_MAX_SAMPLES, &n);
    CHECK(out[0].value == first[0].value && out[1].value == first[1].value);
}

int main(void)
{
    test_crc_and_decode();
    test_sht3x_driver();
    test_synthetic_driver();
    return check_report("test_sensor");
}
