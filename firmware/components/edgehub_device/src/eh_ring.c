/* eh_ring: see eh_ring.h for the layout and the guarantees. */
#include "eh_ring.h"

#include <string.h>

#include "eh_crc.h"

#define MAGIC 0x31524845u /* "EHR1" little-endian; a new layout gets a new magic */
#define OFF_SEQ 4
#define OFF_TS 8
#define OFF_VALUE 16
#define OFF_OVERWRITTEN 24
#define OFF_BOOT 28
#define OFF_FLAGS 30
#define OFF_SENSOR 32
#define OFF_UNIT 48
#define OFF_CRC 56
#define OFF_SENT 60
#define SENSOR_FIELD (EH_RING_SENSOR_MAX + 1)
#define UNIT_FIELD (EH_RING_UNIT_MAX + 1)

typedef enum { SLOT_BLANK, SLOT_VALID, SLOT_GARBAGE, SLOT_ERROR } slot_kind_t;

/* -- little-endian packing, so that the layout does not depend on the compiler -------------- */
static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static bool fits(const char *s, size_t max) { return s && s[0] && memchr(s, '\0', max + 1) != NULL; }

static void encode(const eh_record_t *rec, uint32_t overwritten, uint8_t raw[EH_RING_SLOT_SIZE])
{
    uint64_t bits;
    memcpy(&bits, &rec->value, sizeof bits);
    memset(raw, 0, OFF_CRC);
    put_u32(raw, MAGIC);
    put_u32(raw + OFF_SEQ, rec->seq);
    put_u64(raw + OFF_TS, (uint64_t)rec->ts_ms);
    put_u64(raw + OFF_VALUE, bits);
    put_u32(raw + OFF_OVERWRITTEN, overwritten);
    raw[OFF_BOOT] = (uint8_t)rec->boot;
    raw[OFF_BOOT + 1] = (uint8_t)(rec->boot >> 8);
    raw[OFF_FLAGS] = rec->flags;
    memcpy(raw + OFF_SENSOR, rec->sensor_type, strlen(rec->sensor_type));
    memcpy(raw + OFF_UNIT, rec->unit, strlen(rec->unit));
    put_u32(raw + OFF_CRC, eh_crc32(raw, OFF_CRC));
    put_u32(raw + OFF_SENT, 0xFFFFFFFFu);
}

static void decode(const uint8_t raw[EH_RING_SLOT_SIZE], eh_record_t *rec)
{
    uint64_t bits = get_u64(raw + OFF_VALUE);
    memset(rec, 0, sizeof *rec);
    rec->seq = get_u32(raw + OFF_SEQ);
    rec->ts_ms = (int64_t)get_u64(raw + OFF_TS);
    memcpy(&rec->value, &bits, sizeof bits);
    rec->boot = (uint16_t)(raw[OFF_BOOT] | raw[OFF_BOOT + 1] << 8);
    rec->flags = raw[OFF_FLAGS];
    memcpy(rec->sensor_type, raw + OFF_SENSOR, SENSOR_FIELD);
    memcpy(rec->unit, raw + OFF_UNIT, UNIT_FIELD);
}

static slot_kind_t classify(const uint8_t raw[EH_RING_SLOT_SIZE])
{
    bool blank = true;
    for (size_t i = 0; i < EH_RING_SLOT_SIZE; i++) {
        if (raw[i] != 0xFF) {
            blank = false;
            break;
        }
    }
    if (blank) {
        return SLOT_BLANK;
    }
    if (get_u32(raw) != MAGIC || get_u32(raw + OFF_CRC) != eh_crc32(raw, OFF_CRC)
        || !memchr(raw + OFF_SENSOR, '\0', SENSOR_FIELD) || raw[OFF_SENSOR] == '\0'
        || !memchr(raw + OFF_UNIT, '\0', UNIT_FIELD)) {
        return SLOT_GARBAGE;
    }
    return SLOT_VALID;
}

/* Any cleared bit in the "sent" word means sent: a mark cut short by a power loss still counts. */
static bool is_sent(const uint8_t raw[EH_RING_SLOT_SIZE]) { return get_u32(raw + OFF_SENT) != 0xFFFFFFFFu; }

