/*
 * What the firmware's tasks share. Tasks:
 *   sampler    reads the sensor every period_ms and appends the readings to the flash ring
 *   publisher  sends the oldest unsent readings over MQTT (QoS 1), marks them sent on PUBACK
 *   console    serial provisioning (eh_console_line), always running
 * plus the Wi-Fi/SNTP event handlers (net.c) and the esp-mqtt client's own task.
 */
#pragma once

#include <stdint.h>

#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/semphr.h"
#include "freertos/task.h"

#include "eh_config.h"
#include "eh_ring.h"

#define APP_WIFI_UP BIT0
#define APP_TIME_SET BIT1
#define APP_MQTT_UP BIT2

typedef struct {
    eh_config_t cfg;            /* as loaded at boot; the console edits a copy, applied by a reboot */
    uint16_t boot;              /* boot counter from NVS: tells this boot's uptime stamps from older ones */
    eh_ring_t ring;             /* guarded by ring_lock */
    eh_storage_t storage;
    SemaphoreHandle_t ring_lock;
    EventGroupHandle_t events;
    TaskHandle_t publisher;     /* notified when readings were stored */
    int64_t boot_epoch_ms;      /* epoch ms at boot once SNTP answered, else -1; guarded by ring_lock */
    uint32_t readings, sensor_errors, non_finite, published;
} app_t;

extern app_t app;
