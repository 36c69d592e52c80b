/*
 * A NOR flash in RAM for the ring buffer tests, behind eh_storage_t.
 *
 * Rules of the real thing: erase sets a whole sector to 0xFF; a write can only clear bits. A write
 * that would have to set a bit (an overwrite without erase) aborts the test: on real flash it would
 * silently corrupt the data. The power can be cut at any chosen operation: that write or erase is
 * torn (a random prefix of a write lands, with the bits of the byte at the cut half programmed; an
 * erase leaves a random mix of erased bytes, old bytes and noise), and every later operation fails
 * until flash_sim_reboot().
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "eh_ring.h"

typedef struct {
    uint8_t *mem;
    uint32_t size;
    uint32_t sector;
    long ops;          /* writes and erases so far */
    long crash_at;     /* the operation the power fails in; -1 never */
    bool dead;
    char crashed_in;   /* 'w' or 'e': the kind of operation that was torn */
    char last_done;    /* 'w' or 'e': the last operation that completed */
    unsigned rng;
    long *erase_count; /* per sector, for wear checks */
} flash_sim_t;

void flash_sim_init(flash_sim_t *f, uint32_t size, uint32_t sector, unsigned seed);
void flash_sim_free(flash_sim_t *f);
void flash_sim_reboot(flash_sim_t *f);
eh_storage_t flash_sim_storage(flash_sim_t *f);