static slot_kind_t read_slot(const eh_ring_t *ring, uint32_t slot, uint8_t raw[EH_RING_SLOT_SIZE])
{
    if (ring->st->read(ring->st->ctx, slot * EH_RING_SLOT_SIZE, raw, EH_RING_SLOT_SIZE) != 0) {
        return SLOT_ERROR;
    }
    return classify(raw);
}

static uint32_t next_slot(const eh_ring_t *ring, uint32_t slot) { return (slot + 1) % ring->slots; }

/* The first unsent record at or after `start` in ring order, else wpos. */
static int find_pending(const eh_ring_t *ring, uint32_t start, uint32_t *found)
{
    uint8_t raw[EH_RING_SLOT_SIZE];
    uint32_t slot = start;
    *found = ring->wpos;
    if (ring->pending == 0) {
        return EH_RING_OK;
    }
    for (uint32_t steps = 0; steps < ring->slots; steps++, slot = next_slot(ring, slot)) {
        slot_kind_t kind = read_slot(ring, slot, raw);
        if (kind == SLOT_ERROR) {
            return EH_RING_ERR_STORAGE;
        }
        if (kind == SLOT_VALID && !is_sent(raw)) {
            *found = slot;
            return EH_RING_OK;
        }
    }
    return EH_RING_OK;
}

int eh_ring_open(eh_ring_t *ring, const eh_storage_t *storage)
{
    memset(ring, 0, sizeof *ring);
    if (!storage || storage->sector_size == 0 || storage->sector_size % EH_RING_SLOT_SIZE
        || storage->size % storage->sector_size || storage->size / storage->sector_size < 2) {
        return EH_RING_ERR_GEOMETRY;
    }
    ring->st = storage;
    ring->slots = storage->size / EH_RING_SLOT_SIZE;
    ring->slots_per_sector = storage->sector_size / EH_RING_SLOT_SIZE;
    ring->next_seq = 1;

    uint8_t raw[EH_RING_SLOT_SIZE];
    bool any = false;
    uint32_t head_slot = 0, head_seq = 0, tail_slot = 0, tail_seq = 0;
    for (uint32_t slot = 0; slot < ring->slots; slot++) {
        slot_kind_t kind = read_slot(ring, slot, raw);
        if (kind == SLOT_ERROR) {
            return EH_RING_ERR_STORAGE;
        }
        if (kind != SLOT_VALID) {
            continue;
        }
        uint32_t seq = get_u32(raw + OFF_SEQ);
        if (!any || seq > head_seq) {
            any = true;
            head_seq = seq;
            head_slot = slot;
            ring->overwritten = get_u32(raw + OFF_OVERWRITTEN);
        }
        if (!is_sent(raw)) {
            if (ring->pending == 0 || seq < tail_seq) {
                tail_seq = seq;
                tail_slot = slot;
            }
            ring->pending++;
        }
    }
    if (!any) {
        ring->wpos = 0; /* sector 0 is erased before the first write: foreign content is fine */
        ring->rpos = 0;
        return EH_RING_OK;
    }
    ring->next_seq = head_seq + 1;
    /* The next slot after the head that nothing was written to; a slot torn by a power loss while
     * it was being written is skipped (it is garbage, and flash cannot be rewritten unerased). */
    uint32_t slot = head_slot + 1;
    while (slot % ring->slots_per_sector != 0) {
        slot_kind_t kind = read_slot(ring, slot, raw);
        if (kind == SLOT_ERROR) {
            return EH_RING_ERR_STORAGE;
        }
        if (kind == SLOT_BLANK) {
            break;
        }
        slot++;
    }
    ring->wsector_ready = slot % ring->slots_per_sector != 0;
    ring->wpos = slot % ring->slots;
    ring->rpos = ring->pending ? tail_slot : ring->wpos;
    return EH_RING_OK;
}

