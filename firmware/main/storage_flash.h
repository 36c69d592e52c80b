/* The "readings" data partition (partitions.csv) as the ring buffer's eh_storage_t. */
#pragma once

#include "esp_err.h"

#include "eh_ring.h"

esp_err_t storage_flash_open(eh_storage_t *storage);
