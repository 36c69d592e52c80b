/*
 * eh_ring: readings kept in flash while Wi-Fi or the broker is down, sent oldest first when back.
 *
 * Storage is anything behind eh_storage_t with NOR-flash rules: erase sets a whole sector to 0xFF,
 * a write can only clear bits. On the ESP32 that is a data partition (main/storage_flash.c); on the
 * host it is a simulated flash that also cuts the power in the middle of any write or erase.
 *
 * Layout: the storage is an array of 64-byte slots, written in order round the ring, a sector at a
 * time. Each slot holds one record: magic, sequence number, the reading, the count of readings
 * overwritten so far, a CRC-32 over all of that, and a "sent" word outside the CRC that starts as
 * 0xFFFFFFFF and is cleared once the broker acknowledged the reading.
 *
 * Crash-safe indices: the head (next slot to write, next sequence number) and the tail (oldest
 * unsent reading) are not stored anywhere; eh_ring_open() rebuilds them from the records: the head
 * follows the valid record with the highest sequence number, the tail is the unsent valid record with
 * the lowest. A write cut by a power loss leaves a slot whose CRC fails (skipped, never sent) or
 * nothing at all; a cut "sent" mark leaves some bits cleared, which counts as sent (the broker had
 * acknowledged it). So no power loss can make the indices disagree with the data, and no separate
 * index page wears out the flash: each slot is written twice per pass (record, sent mark) and each
 * sector erased once per pass.
 *
 * Bounded, overwrite-oldest: before the writer enters a sector it erases it. If that sector still
 * holds unsent readings (the ring is full), they are lost; their number is added to `overwritten`,
 * which is kept in every record written afterwards and so survives restarts. Capacity is at least
 * (sectors - 1) * slots-per-sector readings.
 *
 * Guarantees (tests/firmware/test_ring.c cuts the power at every single storage operation):
 *   - eh_ring_append() returned OK: the reading is sent later, or counted in `overwritten`;
 *   - eh_ring_consume() returned OK: those readings are never handed out again;
 *   - nothing is handed out that was not appended (no torn or stale record), and in append order.
 * A reading whose "sent" mark was being written when the power failed may be sent again (the broker
 * gives QoS 1, at least once).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EH_RING_SLOT_SIZE 64u
#define EH_RING_SENSOR_MAX 15u /* bytes of sensor_type, without the NUL */
#define EH_RING_UNIT_MAX 7u    /* bytes of unit ("°C" is 3, "mm/s" 4) */

#define EH_RING_OK 0
#define EH_RING_ERR_STORAGE (-1) /* the storage reported an error (or the power went) */
#define EH_RING_ERR_GEOMETRY (-2) /* size/sector size unusable: need >= 2 sectors of whole slots */
#define EH_RING_ERR_ARG (-3)     /* a name too long or empty */

/* Flags of a record. */
#define EH_RING_HAS_TIME 0x01u /* ts_ms is epoch milliseconds from a synchronised clock */
#define EH_RING_UPTIME 0x02u   /* ts_ms is milliseconds since boot number `boot` (clock not yet set) */

typedef struct {
    void *ctx;
    uint32_t size;        /* bytes; a multiple of sector_size */
    uint32_t sector_size; /* erase unit; a multiple of EH_RING_SLOT_SIZE */
    int (*read)(void *ctx, uint32_t offset, void *buf, uint32_t len);        /* 0 = ok */
    int (*write)(void *ctx, uint32_t offset, const void *buf, uint32_t len); /* 0 = ok */
    int (*erase)(void *ctx, uint32_t offset, uint32_t len);                  /* whole sectors; 0 = ok */
} eh_storage_t;

typedef struct {
    uint32_t seq;   /* assigned by eh_ring_append(), increasing */
    int64_t ts_ms;
    double value;
    uint16_t boot;
    uint8_t flags;  /* EH_RING_HAS_TIME or EH_RING_UPTIME, or neither */
    char sensor_type[EH_RING_SENSOR_MAX + 1];
    char unit[EH_RING_UNIT_MAX + 1];
} eh_record_t;

typedef struct {
    const eh_storage_t *st;
    uint32_t slots;
    uint32_t slots_per_sector;
    uint32_t wpos;          /* slot the next record goes to */
    bool wsector_ready;     /* wpos's sector was erased by us (else erase before writing) */
    uint32_t rpos;          /* slot of the oldest unsent record; == wpos when there is none */
    uint32_t next_seq;
    uint32_t pending;       /* unsent records */
    uint32_t overwritten;   /* unsent records lost to overwrite, over the ring's lifetime */
} eh_ring_t;

/* Rebuild the indices from storage (after boot or a crash). Empty or foreign content is fine. */
int eh_ring_open(eh_ring_t *ring, const eh_storage_t *storage);

/* Store one reading; rec->seq is set. May erase the oldest sector (counted in `overwritten`). */
int eh_ring_append(eh_ring_t *ring, eh_record_t *rec);

/* Up to `max` oldest unsent records, oldest first, without removing them; *count tells how many. */
int eh_ring_peek(eh_ring_t *ring, eh_record_t *out, size_t max, size_t *count);

/* Mark every unsent record with seq <= last_seq as sent (after the broker acknowledged them). */
int eh_ring_consume(eh_ring_t *ring, uint32_t last_seq);

static inline uint32_t eh_ring_pending(const eh_ring_t *ring) { return ring->pending; }
static inline uint32_t eh_ring_overwritten(const eh_ring_t *ring) { return ring->overwritten; }

#ifdef __cplusplus
}
#endif