/* Erase the sector at wpos before writing into it; unsent readings there are lost and counted. */
static int enter_sector(eh_ring_t *ring)
{
    uint8_t raw[EH_RING_SLOT_SIZE];
    uint32_t first = ring->wpos - ring->wpos % ring->slots_per_sector;
    uint32_t lost = 0;
    for (uint32_t slot = first; slot < first + ring->slots_per_sector; slot++) {
        slot_kind_t kind = read_slot(ring, slot, raw);
        if (kind == SLOT_ERROR) {
            return EH_RING_ERR_STORAGE;
        }
        lost += kind == SLOT_VALID && !is_sent(raw);
    }
    const eh_storage_t *st = ring->st;
    if (st->erase(st->ctx, first * EH_RING_SLOT_SIZE, st->sector_size) != 0) {
        return EH_RING_ERR_STORAGE;
    }
    ring->wsector_ready = true;
    ring->overwritten += lost;
    ring->pending -= lost;
    bool tail_was_here = ring->rpos >= first && ring->rpos < first + ring->slots_per_sector;
    if (ring->pending == 0) {
        ring->rpos = ring->wpos;
    } else if (tail_was_here) {
        return find_pending(ring, (first + ring->slots_per_sector) % ring->slots, &ring->rpos);
    }
    return EH_RING_OK;
}

int eh_ring_append(eh_ring_t *ring, eh_record_t *rec)
{
    if (!fits(rec->sensor_type, EH_RING_SENSOR_MAX) || !memchr(rec->unit, '\0', EH_RING_UNIT_MAX + 1)) {
        return EH_RING_ERR_ARG;
    }
    if (!ring->wsector_ready) {
        int rc = enter_sector(ring);
        if (rc != EH_RING_OK) {
            return rc;
        }
    }
    uint8_t raw[EH_RING_SLOT_SIZE];
    rec->seq = ring->next_seq;
    encode(rec, ring->overwritten, raw);
    uint32_t slot = ring->wpos;
    ring->wpos = next_slot(ring, slot);
    if (ring->wpos % ring->slots_per_sector == 0) {
        ring->wsector_ready = false;
    }
    /* The "sent" word is left as erased (0xFF): it is written once, when the reading is sent. */
    if (ring->st->write(ring->st->ctx, slot * EH_RING_SLOT_SIZE, raw, OFF_SENT) != 0) {
        return EH_RING_ERR_STORAGE; /* the slot may be torn: it was skipped above */
    }
    ring->next_seq++;
    if (ring->pending++ == 0) {
        ring->rpos = slot;
    }
    return EH_RING_OK;
}

int eh_ring_peek(eh_ring_t *ring, eh_record_t *out, size_t max, size_t *count)
{
    uint8_t raw[EH_RING_SLOT_SIZE];
    uint32_t slot = ring->rpos;
    *count = 0;
    for (uint32_t steps = 0; steps < ring->slots && *count < max && *count < ring->pending;
         steps++, slot = next_slot(ring, slot)) {
        slot_kind_t kind = read_slot(ring, slot, raw);
        if (kind == SLOT_ERROR) {
            return EH_RING_ERR_STORAGE;
        }
        if (kind == SLOT_VALID && !is_sent(raw)) {
            decode(raw, &out[(*count)++]);
        }
    }
    return EH_RING_OK;
}

int eh_ring_consume(eh_ring_t *ring, uint32_t last_seq)
{
    static const uint8_t sent[4] = {0, 0, 0, 0};
    uint8_t raw[EH_RING_SLOT_SIZE];
    uint32_t slot = ring->rpos;
    for (uint32_t steps = 0; steps < ring->slots && ring->pending > 0; steps++, slot = next_slot(ring, slot)) {
        slot_kind_t kind = read_slot(ring, slot, raw);
        if (kind == SLOT_ERROR) {
            return EH_RING_ERR_STORAGE;
        }
        if (kind != SLOT_VALID || is_sent(raw)) {
            continue;
        }
        if (get_u32(raw + OFF_SEQ) > last_seq) {
            ring->rpos = slot;
            return EH_RING_OK;
        }
        ring->rpos = slot;
        if (ring->st->write(ring->st->ctx, slot * EH_RING_SLOT_SIZE + OFF_SENT, sent, sizeof sent) != 0) {
            return EH_RING_ERR_STORAGE;
        }
        ring->pending--;
    }
    ring->rpos = ring->wpos;
    return ring->pending == 0 ? EH_RING_OK : find_pending(ring, slot, &ring->rpos);
}
