/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32) and CRC-8 (Sensirion: poly 0x31, init 0xFF). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint32_t eh_crc32(const void *data, size_t len);
uint8_t eh_crc8_sensirion(const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
