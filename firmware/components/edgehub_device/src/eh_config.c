/* eh_config: see eh_config.h. */
#include "eh_config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(name, kind, lo, hi, help) \
    {#name, kind, offsetof(eh_config_t, name), sizeof(((eh_config_t *)0)->name), lo, hi, help}

const eh_cfg_field_t eh_config_fields[] = {
    FIELD(wifi_ssid, EH_CFG_TEXT, 0, 0, "Wi-Fi network name"),
    FIELD(wifi_password, EH_CFG_SECRET, 0, 0, "Wi-Fi password (WPA2: 8-63 characters; empty for open)"),
    FIELD(broker_url, EH_CFG_TEXT, 0, 0, "mqtt://host[:1883], or mqtts://host[:8883] with a CA"),
    FIELD(device_id, EH_CFG_TEXT, 0, 0, "this device's UUID (its topic is devices/<uuid>/telemetry)"),
    FIELD(mqtt_username, EH_CFG_TEXT, 0, 0, "broker user name (default: the device id)"),
    FIELD(mqtt_password, EH_CFG_SECRET, 0, 0, "broker password"),
    FIELD(ntp_server, EH_CFG_TEXT, 0, 0, "SNTP server for the clock"),
    FIELD(sensor, EH_CFG_TEXT, 0, 0, "sht3x (I2C temperature/humidity) or synthetic"),
    FIELD(period_ms, EH_CFG_NUMBER, 100, 3600000, "milliseconds between readings"),
    FIELD(i2c_sda, EH_CFG_NUMBER, 0, 39, "GPIO of I2C SDA"),
    FIELD(i2c_scl, EH_CFG_NUMBER, 0, 39, "GPIO of I2C SCL"),
    FIELD(sht3x_address, EH_CFG_NUMBER, 0x44, 0x45, "SHT3x I2C address: 0x44 (ADDR low) or 0x45"),
    FIELD(broker_ca, EH_CFG_PEM, 0, 0, "broker CA certificate; set with ca begin ... ca end"),
};
const size_t eh_config_field_count = sizeof eh_config_fields / sizeof eh_config_fields[0];

static void say(char *buf, size_t cap, const char *fmt, ...)
{
    if (!buf || !cap) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

static const eh_cfg_field_t *field(const char *key)
{
    for (size_t i = 0; i < eh_config_field_count; i++) {
        if (strcmp(eh_config_fields[i].key, key) == 0) {
            return &eh_config_fields[i];
        }
    }
    return NULL;
}

void eh_config_defaults(eh_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->ntp_server, sizeof cfg->ntp_server, "pool.ntp.org");
    snprintf(cfg->sensor, sizeof cfg->sensor, "sht3x");
    cfg->period_ms = 10000;
    cfg->i2c_sda = 21; /* the ESP32 DevKitC's usual I2C pins */
    cfg->i2c_scl = 22;
    cfg->sht3x_address = 0x44;
}

static bool is_uuid(const char *s)
{
    if (strlen(s) != 36) {
        return false;
    }
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

int eh_config_parse_url(const char *url, bool *tls, char *host, size_t hostcap, uint16_t *port)
{
    const char *rest;
    if (strncmp(url, "mqtts://", 8) == 0) {
        *tls = true;
        rest = url + 8;
        *port = 8883;
    } else if (strncmp(url, "mqtt://", 7) == 0) {
        *tls = false;
        rest = url + 7;
        *port = 1883;
    } else {
        return -1;
    }
    size_t n = strcspn(rest, ":/");
    if (n == 0 || n >= hostcap) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = rest[i];
        if (!isalnum((unsigned char)c) && c != '.' && c != '-' && c != '_') {
            return -1;
        }
    }
    memcpy(host, rest, n);
    host[n] = '\0';
    rest += n;
    if (*rest == ':') {
        char *end;
        unsigned long p = strtoul(rest + 1, &end, 10);
        if (end == rest + 1 || p == 0 || p > 65535) {
            return -1;
        }
        *port = (uint16_t)p;
        rest = end;
    }
    if (*rest == '/' && rest[1] == '\0') {
        rest++; /* a trailing slash is harmless */
    }
    return *rest == '\0' ? 0 : -1;
}

static bool looks_like_pem(const char *s)
{
    const char *begin = strstr(s, "-----BEGIN CERTIFICATE-----");
    return begin && strstr(begin, "-----END CERTIFICATE-----");
}

int eh_config_set(eh_config_t *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    const eh_cfg_field_t *f = field(key);
    if (!f) {
        say(err, errlen, "unknown setting '%s' (show lists them)", key);
        return -1;
    }
    char *dst = (char *)cfg + f->offset;
    if (f->kind == EH_CFG_NUMBER) {
        char *end;
        unsigned long v = strtoul(value, &end, 0); /* 0x44 or 68 */
        while (*end == ' ') {
            end++;
        }
        if (end == value || *end || value[0] == '-' || v < f->min || v > f->max) {
            say(err, errlen, "%s: expected a number from %lu to %lu, got '%s'", key, (unsigned long)f->min,
                (unsigned long)f->max, value);
            return -1;
        }
        uint32_t n = (uint32_t)v;
        memcpy(dst, &n, sizeof n);
        return 0;
    }
    size_t len = strlen(value);
    if (len >= f->size) {
        say(err, errlen, "%s: at most %u bytes, got %u", key, (unsigned)(f->size - 1), (unsigned)len);
        return -1;
    }
    if (strcmp(key, "device_id") == 0 && len && !is_uuid(value)) {
        say(err, errlen, "device_id: expected a UUID like 95b2524b-fa0e-4717-b4ba-9ae9aff3365d, got '%s'", value);
        return -1;
    }
    if (strcmp(key, "broker_url") == 0 && len) {
        bool tls;
        char host[128];
        uint16_t port;
        if (eh_config_parse_url(value, &tls, host, sizeof host, &port) != 0) {
            say(err, errlen, "broker_url: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT], got '%s'", value);
            return -1;
        }
    }
    if (strcmp(key, "sensor") == 0 && strcmp(value, "sht3x") != 0 && strcmp(value, "synthetic") != 0) {
        say(err, errlen, "sensor: expected sht3x or synthetic, got '%s'", value);
        return -1;
    }
    if (strcmp(key, "wifi_password") == 0 && len && (len < 8 || len > 64)) {
        say(err, errlen, "wifi_password: WPA2 needs 8-63 characters (or 64 hex digits), got %u", (unsigned)len);
        return -1;
    }
    if (f->kind == EH_CFG_PEM && len && !looks_like_pem(value)) {
        say(err, errlen, "%s: expected a PEM certificate (-----BEGIN CERTIFICATE----- ...)", key);
        return -1;
    }
    memcpy(dst, value, len + 1);
    if (strcmp(key, "device_id") == 0) {
        for (char *p = dst; *p; p++) {
            *p = (char)tolower((unsigned char)*p); /* topics and broker user names are case-sensitive */
        }
    }
    return 0;
}

int eh_config_validate(const eh_config_t *cfg, char *err, size_t errlen)
{
    bool tls;
    char host[128];
    uint16_t port;
    if (!cfg->wifi_ssid[0]) {
        say(err, errlen, "wifi_ssid is not set");
    } else if (!is_uuid(cfg->device_id)) {
        say(err, errlen, "device_id is not set");
    } else if (eh_config_parse_url(cfg->broker_url, &tls, host, sizeof host, &port) != 0) {
        say(err, errlen, "broker_url is not set");
    } else if (tls && !cfg->broker_ca[0]) {
        say(err, errlen, "broker_url is mqtts:// but no broker CA is set (ca begin ... ca end)");
    } else if (!tls && cfg->broker_ca[0]) {
        say(err, errlen, "a broker CA is set, so TLS is used: broker_url must be mqtts://");
    } else if (strcmp(cfg->sensor, "sht3x") != 0 && strcmp(cfg->sensor, "synthetic") != 0) {
        say(err, errlen, "sensor must be sht3x or synthetic");
    } else {
        say(err, errlen, "ready");
        return 0;
    }
    return -1;
}

const char *eh_config_username(const eh_config_t *cfg)
{
    return cfg->mqtt_username[0] ? cfg->mqtt_username : cfg->device_id;
}

void eh_console_init(eh_console_t *con, eh_config_t *cfg)
{
    memset(con, 0, sizeof *con);
    con->cfg = cfg;
}

static void show(const eh_config_t *cfg, char *reply, size_t cap)
{
    size_t used = 0;
    reply[0] = '\0';
    for (size_t i = 0; i < eh_config_field_count && used < cap; i++) {
        const eh_cfg_field_t *f = &eh_config_fields[i];
        const char *p = (const char *)cfg + f->offset;
        int n;
        if (f->kind == EH_CFG_NUMBER) {
            uint32_t v;
            memcpy(&v, p, sizeof v);
            bool hex = strcmp(f->key, "sht3x_address") == 0; /* I2C addresses read best in hex */
            n = snprintf(reply + used, cap - used, hex ? "%s = 0x%02lx\n" : "%s = %lu\n", f->key,
                         (unsigned long)v);
        } else if (f->kind == EH_CFG_SECRET) {
            n = snprintf(reply + used, cap - used, "%s = %s\n", f->key, p[0] ? "(set)" : "(not set)");
        } else if (f->kind == EH_CFG_PEM) {
            n = snprintf(reply + used, cap - used, "%s = %s%u bytes%s\n", f->key, p[0] ? "(" : "(none: ",
                         (unsigned)strlen(p), p[0] ? ", TLS to the broker)" : ", plain MQTT)");
        } else if (strcmp(f->key, "mqtt_username") == 0 && !p[0]) {
            n = snprintf(reply + used, cap - used, "%s = (the device id)\n", f->key);
        } else {
            n = snprintf(reply + used, cap - used, "%s = %s\n", f->key, p);
        }
        if (n < 0) {
            break;
        }
        used += (size_t)n;
    }
}

eh_console_action_t eh_console_line(eh_console_t *con, const char *line, char *reply, size_t cap)
{
    char err[160];
    reply[0] = '\0';
    while (*line == ' ') {
        line++;
    }
    if (con->in_ca) {
        if (strcmp(line, "ca end") == 0) {
            con->in_ca = false;
            if (eh_config_set(con->cfg, "broker_ca", con->ca, err, sizeof err) != 0) {
                say(reply, cap, "error: %s", err);
            } else {
                say(reply, cap, "broker CA set (%u bytes); TLS to the broker needs an mqtts:// broker_url",
                    (unsigned)con->ca_len);
            }
            return EH_CON_NONE;
        }
        size_t n = strlen(line);
        if (con->ca_len + n + 2 > sizeof con->ca) {
            con->in_ca = false;
            say(reply, cap, "error: certificate longer than %u bytes; discarded", (unsigned)sizeof con->ca - 1);
            return EH_CON_NONE;
        }
        memcpy(con->ca + con->ca_len, line, n);
        con->ca_len += n;
        con->ca[con->ca_len++] = '\n';
        con->ca[con->ca_len] = '\0';
        return EH_CON_NONE;
    }
    if (!line[0]) {
        return EH_CON_NONE;
    }
    if (strcmp(line, "help") == 0) {
        size_t used = (size_t)snprintf(reply, cap, "show | set KEY VALUE | unset KEY | ca begin ... ca end | "
                                                   "ca clear | save | status | reboot | factory-reset\n");
        for (size_t i = 0; i < eh_config_field_count && used < cap; i++) {
            int n = snprintf(reply + used, cap - used, "  %-16s %s\n", eh_config_fields[i].key,
                             eh_config_fields[i].help);
            used += n > 0 ? (size_t)n : 0;
        }
        return EH_CON_NONE;
    }
    if (strcmp(line, "show") == 0) {
        show(con->cfg, reply, cap);
        return EH_CON_NONE;
    }
    if (strcmp(line, "status") == 0) {
        return EH_CON_STATUS;
    }
    if (strcmp(line, "reboot") == 0) {
        say(reply, cap, "rebooting");
        return EH_CON_REBOOT;
    }
    if (strcmp(line, "factory-reset") == 0) {
        say(reply, cap, "erasing the settings and rebooting");
        return EH_CON_FACTORY_RESET;
    }
    if (strcmp(line, "save") == 0) {
        if (eh_config_validate(con->cfg, err, sizeof err) == 0) {
            say(reply, cap, "saved; settings complete: reboot to apply");
        } else {
            say(reply, cap, "saved; not complete yet: %s", err);
        }
        return EH_CON_SAVE;
    }
    if (strcmp(line, "ca begin") == 0) {
        con->in_ca = true;
        con->ca_len = 0;
        con->ca[0] = '\0';
        say(reply, cap, "paste the PEM certificate, then a line 'ca end'");
        return EH_CON_NONE;
    }
    if (strcmp(line, "ca clear") == 0) {
        con->cfg->broker_ca[0] = '\0';
        say(reply, cap, "broker CA cleared; plain MQTT needs an mqtt:// broker_url");
        return EH_CON_NONE;
    }
    if (strncmp(line, "set ", 4) == 0 || strncmp(line, "unset ", 6) == 0) {
        bool unset = line[0] == 'u';
        const char *key = line + (unset ? 6 : 4);
        while (*key == ' ') {
            key++;
        }
        size_t klen = strcspn(key, " ");
        char name[24];
        if (klen == 0 || klen >= sizeof name) {
            say(reply, cap, "error: %s KEY%s", unset ? "unset" : "set", unset ? "" : " VALUE");
            return EH_CON_NONE;
        }
        memcpy(name, key, klen);
        name[klen] = '\0';
        const char *value = key + klen;
        if (*value == ' ') {
            value++; /* exactly one separator: the value may itself start or end with spaces */
        }
        const eh_cfg_field_t *f = field(name);
        if (f && f->kind == EH_CFG_PEM && !unset) {
            say(reply, cap, "error: set %s with ca begin ... ca end", name);
            return EH_CON_NONE;
        }
        int rc;
        if (unset) {
            static eh_config_t defaults; /* static: 4 KiB is too much for a console task's stack */
            eh_config_defaults(&defaults);
            if (!f) {
                rc = eh_config_set(con->cfg, name, "", err, sizeof err); /* reports the unknown key */
            } else {
                memcpy((char *)con->cfg + f->offset, (const char *)&defaults + f->offset, f->size);
                rc = 0;
            }
        } else {
            rc = eh_config_set(con->cfg, name, value, err, sizeof err);
        }
        if (rc != 0) {
            say(reply, cap, "error: %s", err);
        } else {
            say(reply, cap, "ok (save to keep it)");
        }
        return EH_CON_NONE;
    }
    say(reply, cap, "error: unknown command '%s' (help lists them)", line);
    return EH_CON_NONE;
}
