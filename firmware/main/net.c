/* net: see net.h. */
#include "net.h"

#include <string.h>
#include <sys/time.h>

#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_netif_sntp.h"
#include "esp_random.h"
#include "esp_timer.h"
#include "esp_wifi.h"
#include "freertos/timers.h"

#include "app.h"
#include "eh_backoff.h"
#include "publisher.h"

static const char *TAG = "net";
#define BACKOFF_FIRST_MS 500
#define BACKOFF_CAP_MS 30000

static eh_backoff_t backoff;
static TimerHandle_t retry_timer;

static uint32_t random32(void *ctx)
{
    (void)ctx;
    return esp_random();
}

static void retry(TimerHandle_t timer)
{
    (void)timer;
    esp_wifi_connect();
}

static void on_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)arg;
    if (base == WIFI_EVENT && id == WIFI_EVENT_STA_START) {
        esp_wifi_connect();
    } else if (base == WIFI_EVENT && id == WIFI_EVENT_STA_DISCONNECTED) {
        const wifi_event_sta_disconnected_t *d = data;
        xEventGroupClearBits(app.events, APP_WIFI_UP);
        uint32_t delay = eh_backoff_next_ms(&backoff);
        ESP_LOGW(TAG, "Wi-Fi '%s' not connected (reason %d); retrying in %.1f s", app.cfg.wifi_ssid, d->reason,
                 delay / 1000.0);
        xTimerChangePeriod(retry_timer, pdMS_TO_TICKS(delay) + 1, 0);
    } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
        const ip_event_got_ip_t *got = data;
        ESP_LOGI(TAG, "Wi-Fi up, address " IPSTR, IP2STR(&got->ip_info.ip));
        eh_backoff_reset(&backoff);
        xEventGroupSetBits(app.events, APP_WIFI_UP);
        publisher_network_up();
    }
}

/* Every SNTP answer: the epoch of this boot, which also dates readings taken before the first one. */
static void on_time(struct timeval *tv)
{
    int64_t now_ms = (int64_t)tv->tv_sec * 1000 + tv->tv_usec / 1000;
    xSemaphoreTake(app.ring_lock, portMAX_DELAY);
    app.boot_epoch_ms = now_ms - esp_timer_get_time() / 1000;
    xSemaphoreGive(app.ring_lock);
    if (!(xEventGroupGetBits(app.events) & APP_TIME_SET)) {
        ESP_LOGI(TAG, "clock set by SNTP (%s)", app.cfg.ntp_server);
    }
    xEventGroupSetBits(app.events, APP_TIME_SET);
}

esp_err_t net_start(void)
{
    eh_backoff_init(&backoff, BACKOFF_FIRST_MS, BACKOFF_CAP_MS, random32, NULL);
    retry_timer = xTimerCreate("wifi-retry", pdMS_TO_TICKS(1000), pdFALSE, NULL, retry);
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    esp_netif_create_default_wifi_sta();
    wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&init));
    ESP_ERROR_CHECK(esp_event_handler_instance_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_event, NULL, NULL));
    ESP_ERROR_CHECK(esp_event_handler_instance_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_event, NULL, NULL));

    wifi_config_t wc;
    memset(&wc, 0, sizeof wc);
    memcpy(wc.sta.ssid, app.cfg.wifi_ssid, strnlen(app.cfg.wifi_ssid, sizeof wc.sta.ssid));
    memcpy(wc.sta.password, app.cfg.wifi_password, strnlen(app.cfg.wifi_password, sizeof wc.sta.password));
    wc.sta.threshold.authmode = app.cfg.wifi_password[0] ? WIFI_AUTH_WPA2_PSK : WIFI_AUTH_OPEN;
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_set_config(WIFI_IF_STA, &wc));
    ESP_ERROR_CHECK(esp_wifi_start());

    esp_sntp_config_t sntp = ESP_NETIF_SNTP_DEFAULT_CONFIG(app.cfg.ntp_server);
    sntp.sync_cb = on_time;
    sntp.wait_for_sync = false;
    return esp_netif_sntp_init(&sntp);
}
