/* storage_flash: see storage_flash.h. */
#include "storage_flash.h"

#include "esp_log.h"
#include "esp_partition.h"

static const char *TAG = "storage";
static const esp_partition_t *part; /* the storage's ctx is unused: there is one partition */

static int part_read(void *ctx, uint32_t offset, void *buf, uint32_t len)
{
    (void)ctx;
    return esp_partition_read(part, offset, buf, len) == ESP_OK ? 0 : -1;
}

static int part_write(void *ctx, uint32_t offset, const void *buf, uint32_t len)
{
    (void)ctx;
    return esp_partition_write(part, offset, buf, len) == ESP_OK ? 0 : -1;
}

static int part_erase(void *ctx, uint32_t offset, uint32_t len)
{
    (void)ctx;
    return esp_partition_erase_range(part, offset, len) == ESP_OK ? 0 : -1;
}

esp_err_t storage_flash_open(eh_storage_t *storage)
{
    part = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY,
                                                           "readings");
    if (!part) {
        ESP_LOGE(TAG, "no 'readings' partition: flash the partition table from partitions.csv");
        return ESP_ERR_NOT_FOUND;
    }
    uint32_t sector = part->erase_size ? part->erase_size : 4096;
    storage->ctx = NULL;
    storage->size = part->size - part->size % sector;
    storage->sector_size = sector;
    storage->read = part_read;
    storage->write = part_write;
    storage->erase = part_erase;
    ESP_LOGI(TAG, "readings partition: %u KiB, %u readings", (unsigned)(storage->size / 1024),
             (unsigned)(storage->size / EH_RING_SLOT_SIZE));
    return ESP_OK;
}
