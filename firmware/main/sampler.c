/* sampler: see sampler.h. */
#include "sampler.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "esp_log.h"
#include "esp_timer.h"

#include "app.h"

static const char *TAG = "sampler";
#define LOG_EVERY 100 /* repeated sensor errors are logged once per this many */

/* The ring's overwrite count goes out as a reading of its own whenever it grows, so that the hub
 * sees how many readings this device lost while it was cut off for longer than its flash holds. */
#define DROPPED_SENSOR "ring_dropped"

static void stamp(eh_record_t *rec)
{
    if (xEventGroupGetBits(app.events) & APP_TIME_SET) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        rec->ts_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
        rec->flags = EH_RING_HAS_TIME;
    } else {
        rec->ts_ms = esp_timer_get_time() / 1000; /* fixed up once SNTP answers, if this boot lasts */
        rec->flags = EH_RING_UPTIME;
    }
    rec->boot = app.boot;
}

static void store(const char *sensor_type, const char *unit, double value)
{
    eh_record_t rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.sensor_type, sizeof rec.sensor_type, "%s", sensor_type);
    snprintf(rec.unit, sizeof rec.unit, "%s", unit);
    rec.value = value;
    stamp(&rec);
    int rc = eh_ring_append(&app.ring, &rec);
    if (rc != EH_RING_OK) {
        ESP_LOGE(TAG, "storing a reading failed (%d); it is lost", rc);
    }
}

static void run(void *arg)
{
    eh_sensor_t *sensor = arg;
    uint32_t reported_dropped = 0;
    TickType_t next = xTaskGetTickCount();
    while (sensor->start(sensor) != EH_SENSOR_OK) {
        ESP_LOGE(TAG, "%s does not answer; check the wiring (README.md), retrying in 5 s", sensor->name);
        vTaskDelay(pdMS_TO_TICKS(5000));
    }
    for (;;) {
        eh_sample_t samples[EH_SENSOR_MAX_SAMPLES];
        size_t n = 0;
        int rc = sensor->read(sensor, samples, EH_SENSOR_MAX_SAMPLES, &n);
        if (rc != EH_SENSOR_OK && app.sensor_errors++ % LOG_EVERY == 0) {
            ESP_LOGW(TAG, "%s read failed (%s); %u errors so far", sensor->name,
                     rc == EH_SENSOR_ERR_CRC ? "checksum" : "bus", (unsigned)app.sensor_errors);
        }
        xSemaphoreTake(app.ring_lock, portMAX_DELAY);
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(samples[i].value)) { /* JSON has no NaN: the edge would reject it anyway */
                app.non_finite++;
                continue;
            }
            store(samples[i].sensor_type, samples[i].unit, samples[i].value);
            app.readings++;
        }
        uint32_t dropped = eh_ring_overwritten(&app.ring);
        if (dropped != reported_dropped) {
            store(DROPPED_SENSOR, "", (double)dropped);
            reported_dropped = dropped;
        }
        xSemaphoreGive(app.ring_lock);
        xTaskNotifyGive(app.publisher);
        vTaskDelayUntil(&next, pdMS_TO_TICKS(app.cfg.period_ms));
    }
}

void sampler_start(eh_sensor_t *sensor)
{
    xTaskCreate(run, "sampler", 4096, sensor, 5, NULL);
}
