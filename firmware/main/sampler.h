/* The sampling task: sensor -> flash ring, every period_ms, whether or not the network is up. */
#pragma once

#include "eh_sensor.h"

void sampler_start(eh_sensor_t *sensor);
