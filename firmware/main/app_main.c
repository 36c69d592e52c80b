/*
 * edgehub device firmware: reads a sensor, keeps the readings in a flash ring, and publishes them to
 * devices/<device_id>/telemetry at QoS 1 in the JSON contract of ARCHITECTURE.md.
 *
 * Boot: settings from NVS -> serial console -> (if the settings are complete) flash ring, sensor,
 * Wi-Fi + SNTP, MQTT publisher, sampler. An unprovisioned device runs only the console.
 */
#include <string.h>

#include "esp_log.h"
#include "esp_system.h"

#include "app.h"
#include "console.h"
#include "net.h"
#include "publisher.h"
#include "sampler.h"
#include "sensors.h"
#include "settings.h"
#include "storage_flash.h"

static const char *TAG = "edgehub";

app_t app;
static eh_sensor_t sensor;

void app_main(void)
{
    char why[160];
    ESP_ERROR_CHECK(settings_init());
    settings_load(&app.cfg);
    app.boot = settings_next_boot();
    app.boot_epoch_ms = -1;
    app.ring_lock = xSemaphoreCreateMutex();
    app.events = xEventGroupCreate();
    console_start();

    if (eh_config_validate(&app.cfg, why, sizeof why) != 0) {
        ESP_LOGW(TAG, "not provisioned: %s. Set it up on this serial console (115200 8N1): type 'help'.", why);
        return; /* the console task keeps running */
    }
    ESP_ERROR_CHECK(storage_flash_open(&app.storage));
    int rc = eh_ring_open(&app.ring, &app.storage);
    if (rc != EH_RING_OK) {
        ESP_LOGE(TAG, "readings partition unusable (%d); restarting in 10 s", rc);
        vTaskDelay(pdMS_TO_TICKS(10000));
        esp_restart();
    }
    ESP_LOGI(TAG, "device %s, boot %u: %u readings waiting in flash, %u lost to a full ring so far",
             app.cfg.device_id, app.boot, (unsigned)eh_ring_pending(&app.ring),
             (unsigned)eh_ring_overwritten(&app.ring));
    ESP_ERROR_CHECK(sensors_open(&app.cfg, &sensor));
    ESP_ERROR_CHECK(net_start());
    publisher_start(); /* before the sampler, which wakes it */
    sampler_start(&sensor);
}
