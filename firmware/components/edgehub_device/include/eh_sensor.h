/*
 * eh_sensor: the driver interface the sampler reads through, and the two drivers.
 *
 * A driver fills up to EH_SENSOR_MAX_SAMPLES samples per read (the SHT3x gives temperature and
 * humidity from one measurement). Drivers are plain C over small interfaces, so they run on the
 * host in tests: the SHT3x driver talks to its chip through eh_i2c_dev_t, which the firmware maps
 * onto ESP-IDF's I2C master driver (main/sensors.c) and the tests onto a simulated chip.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "eh_ring.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EH_SENSOR_MAX_SAMPLES 4

#define EH_SENSOR_OK 0
#define EH_SENSOR_ERR_BUS (-1) /* the I2C transfer failed (no ACK, timeout) */
#define EH_SENSOR_ERR_CRC (-2) /* the chip answered, but a checksum did not match */

typedef struct {
    char sensor_type[EH_RING_SENSOR_MAX + 1];
    char unit[EH_RING_UNIT_MAX + 1];
    double value;
} eh_sample_t;

typedef struct eh_sensor eh_sensor_t;
struct eh_sensor {
    const char *name;
    int (*start)(eh_sensor_t *self);
    int (*read)(eh_sensor_t *self, eh_sample_t *out, size_t max, size_t *count);
    void *state;
};

/* One I2C device (its address is part of the handle). Functions return 0 on success. */
typedef struct {
    void *ctx;
    int (*write)(void *ctx, const uint8_t *data, size_t len);
    int (*read)(void *ctx, uint8_t *data, size_t len);
    void (*delay_ms)(void *ctx, uint32_t ms);
} eh_i2c_dev_t;

/* Sensirion SHT3x (SHT30/31/35): single-shot, high repeatability, no clock stretching. */
typedef struct {
    eh_i2c_dev_t dev;
} eh_sht3x_t;

void eh_sht3x_driver(eh_sensor_t *sensor, eh_sht3x_t *state, const eh_i2c_dev_t *dev);

/* Six bytes as the chip sends them (T msb, lsb, crc, RH msb, lsb, crc) -> degrees C and %RH,
 * rounded to 0.01 (the chip's resolution; its accuracy is +-0.2 C, +-2 %RH). */
int eh_sht3x_decode(const uint8_t raw[6], double *celsius, double *humidity);

/* Plausible temperature and humidity without hardware, deterministic in the read count. */
typedef struct {
    uint32_t reads;
    uint32_t seed;
} eh_synthetic_t;

void eh_synthetic_driver(eh_sensor_t *sensor, eh_synthetic_t *state, uint32_t seed);

#ifdef __cplusplus
}
#endif
