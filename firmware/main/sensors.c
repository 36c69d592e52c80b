/* sensors: see sensors.h. Maps eh_i2c_dev_t onto ESP-IDF's I2C master driver. */
#include "sensors.h"

#include <string.h>

#include "driver/i2c_master.h"
#include "esp_log.h"
#include "esp_random.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

static const char *TAG = "sensors";
#define I2C_TIMEOUT_MS 50
#define I2C_HZ 100000

static i2c_master_bus_handle_t bus;
static i2c_master_dev_handle_t dev;
static eh_sht3x_t sht3x;
static eh_synthetic_t synthetic;

static int i2c_write(void *ctx, const uint8_t *data, size_t len)
{
    return i2c_master_transmit(ctx, data, len, I2C_TIMEOUT_MS) == ESP_OK ? 0 : -1;
}

static int i2c_read(void *ctx, uint8_t *data, size_t len)
{
    return i2c_master_receive(ctx, data, len, I2C_TIMEOUT_MS) == ESP_OK ? 0 : -1;
}

static void delay_ms(void *ctx, uint32_t ms)
{
    (void)ctx;
    vTaskDelay(pdMS_TO_TICKS(ms) + 1); /* +1: a delay of n ticks may end after n-1 tick periods */
}

esp_err_t sensors_open(const eh_config_t *cfg, eh_sensor_t *sensor)
{
    if (strcmp(cfg->sensor, "synthetic") == 0) {
        eh_synthetic_driver(sensor, &synthetic, esp_random());
        ESP_LOGI(TAG, "sensor: synthetic temperature and humidity");
        return ESP_OK;
    }
    i2c_master_bus_config_t bus_cfg = {
        .i2c_port = -1,
        .sda_io_num = (gpio_num_t)cfg->i2c_sda,
        .scl_io_num = (gpio_num_t)cfg->i2c_scl,
        .clk_source = I2C_CLK_SRC_DEFAULT,
        .glitch_ignore_cnt = 7,
        .flags.enable_internal_pullup = true, /* the usual SHT3x breakout boards have 10k pull-ups too */
    };
    esp_err_t err = i2c_new_master_bus(&bus_cfg, &bus);
    if (err != ESP_OK) {
        return err;
    }
    i2c_device_config_t dev_cfg = {
        .dev_addr_length = I2C_ADDR_BIT_LEN_7,
        .device_address = (uint16_t)cfg->sht3x_address,
        .scl_speed_hz = I2C_HZ,
    };
    err = i2c_master_bus_add_device(bus, &dev_cfg, &dev);
    if (err != ESP_OK) {
        return err;
    }
    eh_i2c_dev_t io = {dev, i2c_write, i2c_read, delay_ms};
    eh_sht3x_driver(sensor, &sht3x, &io);
    ESP_LOGI(TAG, "sensor: SHT3x at 0x%02x on SDA %u, SCL %u", (unsigned)cfg->sht3x_address,
             (unsigned)cfg->i2c_sda, (unsigned)cfg->i2c_scl);
    return ESP_OK;
}
