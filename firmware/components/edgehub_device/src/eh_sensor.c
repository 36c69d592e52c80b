/* eh_sensor: the SHT3x and synthetic drivers; see eh_sensor.h. */
#include "eh_sensor.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eh_crc.h"

#define SHT3X_SOFT_RESET_MSB 0x30
#define SHT3X_SOFT_RESET_LSB 0xA2
#define SHT3X_MEASURE_HIGH_MSB 0x24 /* single shot, high repeatability, clock stretching off */
#define SHT3X_MEASURE_HIGH_LSB 0x00
#define SHT3X_MEASURE_MS 16         /* datasheet: at most 15.5 ms at high repeatability */
#define SHT3X_RESET_MS 2            /* datasheet: at most 1.5 ms after a soft reset */

static double round2(double v) { return round(v * 100.0) / 100.0; }

static void sample(eh_sample_t *s, const char *type, const char *unit, double value)
{
    memset(s, 0, sizeof *s);
    snprintf(s->sensor_type, sizeof s->sensor_type, "%s", type);
    snprintf(s->unit, sizeof s->unit, "%s", unit);
    s->value = value;
}

int eh_sht3x_decode(const uint8_t raw[6], double *celsius, double *humidity)
{
    if (eh_crc8_sensirion(raw, 2) != raw[2] || eh_crc8_sensirion(raw + 3, 2) != raw[5]) {
        return EH_SENSOR_ERR_CRC;
    }
    unsigned t = (unsigned)raw[0] << 8 | raw[1];
    unsigned rh = (unsigned)raw[3] << 8 | raw[4];
    *celsius = round2(-45.0 + 175.0 * t / 65535.0);
    *humidity = round2(100.0 * rh / 65535.0);
    return EH_SENSOR_OK;
}

static int sht3x_start(eh_sensor_t *self)
{
    eh_sht3x_t *s = self->state;
    const uint8_t reset[2] = {SHT3X_SOFT_RESET_MSB, SHT3X_SOFT_RESET_LSB};
    if (s->dev.write(s->dev.ctx, reset, sizeof reset) != 0) {
        return EH_SENSOR_ERR_BUS;
    }
    s->dev.delay_ms(s->dev.ctx, SHT3X_RESET_MS);
    return EH_SENSOR_OK;
}

static int sht3x_read(eh_sensor_t *self, eh_sample_t *out, size_t max, size_t *count)
{
    eh_sht3x_t *s = self->state;
    const uint8_t measure[2] = {SHT3X_MEASURE_HIGH_MSB, SHT3X_MEASURE_HIGH_LSB};
    uint8_t raw[6];
    double celsius, humidity;
    *count = 0;
    if (max < 2) {
        return EH_SENSOR_OK;
    }
    if (s->dev.write(s->dev.ctx, measure, sizeof measure) != 0) {
        return EH_SENSOR_ERR_BUS;
    }
    s->dev.delay_ms(s->dev.ctx, SHT3X_MEASURE_MS);
    if (s->dev.read(s->dev.ctx, raw, sizeof raw) != 0) {
        return EH_SENSOR_ERR_BUS;
    }
    int rc = eh_sht3x_decode(raw, &celsius, &humidity);
    if (rc != EH_SENSOR_OK) {
        return rc;
    }
    sample(&out[0], "temperature", "\xc2\xb0" "C", celsius); /* °C, UTF-8 */
    sample(&out[1], "humidity", "%", humidity);
    *count = 2;
    return EH_SENSOR_OK;
}

void eh_sht3x_driver(eh_sensor_t *sensor, eh_sht3x_t *state, const eh_i2c_dev_t *dev)
{
    state->dev = *dev;
    sensor->name = "sht3x";
    sensor->start = sht3x_start;
    sensor->read = sht3x_read;
    sensor->state = state;
}

static int synthetic_start(eh_sensor_t *self)
{
    eh_synthetic_t *s = self->state;
    s->reads = 0;
    return EH_SENSOR_OK;
}

static int synthetic_read(eh_sensor_t *self, eh_sample_t *out, size_t max, size_t *count)
{
    eh_synthetic_t *s = self->state;
    *count = 0;
    if (max < 2) {
        return EH_SENSOR_OK;
    }
    const double pi = 3.14159265358979323846;
    double phase = (double)(s->seed % 360) * pi / 180.0;
    double day = sin(2.0 * pi * s->reads / 60.0 + phase); /* a 60-reading "day" so dashboards move */
    double wobble = (double)((s->reads * 2654435761u + s->seed) % 101) / 100.0 - 0.5; /* +-0.5 */
    sample(&out[0], "temperature", "\xc2\xb0" "C", round2(21.0 + 3.0 * day + 0.1 * wobble));
    sample(&out[1], "humidity", "%", round2(48.0 - 8.0 * day + 0.6 * wobble));
    s->reads++;
    *count = 2;
    return EH_SENSOR_OK;
}

void eh_synthetic_driver(eh_sensor_t *sensor, eh_synthetic_t *state, uint32_t seed)
{
    state->reads = 0;
    state->seed = seed;
    sensor->name = "synthetic";
    sensor->start = synthetic_start;
    sensor->read = synthetic_read;
    sensor->state = state;
}
