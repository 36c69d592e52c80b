/*
 * eh_config: the device's settings, how they are named, checked and set over the serial console.
 *
 * The firmware keeps them in NVS (one entry per field, named by `key`; main/config_nvs.c walks
 * eh_config_fields) and changes them through eh_console_line(), which the serial console feeds one
 * line at a time. Commands:
 *
 *   show                     every setting (passwords only as "(set)")
 *   set KEY VALUE            VALUE is the rest of the line, spaces included
 *   unset KEY                back to the default
 *   ca begin / … / ca end    paste the broker CA certificate (PEM) between the two lines
 *   ca clear                 no CA: plain MQTT
 *   save                     write to NVS (says whether the settings are complete)
 *   status                   ring buffer and connection state (answered by the firmware)
 *   reboot, factory-reset
 *
 * TLS to the broker is used exactly when a CA is configured, and then broker_url must say mqtts://
 * (and mqtt:// without one), so that the URL never suggests a protection the connection lacks.
 * The MQTT username defaults to the device id: the site broker's ACL lets a user publish only to
 * devices/<username>/telemetry (deploy/mosquitto/edgehub.acl).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EH_CFG_CA_MAX 4096 /* PEM text with its NUL: a P-256 CA is ~700 bytes, an RSA-4096 one ~2 KB */

typedef struct {
    char wifi_ssid[33];      /* 802.11: at most 32 bytes */
    char wifi_password[65];  /* WPA2: 8-63 characters, or 64 hex digits */
    char broker_url[129];    /* mqtt://host[:port] or mqtts://host[:port] */
    char device_id[37];      /* UUID, lower case */
    char mqtt_username[65];  /* empty: the device id */
    char mqtt_password[65];
    char ntp_server[65];
    char sensor[16];         /* "sht3x" or "synthetic" */
    uint32_t period_ms;
    uint32_t i2c_sda;
    uint32_t i2c_scl;
    uint32_t sht3x_address;
    char broker_ca[EH_CFG_CA_MAX];
} eh_config_t;

typedef enum { EH_CFG_TEXT, EH_CFG_SECRET, EH_CFG_NUMBER, EH_CFG_PEM } eh_cfg_kind_t;

typedef struct {
    const char *key;     /* console name and NVS key (at most 15 characters) */
    eh_cfg_kind_t kind;
    size_t offset;       /* in eh_config_t */
    size_t size;         /* bytes of a text field (with its NUL) */
    uint32_t min, max;   /* range of a number */
    const char *help;
} eh_cfg_field_t;

extern const eh_cfg_field_t eh_config_fields[];
extern const size_t eh_config_field_count;

void eh_config_defaults(eh_config_t *cfg);

/* Set one field from text. 0, or -1 with a message naming the key and what it expects in `err`. */
int eh_config_set(eh_config_t *cfg, const char *key, const char *value, char *err, size_t errlen);

/* 0 when the device can run with these settings, else -1 and the first thing missing in `err`. */
int eh_config_validate(const eh_config_t *cfg, char *err, size_t errlen);

/* Split a broker URL; host gets the host name. 0 or -1. */
int eh_config_parse_url(const char *url, bool *tls, char *host, size_t hostcap, uint16_t *port);

const char *eh_config_username(const eh_config_t *cfg);

typedef enum {
    EH_CON_NONE,          /* answered in `reply` */
    EH_CON_SAVE,          /* write cfg to NVS, then print `reply` */
    EH_CON_STATUS,        /* the firmware prints its status */
    EH_CON_REBOOT,
    EH_CON_FACTORY_RESET, /* erase the settings in NVS, then reboot */
} eh_console_action_t;

typedef struct {
    eh_config_t *cfg;
    bool in_ca;     /* between "ca begin" and "ca end" */
    size_t ca_len;
    char ca[EH_CFG_CA_MAX];
} eh_console_t;

void eh_console_init(eh_console_t *con, eh_config_t *cfg);

/* One line typed on the console (without its line ending). */
eh_console_action_t eh_console_line(eh_console_t *con, const char *line, char *reply, size_t cap);

#ifdef __cplusplus
}
#endif
