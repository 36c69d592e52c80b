/* The configured sensor driver: "sht3x" on the I2C pins from the settings, or "synthetic". */
#pragma once

#include "esp_err.h"

#include "eh_config.h"
#include "eh_sensor.h"

esp_err_t sensors_open(const eh_config_t *cfg, eh_sensor_t *sensor);
