/* Settings in NVS (namespace "edgehub"), one entry per eh_config_fields entry, and the boot counter. */
#pragma once

#include <stdint.h>

#include "esp_err.h"

#include "eh_config.h"

esp_err_t settings_init(void);
void settings_load(eh_config_t *cfg);
esp_err_t settings_save(const eh_config_t *cfg);
esp_err_t settings_erase(void);
uint16_t settings_next_boot(void);
