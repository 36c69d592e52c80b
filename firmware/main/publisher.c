/*
 * publisher: the flash ring -> devices/<device_id>/telemetry, QoS 1, one message in flight.
 *
 * Each message carries the oldest unsent readings (one reading, or a bulk "readings" array). They
 * are marked sent in the ring only when the broker's PUBACK arrives (MQTT_EVENT_PUBLISHED for that
 * message id). While the connection is down esp-mqtt keeps the message in its outbox and sends it
 * again after the reconnect; if it gives up on it (MQTT_EVENT_DELETED after
 * CONFIG_MQTT_OUTBOX_EXPIRED_TIMEOUT_MS), the readings are still unsent in the ring and go out again.
 * A reboot loses the outbox but not the ring. So a reading is sent at least once; a PUBACK lost with
 * the connection can make the broker see it twice.
 *
 * esp-mqtt's own reconnect (a fixed interval) is off: every device of a plant would retry in the
 * same second after a broker restart. Reconnects wait eh_backoff's jittered, growing delay instead.
 */
#include "publisher.h"

#include <stdio.h>
#include <string.h>

#include "esp_log.h"
#include "esp_random.h"
#include "freertos/queue.h"
#include "freertos/timers.h"
#include "mqtt_client.h"

#include "app.h"
#include "eh_backoff.h"
#include "eh_payload.h"

static const char *TAG = "publisher";

#define MAX_PER_MESSAGE 40      /* readings per bulk message (~100 bytes each) */
#define PAYLOAD_MAX 8192        /* fits MAX_PER_MESSAGE with room to spare; the edge takes up to 256 KiB */
#define ACK_WAIT_MS 5000        /* how often a wait for PUBACK wakes up to check the connection */
#define GIVE_UP_MS 150000       /* longer than the outbox expiry (60 s): esp-mqtt lost it, send again */
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_CAP_MS 60000

typedef struct {
    esp_mqtt_event_id_t id;
    int msg_id;
} ack_t;

static esp_mqtt_client_handle_t client;
static QueueHandle_t acks;
static TimerHandle_t reconnect_timer;
static eh_backoff_t backoff;
static char topic[96];
static char payload[PAYLOAD_MAX];
static eh_record_t batch[MAX_PER_MESSAGE];

static uint32_t random32(void *ctx)
{
    (void)ctx;
    return esp_random();
}

static void reconnect_now(TimerHandle_t timer)
{
    (void)timer;
    if (!(xEventGroupGetBits(app.events) & APP_MQTT_UP)) {
        esp_mqtt_client_reconnect(client);
    }
}

static void schedule_reconnect(void)
{
    uint32_t delay = eh_backoff_next_ms(&backoff);
    ESP_LOGI(TAG, "reconnecting to the broker in %.1f s", delay / 1000.0);
    xTimerChangePeriod(reconnect_timer, pdMS_TO_TICKS(delay) + 1, 0); /* also starts the timer */
}

static void log_error(const esp_mqtt_error_codes_t *e)
{
    if (!e) {
        return;
    }
    if (e->error_type == MQTT_ERROR_TYPE_CONNECTION_REFUSED) {
        ESP_LOGE(TAG, "broker refused the connection (code %d): %s", e->connect_return_code,
                 e->connect_return_code == MQTT_CONNECTION_REFUSE_NOT_AUTHORIZED
                     ? "wrong mqtt_username/mqtt_password, or not in the broker's password file"
                     : "see the broker's log");
    } else if (e->error_type == MQTT_ERROR_TYPE_TCP_TRANSPORT) {
        ESP_LOGE(TAG, "transport error: %s, TLS stack 0x%x, certificate flags 0x%x, errno %d",
                 esp_err_to_name(e->esp_tls_last_esp_err), e->esp_tls_stack_err, e->esp_tls_cert_verify_flags,
                 e->esp_transport_sock_errno);
        if (e->esp_tls_cert_verify_flags) {
            ESP_LOGE(TAG, "the broker's certificate does not verify against broker_ca, or its name is not the "
                          "broker_url host");
        }
    }
}

static void on_mqtt(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)arg;
    (void)base;
    esp_mqtt_event_handle_t ev = data;
    ack_t ack = {(esp_mqtt_event_id_t)id, ev->msg_id};
    switch ((esp_mqtt_event_id_t)id) {
    case MQTT_EVENT_CONNECTED:
        ESP_LOGI(TAG, "connected to %s as %s", app.cfg.broker_url, eh_config_username(&app.cfg));
        eh_backoff_reset(&backoff);
        xEventGroupSetBits(app.events, APP_MQTT_UP);
        xTaskNotifyGive(app.publisher);
        break;
    case MQTT_EVENT_DISCONNECTED:
        xEventGroupClearBits(app.events, APP_MQTT_UP);
        ESP_LOGW(TAG, "disconnected from the broker; readings stay in flash meanwhile");
        schedule_reconnect();
        break;
    case MQTT_EVENT_PUBLISHED:
    case MQTT_EVENT_DELETED:
        xQueueSend(acks, &ack, 0);
        break;
    case MQTT_EVENT_ERROR:
        log_error(ev->error_handle);
        break;
    default:
        break;
    }
}

