/* Settings and the serial console (eh_config.c). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "eh_config.h"

static eh_config_t cfg;
static eh_console_t con;
static char reply[2048];

static eh_console_action_t type(const char *line) { return eh_console_line(&con, line, reply, sizeof reply); }

static const char *CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";

static void test_console_provisioning(void)
{
    eh_config_defaults(&cfg);
    eh_console_init(&con, &cfg);
    char err[200];
    CHECK(eh_config_validate(&cfg, err, sizeof err) != 0);
    CHECK_STR(err, "wifi_ssid is not set");

    type("set wifi_ssid Plant Floor 2"); /* the value is the rest of the line */
    CHECK_STR(reply, "ok (save to keep it)");
    CHECK_STR(cfg.wifi_ssid, "Plant Floor 2");
    type("set wifi_password short");
    CHECK(strncmp(reply, "error: wifi_password", 20) == 0);
    type("set wifi_password correct horse battery");
    CHECK_STR(cfg.wifi_password, "correct horse battery");
    type("set device_id 95B2524B-FA0E-4717-B4BA-9AE9AFF3365D");
    CHECK_STR(cfg.device_id, "95b2524b-fa0e-4717-b4ba-9ae9aff3365d"); /* topics are case-sensitive */
    type("set device_id sensor-1");
    CHECK(strstr(reply, "expected a UUID") != NULL);
    CHECK_STR(cfg.device_id, "95b2524b-fa0e-4717-b4ba-9ae9aff3365d");
    CHECK_STR(eh_config_username(&cfg), "95b2524b-fa0e-4717-b4ba-9ae9aff3365d");
    type("set broker_url http://broker");
    CHECK(strstr(reply, "expected mqtt://HOST[:PORT]") != NULL);
    type("set broker_url mqtt://edge-gw.plant.local:1883");
    CHECK_STR(reply, "ok (save to keep it)");
    CHECK(type("save") == EH_CON_SAVE);
    CHECK_STR(reply, "saved; settings complete: reboot to apply");

    type("set period_ms 50");
    CHECK(strstr(reply, "from 100 to 3600000") != NULL);
    type("set period_ms 2000");
    CHECK_INT(cfg.period_ms, 2000);
    type("set sht3x_address 0x45");
    CHECK_INT(cfg.sht3x_address, 0x45);
    type("set sht3x_address 0x46");
    CHECK_INT(cfg.sht3x_address, 0x45);
    type("set sensor bme280");
    CHECK(strstr(reply, "sht3x or synthetic") != NULL);
    type("set colour red");
    CHECK(strstr(reply, "unknown setting 'colour'") != NULL);
    type("unset period_ms");
    CHECK_INT(cfg.period_ms, 10000);

    /* TLS: a CA pasted over the console, and then the URL must say mqtts:// (and back). */
    type("ca begin");
    for (const char *p = CA; *p;) {
        char line[80];
        size_t n = strcspn(p, "\n");
        memcpy(line, p, n);
        line[n] = '\0';
        CHECK(type(line) == EH_CON_NONE);
        p += n + (p[n] == '\n');
    }
    type("ca end");
    CHECK(strncmp(reply, "broker CA set", 13) == 0);
    CHECK_STR(cfg.broker_ca, CA);
    CHECK(eh_config_validate(&cfg, err, sizeof err) != 0);
    CHECK_STR(err, "a broker CA is set, so TLS is used: broker_url must be mqtts://");
    type("set broker_url mqtts://edge-gw.plant.local");
    CHECK(eh_config_validate(&cfg, err, sizeof err) == 0);
    type("ca clear");
    CHECK(eh_config_validate(&cfg, err, sizeof err) != 0);
    CHECK_STR(err, "broker_url is mqtts:// but no broker CA is set (ca begin ... ca end)");
    type("ca begin");
    type("not a certificate");
    type("ca end");
    CHECK(strstr(reply, "expected a PEM certificate") != NULL);
    type("set broker_ca x");
    CHECK(strstr(reply, "ca begin") != NULL);

    type("show");
    CHECK(strstr(reply, "wifi_password = (set)\n") != NULL);
    CHECK(strstr(reply, "correct horse") == NULL); /* secrets are never printed */
    CHECK(strstr(reply, "mqtt_username = (the device id)\n") != NULL);
    CHECK(strstr(reply, "sht3x_address = 0x45\n") != NULL);
    CHECK(strstr(reply, "broker_ca = (none: 0 bytes, plain MQTT)\n") != NULL);
    type("help");
    CHECK(strstr(reply, "device_id") != NULL);
    CHECK(type("status") == EH_CON_STATUS);
    CHECK(type("reboot") == EH_CON_REBOOT);
    CHECK(type("factory-reset") == EH_CON_FACTORY_RESET);
    type("frobnicate");
    CHECK(strstr(reply, "unknown command") != NULL);
    CHECK(type("") == EH_CON_NONE);

    /* A certificate longer than the buffer is refused, not truncated. */
    type("ca begin");
    char line[100];
    memset(line, 'A', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    for (int i = 0; i < 50 && con.in_ca; i++) {
        type(line);
    }
    CHECK(!con.in_ca);
    CHECK(strstr(reply, "discarded") != NULL);
    CHECK_STR(cfg.broker_ca, "");
}

static void test_urls(void)
{
    bool tls;
    char host[64];
    uint16_t port;
    CHECK(eh_config_parse_url("mqtt://10.0.0.5", &tls, host, sizeof host, &port) == 0);
    CHECK(!tls && port == 1883 && strcmp(host, "10.0.0.5") == 0);
    CHECK(eh_config_parse_url("mqtts://broker.example.com:8884/", &tls, host, sizeof host, &port) == 0);
    CHECK(tls && port == 8884 && strcmp(host, "broker.example.com") == 0);
    const char *bad[] = {"mqtt://", "mqtt://:1883", "mqtt://h:0", "mqtt://h:65536", "mqtt://h:x", "mqtt://h/path",
                         "tcp://h", "mqtt://h h", "mqtt://user@h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(eh_config_parse_url(bad[i], &tls, host, sizeof host, &port) != 0);
    }
    /* Every field the NVS code walks has a key NVS accepts (at most 15 characters). */
    for (size_t i = 0; i < eh_config_field_count; i++) {
        CHECK(strlen(eh_config_fields[i].key) <= 15);
    }
}

int main(void)
{
    test_console_provisioning();
    test_urls();
    return check_report("test_config");
}
