/* console: reads lines from the console UART and hands them to eh_console_line(). */
#include "console.h"

#include <stdio.h>
#include <string.h>

#include "driver/uart.h"
#include "sdkconfig.h"
#include "esp_log.h"
#include "esp_system.h"
#include "esp_timer.h"

#include "app.h"
#include "eh_config.h"
#include "settings.h"

static const char *TAG = "console";
#define UART CONFIG_ESP_CONSOLE_UART_NUM
#define LINE_MAX 200 /* PEM lines are 64 characters; a Wi-Fi password 64 */

static eh_config_t staged;   /* edited here, saved to NVS, applied by a reboot */
static eh_console_t con;
static char reply[2048];

static void print_status(void)
{
    EventBits_t bits = xEventGroupGetBits(app.events);
    xSemaphoreTake(app.ring_lock, portMAX_DELAY);
    uint32_t pending = eh_ring_pending(&app.ring), dropped = eh_ring_overwritten(&app.ring);
    xSemaphoreGive(app.ring_lock);
    printf("device %s, boot %u, up %lld s\n", app.cfg.device_id, app.boot,
           (long long)(esp_timer_get_time() / 1000000));
    printf("wifi %s, clock %s, broker %s\n", bits & APP_WIFI_UP ? "up" : "down",
           bits & APP_TIME_SET ? "set" : "not set", bits & APP_MQTT_UP ? "connected" : "not connected");
    printf("readings taken %u, sent %u, waiting in flash %u, lost to a full ring %u\n", (unsigned)app.readings,
           (unsigned)app.published, (unsigned)pending, (unsigned)dropped);
    printf("sensor errors %u, non-finite values dropped %u\n", (unsigned)app.sensor_errors,
           (unsigned)app.non_finite);
}

static void handle(const char *line)
{
    switch (eh_console_line(&con, line, reply, sizeof reply)) {
    case EH_CON_SAVE: {
        esp_err_t err = settings_save(&staged);
        printf("%s\n", err == ESP_OK ? reply : esp_err_to_name(err));
        return;
    }
    case EH_CON_STATUS:
        print_status();
        return;
    case EH_CON_REBOOT:
        printf("%s\n", reply);
        fflush(stdout);
        esp_restart();
        return;
    case EH_CON_FACTORY_RESET:
        printf("%s\n", reply);
        settings_erase();
        fflush(stdout);
        esp_restart();
        return;
    case EH_CON_NONE:
        if (reply[0]) {
            printf("%s%s", reply, reply[strlen(reply) - 1] == '\n' ? "" : "\n");
        }
        return;
    }
}

static void run(void *arg)
{
    (void)arg;
    char line[LINE_MAX + 1];
    size_t len = 0;
    for (;;) {
        uint8_t c;
        if (uart_read_bytes(UART, &c, 1, portMAX_DELAY) != 1) {
            continue;
        }
        if (c == '\r' || c == '\n') {
            if (len || !con.in_ca) {
                printf("\n");
            }
            line[len] = '\0';
            if (len) {
                handle(line);
            }
            len = 0;
            if (!con.in_ca) {
                printf("edgehub> ");
            }
            fflush(stdout);
        } else if (c == 0x08 || c == 0x7f) { /* backspace */
            if (len) {
                len--;
                printf("\b \b");
                fflush(stdout);
            }
        } else if (len < LINE_MAX && c >= 0x20) {
            line[len++] = (char)c;
            if (!con.in_ca) { /* no echo while pasting a certificate: it is long and the terminal shows it */
                putchar(c);
                fflush(stdout);
            }
        }
    }
}

void console_start(void)
{
    staged = app.cfg;
    eh_console_init(&con, &staged);
    if (uart_driver_install(UART, 256, 0, 0, NULL, 0) != ESP_OK) {
        ESP_LOGE(TAG, "cannot read the console UART; provisioning over serial is unavailable");
        return;
    }
    xTaskCreate(run, "console", 6144, NULL, 2, NULL);
    printf("edgehub device console: 'help' lists the commands\nedgehub> ");
    fflush(stdout);
}