/* true when the broker acknowledged msg_id; false when it must be sent again. */
static bool wait_for_ack(int msg_id)
{
    TickType_t started = xTaskGetTickCount();
    while (xTaskGetTickCount() - started < pdMS_TO_TICKS(GIVE_UP_MS)) {
        ack_t ack;
        if (xQueueReceive(acks, &ack, pdMS_TO_TICKS(ACK_WAIT_MS)) != pdTRUE || ack.msg_id != msg_id) {
            continue; /* still waiting (maybe across a reconnect), or an old message's late answer */
        }
        if (ack.id == MQTT_EVENT_PUBLISHED) {
            return true;
        }
        ESP_LOGW(TAG, "message %d expired in esp-mqtt's outbox; sending its readings again", msg_id);
        return false;
    }
    ESP_LOGW(TAG, "no answer for message %d in %d s; sending its readings again", msg_id, GIVE_UP_MS / 1000);
    return false;
}

static void run(void *arg)
{
    (void)arg;
    for (;;) {
        xEventGroupWaitBits(app.events, APP_MQTT_UP, pdFALSE, pdTRUE, portMAX_DELAY);
        size_t n = 0, used = 0;
        xSemaphoreTake(app.ring_lock, portMAX_DELAY);
        int rc = eh_ring_peek(&app.ring, batch, MAX_PER_MESSAGE, &n);
        int64_t boot_epoch_ms = app.boot_epoch_ms;
        xSemaphoreGive(app.ring_lock);
        if (rc != EH_RING_OK || n == 0) {
            ulTaskNotifyTake(pdTRUE, pdMS_TO_TICKS(1000)); /* the sampler wakes us when it stored some */
            continue;
        }
        int len = eh_payload_build(payload, sizeof payload, app.cfg.device_id, batch, n, app.boot, boot_epoch_ms,
                                   &used);
        if (len < 0) {
            /* Cannot happen for what the sampler stores; never let one bad record block the queue. */
            ESP_LOGE(TAG, "reading %u cannot be encoded (%d); dropping it", (unsigned)batch[0].seq, len);
            xSemaphoreTake(app.ring_lock, portMAX_DELAY);
            eh_ring_consume(&app.ring, batch[0].seq);
            xSemaphoreGive(app.ring_lock);
            continue;
        }
        xQueueReset(acks);
        int msg_id = esp_mqtt_client_publish(client, topic, payload, len, 1, 0);
        if (msg_id < 0) {
            vTaskDelay(pdMS_TO_TICKS(1000)); /* not connected after all, or the outbox is full */
            continue;
        }
        if (!wait_for_ack(msg_id)) {
            continue;
        }
        xSemaphoreTake(app.ring_lock, portMAX_DELAY);
        eh_ring_consume(&app.ring, batch[used - 1].seq);
        xSemaphoreGive(app.ring_lock);
        app.published += used;
    }
}

void publisher_start(void)
{
    eh_json_topic(topic, sizeof topic, app.cfg.device_id);
    eh_backoff_init(&backoff, BACKOFF_FIRST_MS, BACKOFF_CAP_MS, random32, NULL);
    acks = xQueueCreate(8, sizeof(ack_t));
    reconnect_timer = xTimerCreate("mqtt-retry", pdMS_TO_TICKS(1000), pdFALSE, NULL, reconnect_now);
    bool tls = app.cfg.broker_ca[0] != '\0';
    esp_mqtt_client_config_t mc = {
        .broker.address.uri = app.cfg.broker_url,
        .broker.verification.certificate = tls ? app.cfg.broker_ca : NULL, /* PEM, NUL-terminated */
        .credentials.client_id = app.cfg.device_id,
        .credentials.username = eh_config_username(&app.cfg),
        .credentials.authentication.password = app.cfg.mqtt_password[0] ? app.cfg.mqtt_password : NULL,
        .session.keepalive = 30,
        .session.message_retransmit_timeout = 10000, /* resend an unacknowledged message at most every 10 s */
        .network.disable_auto_reconnect = true,     /* our jittered backoff instead */
        .network.timeout_ms = 10000,
        .buffer.size = 2048,
        .buffer.out_size = PAYLOAD_MAX + 256,
    };
    client = esp_mqtt_client_init(&mc);
    esp_mqtt_client_register_event(client, ESP_EVENT_ANY_ID, on_mqtt, NULL);
    xTaskCreate(run, "publisher", 6144, NULL, 4, &app.publisher);
    ESP_LOGI(TAG, "publishing to %s on %s%s", topic, app.cfg.broker_url, tls ? " (TLS)" : "");
    esp_mqtt_client_start(client);
}

void publisher_network_up(void)
{
    if (client && !(xEventGroupGetBits(app.events) & APP_MQTT_UP)) {
        eh_backoff_reset(&backoff);
        xTimerChangePeriod(reconnect_timer, pdMS_TO_TICKS(100), 0);
    }
}
