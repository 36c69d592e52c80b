/* The MQTT side: esp-mqtt at QoS 1, sending the flash ring oldest first, reconnecting with backoff. */
#pragma once

void publisher_start(void);
void publisher_network_up(void); /* Wi-Fi has an address again: reconnect now, not after the backoff */
