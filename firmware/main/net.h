/* Wi-Fi station with jittered reconnect backoff, and SNTP for the clock. */
#pragma once

#include "esp_err.h"

esp_err_t net_start(void);
