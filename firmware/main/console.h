/* The serial console on the console UART (115200 8N1): provisioning commands, see eh_config.h. */
#pragma once

void console_start(void);
