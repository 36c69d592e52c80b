/* settings: see settings.h. */
#include "settings.h"

#include <string.h>

#include "esp_log.h"
#include "nvs.h"
#include "nvs_flash.h"

static const char *TAG = "settings";
static const char *NAMESPACE = "edgehub";

esp_err_t settings_init(void)
{
    esp_err_t err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        ESP_LOGW(TAG, "NVS partition unusable (%s); erasing it: the device needs provisioning again",
                 esp_err_to_name(err));
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    return err;
}

void settings_load(eh_config_t *cfg)
{
    eh_config_defaults(cfg);
    nvs_handle_t h;
    if (nvs_open(NAMESPACE, NVS_READONLY, &h) != ESP_OK) {
        return; /* never saved: defaults */
    }
    for (size_t i = 0; i < eh_config_field_count; i++) {
        const eh_cfg_field_t *f = &eh_config_fields[i];
        char *dst = (char *)cfg + f->offset;
        if (f->kind == EH_CFG_NUMBER) {
            uint32_t v;
            if (nvs_get_u32(h, f->key, &v) == ESP_OK) {
                memcpy(dst, &v, sizeof v);
            }
        } else {
            size_t len = f->size;
            esp_err_t err = nvs_get_str(h, f->key, dst, &len);
            if (err != ESP_OK && err != ESP_ERR_NVS_NOT_FOUND) {
                ESP_LOGW(TAG, "setting %s unreadable (%s); using its default", f->key, esp_err_to_name(err));
                static eh_config_t defaults; /* static: too big for the main task's stack */
                eh_config_defaults(&defaults);
                memcpy(dst, (const char *)&defaults + f->offset, f->size);
            }
        }
    }
    nvs_close(h);
}

esp_err_t settings_save(const eh_config_t *cfg)
{
    nvs_handle_t h;
    esp_err_t err = nvs_open(NAMESPACE, NVS_READWRITE, &h);
    if (err != ESP_OK) {
        return err;
    }
    for (size_t i = 0; i < eh_config_field_count && err == ESP_OK; i++) {
        const eh_cfg_field_t *f = &eh_config_fields[i];
        const char *src = (const char *)cfg + f->offset;
        if (f->kind == EH_CFG_NUMBER) {
            uint32_t v;
            memcpy(&v, src, sizeof v);
            err = nvs_set_u32(h, f->key, v);
        } else {
            err = nvs_set_str(h, f->key, src);
        }
        if (err != ESP_OK) {
            ESP_LOGE(TAG, "saving %s failed: %s", f->key, esp_err_to_name(err));
        }
    }
    if (err == ESP_OK) {
        err = nvs_commit(h);
    }
    nvs_close(h);
    return err;
}

esp_err_t settings_erase(void)
{
    nvs_handle_t h;
    esp_err_t err = nvs_open(NAMESPACE, NVS_READWRITE, &h);
    if (err == ESP_OK) {
        err = nvs_erase_all(h);
        if (err == ESP_OK) {
            err = nvs_commit(h);
        }
        nvs_close(h);
    }
    return err;
}

uint16_t settings_next_boot(void)
{
    nvs_handle_t h;
    uint16_t boot = 0;
    if (nvs_open(NAMESPACE, NVS_READWRITE, &h) == ESP_OK) {
        nvs_get_u16(h, "boot", &boot);
        boot++;
        nvs_set_u16(h, "boot", boot);
        nvs_commit(h);
        nvs_close(h);
    }
    return boot;
}
