/* flash_sim: see flash_sim.h. */
#include "flash_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static unsigned next_random(unsigned *state)
{
    unsigned x = *state ? *state : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

void flash_sim_init(flash_sim_t *f, uint32_t size, uint32_t sector, unsigned seed)
{
    memset(f, 0, sizeof *f);
    f->mem = malloc(size);
    f->erase_count = calloc(size / sector, sizeof *f->erase_count);
    if (!f->mem || !f->erase_count) {
        abort();
    }
    memset(f->mem, 0xFF, size);
    f->size = size;
    f->sector = sector;
    f->crash_at = -1;
    f->rng = seed;
}

void flash_sim_free(flash_sim_t *f)
{
    free(f->mem);
    free(f->erase_count);
}

void flash_sim_reboot(flash_sim_t *f)
{
    f->dead = false;
    f->crash_at = -1;
}

static int sim_read(void *ctx, uint32_t offset, void *buf, uint32_t len)
{
    flash_sim_t *f = ctx;
    if (f->dead) {
        return -1;
    }
    if (offset > f->size || len > f->size - offset) {
        fprintf(stderr, "flash_sim: read past the end (%u + %u)\n", offset, len);
        abort();
    }
    memcpy(buf, f->mem + offset, len);
    return 0;
}

static bool power_fails_now(flash_sim_t *f) { return f->crash_at >= 0 && f->ops++ == f->crash_at; }

static int sim_write(void *ctx, uint32_t offset, const void *buf, uint32_t len)
{
    flash_sim_t *f = ctx;
    const uint8_t *data = buf;
    if (f->dead) {
        return -1;
    }
    if (offset > f->size || len > f->size - offset) {
        fprintf(stderr, "flash_sim: write past the end (%u + %u)\n", offset, len);
        abort();
    }
    for (uint32_t i = 0; i < len; i++) {
        if ((f->mem[offset + i] & data[i]) != data[i]) {
            fprintf(stderr, "flash_sim: write at %u would set bits of 0x%02x to 0x%02x without an erase\n",
                    offset + i, f->mem[offset + i], data[i]);
            abort();
        }
    }
    if (f->crash_at < 0) {
        f->ops++;
    } else if (power_fails_now(f)) {
        uint32_t cut = len ? next_random(&f->rng) % len : 0;
        for (uint32_t i = 0; i < cut; i++) {
            f->mem[offset + i] &= data[i];
        }
        if (cut < len) { /* the byte being programmed: some of its bits */
            uint8_t some = (uint8_t)next_random(&f->rng);
            f->mem[offset + cut] &= (uint8_t)(data[cut] | some);
        }
        f->dead = true;
        f->crashed_in = 'w';
        return -1;
    }
    for (uint32_t i = 0; i < len; i++) {
        f->mem[offset + i] &= data[i];
    }
    f->last_done = 'w';
    return 0;
}

static int sim_erase(void *ctx, uint32_t offset, uint32_t len)
{
    flash_sim_t *f = ctx;
    if (f->dead) {
        return -1;
    }
    if (offset % f->sector || len % f->sector || offset > f->size || len > f->size - offset) {
        fprintf(stderr, "flash_sim: erase of %u + %u is not whole sectors\n", offset, len);
        abort();
    }
    if (f->crash_at < 0) {
        f->ops++;
    } else if (power_fails_now(f)) {
        for (uint32_t i = 0; i < len; i++) {
            unsigned r = next_random(&f->rng) % 4;
            if (r == 0) {
                f->mem[offset + i] = 0xFF;
            } else if (r == 1) {
                f->mem[offset + i] |= (uint8_t)next_random(&f->rng);
            } /* else: untouched */
        }
        f->dead = true;
        f->crashed_in = 'e';
        return -1;
    }
    memset(f->mem + offset, 0xFF, len);
    for (uint32_t s = offset / f->sector; s < (offset + len) / f->sector; s++) {
        f->erase_count[s]++;
    }
    f->last_done = 'e';
    return 0;
}

eh_storage_t flash_sim_storage(flash_sim_t *f)
{
    eh_storage_t st = {f, f->size, f->sector, sim_read, sim_write, sim_erase};
    return st;
}
