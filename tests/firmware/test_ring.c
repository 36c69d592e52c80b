/*
 * The flash ring buffer (firmware/components/edgehub_device/src/eh_ring.c) on a simulated NOR flash:
 * order, overwrite-oldest with its count, foreign content, wear, and a power cut at every single
 * write and erase of a long random run of appends and sends, each followed by a reboot that must
 * find exactly the readings the guarantees in eh_ring.h promise.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "eh_ring.h"
#include "flash_sim.h"

#define SECTOR 256u /* 4 slots per sector: wraps and overwrites often in short runs */
#define SECTORS 4u
#define MAX_SEQ 20000u

static eh_record_t make(double value, const char *sensor, const char *unit)
{
    eh_record_t r;
    memset(&r, 0, sizeof r);
    r.value = value;
    r.ts_ms = (int64_t)(value * 1000.0);
    r.flags = EH_RING_HAS_TIME;
    r.boot = 7;
    strcpy(r.sensor_type, sensor);
    strcpy(r.unit, unit);
    return r;
}

static int same(const eh_record_t *a, const eh_record_t *b)
{
    return a->seq == b->seq && memcmp(&a->value, &b->value, sizeof a->value) == 0 && a->ts_ms == b->ts_ms
        && a->boot == b->boot && a->flags == b->flags && strcmp(a->sensor_type, b->sensor_type) == 0
        && strcmp(a->unit, b->unit) == 0;
}

static void test_order_consume_and_reopen(void)
{
    flash_sim_t f;
    flash_sim_init(&f, SECTOR * SECTORS, SECTOR, 1);
    eh_storage_t st = flash_sim_storage(&f);
    eh_ring_t ring;
    CHECK_INT(eh_ring_open(&ring, &st), EH_RING_OK);
    CHECK_INT(eh_ring_pending(&ring), 0);
    eh_record_t recs[3] = {make(1.5, "temperature", "\xc2\xb0" "C"), make(50.25, "humidity", "%"),
                           make(-3.0, "vibration", "mm/s")};
    for (int i = 0; i < 3; i++) {
        CHECK_INT(eh_ring_append(&ring, &recs[i]), EH_RING_OK);
        CHECK_INT(recs[i].seq, i + 1);
    }
    eh_record_t out[8];
    size_t n;
    CHECK_INT(eh_ring_peek(&ring, out, 8, &n), EH_RING_OK);
    CHECK_INT(n, 3);
    for (size_t i = 0; i < n && i < 3; i++) {
        CHECK(same(&out[i], &recs[i]));
    }
    CHECK_INT(eh_ring_peek(&ring, out, 2, &n), EH_RING_OK);
    CHECK_INT(n, 2);
    CHECK_INT(eh_ring_consume(&ring, 2), EH_RING_OK);
    CHECK_INT(eh_ring_pending(&ring), 1);

    eh_ring_t again; /* a reboot: the indices come back from the records alone */
    CHECK_INT(eh_ring_open(&again, &st), EH_RING_OK);
    CHECK_INT(eh_ring_pending(&again), 1);
    CHECK_INT(again.next_seq, 4);
    CHECK_INT(eh_ring_peek(&again, out, 8, &n), EH_RING_OK);
    CHECK_INT(n, 1);
    CHECK(n == 1 && same(&out[0], &recs[2]));

    eh_record_t bad = make(1, "a-sensor-name-too-long", "%");
    CHECK_INT(eh_ring_append(&again, &bad), EH_RING_ERR_ARG);
    bad = make(1, "", "%");
    CHECK_INT(eh_ring_append(&again, &bad), EH_RING_ERR_ARG);

    eh_storage_t odd = st;
    odd.size = SECTOR; /* one sector: no room to erase ahead of the writer */
    CHECK_INT(eh_ring_open(&again, &odd), EH_RING_ERR_GEOMETRY);
    odd = st;
    odd.sector_size = 100;
    CHECK_INT(eh_ring_open(&again, &odd), EH_RING_ERR_GEOMETRY);
    flash_sim_free(&f);
}

static void test_full_ring_overwrites_oldest_and_counts_it(void)
{
    flash_sim_t f;
    flash_sim_init(&f, SECTOR * SECTORS, SECTOR, 2);
    eh_storage_t st = flash_sim_storage(&f);
    eh_ring_t ring;
    eh_ring_open(&ring, &st);
    const uint32_t total = 50;
    for (uint32_t i = 1; i <= total; i++) {
        eh_record_t r = make(i, "temperature", "C");
        CHECK_INT(eh_ring_append(&ring, &r), EH_RING_OK);
    }
    uint32_t slots = SECTOR * SECTORS / EH_RING_SLOT_SIZE;
    uint32_t per_sector = SECTOR / EH_RING_SLOT_SIZE;
    CHECK(eh_ring_pending(&ring) >= slots - per_sector); /* capacity: all sectors but one */
    CHECK_INT(eh_ring_pending(&ring) + eh_ring_overwritten(&ring), total);

    eh_record_t out[32];
    size_t n;
    eh_ring_peek(&ring, out, 32, &n);
    CHECK_INT(n, eh_ring_pending(&ring));
    for (size_t i = 0; i < n; i++) { /* the newest readings, oldest first */
        CHECK_INT(out[i].seq, total - n + 1 + i);
        CHECK(out[i].value == (double)(total - n + 1 + i));
    }
    eh_ring_t again;
    eh_ring_open(&again, &st);
    CHECK_INT(eh_ring_overwritten(&again), eh_ring_overwritten(&ring)); /* kept across restarts */
    CHECK_INT(eh_ring_pending(&again), eh_ring_pending(&ring));

    /* Sent readings are not counted when their sector is reused. */
    eh_ring_consume(&again, total);
    uint32_t before = eh_ring_overwritten(&again);
    for (uint32_t i = 0; i < slots; i++) {
        eh_record_t r = make(i, "humidity", "%");
        eh_ring_append(&again, &r);
        eh_ring_consume(&again, r.seq);
    }
    CHECK_INT(eh_ring_overwritten(&again), before);
    flash_sim_free(&f);
}

static void test_foreign_content_is_ignored(void)
{
    flash_sim_t f;
    flash_sim_init(&f, SECTOR * SECTORS, SECTOR, 3);
    unsigned rng = 99;
    for (uint32_t i = 0; i < f.size; i++) {
        f.mem[i] = (uint8_t)xorshift32(&rng);
    }
    eh_storage_t st = flash_sim_storage(&f);
    eh_ring_t ring;
    CHECK_INT(eh_ring_open(&ring, &st), EH_RING_OK);
    CHECK_INT(eh_ring_pending(&ring), 0);
    for (int i = 0; i < 40; i++) {
        eh_record_t r = make(i, "pressure", "hPa");
        CHECK_INT(eh_ring_append(&ring, &r), EH_RING_OK);
        CHECK_INT(eh_ring_consume(&ring, r.seq), EH_RING_OK);
    }
    eh_record_t r = make(1013.25, "pressure", "hPa");
    eh_ring_append(&ring, &r);
    eh_ring_t again;
    eh_ring_open(&again, &st);
    eh_record_t out[16];
    size_t n;
    eh_ring_peek(&again, out, 16, &n);
    CHECK(n == 1 && same(&out[0], &r));
    flash_sim_free(&f);
}

static void test_wear_is_even(void)
{
    flash_sim_t f;
    flash_sim_init(&f, 4096 * 8, 4096, 4); /* the ESP32's 4 KiB sectors */
    eh_storage_t st = flash_sim_storage(&f);
    eh_ring_t ring;
    eh_ring_open(&ring, &st);
    for (int i = 0; i < 20000; i++) {
        eh_record_t r = make(i, "temperature", "C");
        eh_ring_append(&ring, &r);
        if (i % 7 == 6) {
            eh_ring_consume(&ring, r.seq);
        }
    }
    long lo = f.erase_count[0], hi = f.erase_count[0];
    for (int s = 1; s < 8; s++) {
        lo = f.erase_count[s] < lo ? f.erase_count[s] : lo;
        hi = f.erase_count[s] > hi ? f.erase_count[s] : hi;
    }
    CHECK(hi - lo <= 1);      /* every sector takes its turn */
    CHECK(hi <= 20000 / 64 / 8 + 2); /* one erase per 64 readings, spread over 8 sectors */
    flash_sim_free(&f);
}

/* -- power cut at every operation ------------------------------------------------------------ */
enum { PENDING = 0, CONSUMED = 1, CONSUMING = 2 };

typedef struct {
    eh_record_t rec[MAX_SEQ];
    unsigned char state[MAX_SEQ];
    uint32_t last_ok_seq;    /* highest seq whose append returned OK */
    eh_record_t in_flight;   /* the append interrupted by the power cut, if in_flight.seq */
} model_t;

static model_t model;

/* The random run: appends and publisher-like peek + consume. Returns 0, or -1 at the power cut. */
static int run(eh_ring_t *ring, unsigned seed, int steps)
{
    unsigned rng = seed;
    memset(&model, 0, sizeof model);
    for (int step = 0; step < steps; step++) {
        unsigned op = xorshift32(&rng) % 10;
        if (op < 6) {
            static const char *const sensors[] = {"temperature", "humidity", "t"};
            static const char *const units[] = {"\xc2\xb0" "C", "%", ""};
            unsigned which = xorshift32(&rng) % 3;
            eh_record_t r = make((double)xorshift32(&rng) / 7.0, sensors[which], units[which]);
            r.flags = (uint8_t)(xorshift32(&rng) % 3);
            uint32_t seq = ring->next_seq;
            r.seq = seq;
            model.in_flight = r;
            if (eh_ring_append(ring, &r) != EH_RING_OK) {
                return -1;
            }
            model.in_flight.seq = 0;
            model.rec[seq] = r;
            model.last_ok_seq = seq;
        } else {
            eh_record_t out[5];
            size_t n;
            if (eh_ring_peek(ring, out, 1 + xorshift32(&rng) % 5, &n) != EH_RING_OK) {
                return -1;
            }
            if (n == 0) {
                continue;
            }
            for (size_t i = 0; i < n; i++) {
                model.state[out[i].seq] = CONSUMING;
            }
            if (eh_ring_consume(ring, out[n - 1].seq) != EH_RING_OK) {
                return -1;
            }
            for (size_t i = 0; i < n; i++) {
                model.state[out[i].seq] = CONSUMED;
            }
        }
    }
    return 0;
}

/* After a reboot: what the ring hands out must be what eh_ring.h promises. */
static void check_after_power_cut(flash_sim_t *f, const eh_storage_t *st, uint32_t slots, uint32_t per_sector,
                                  long crash_at)
{
    eh_ring_t ring;
    bool overwrite_window = f->crashed_in == 'e' || f->last_done == 'e';
    flash_sim_reboot(f);
    CHECK_INT(eh_ring_open(&ring, st), EH_RING_OK);
    eh_record_t *out = calloc(slots, sizeof *out);
    size_t n;
    CHECK_INT(eh_ring_peek(&ring, out, slots, &n), EH_RING_OK);
    CHECK_INT(n, eh_ring_pending(&ring));
    static unsigned char seen[MAX_SEQ];
    memset(seen, 0, sizeof seen);
    bool interrupted_landed = false; /* the cut append's record made it to flash intact */
    for (size_t i = 0; i < n; i++) {
        uint32_t seq = out[i].seq;
        bool known = seq <= model.last_ok_seq && model.rec[seq].seq == seq;
        bool interrupted = model.in_flight.seq && seq == model.in_flight.seq;
        if (!(known || interrupted)) {
            fprintf(stderr, "power cut at op %ld: seq %u handed out but never appended\n", crash_at, seq);
            check_failures++;
            continue;
        }
        CHECK(same(&out[i], interrupted ? &model.in_flight : &model.rec[seq]));
        interrupted_landed |= interrupted;
        CHECK(interrupted || model.state[seq] != CONSUMED); /* acknowledged readings never come back */
        CHECK(i == 0 || out[i - 1].seq < seq);             /* oldest first */
        seen[seq] = 1;
    }
    /* Appended, not sent, not handed out: lost to overwrite, and counted (exactly, except in the
     * instant between erasing a full sector and writing the record that carries the new count). */
    uint32_t lost = 0;
    for (uint32_t seq = 1; seq <= model.last_ok_seq; seq++) {
        lost += model.rec[seq].seq == seq && model.state[seq] == PENDING && !seen[seq];
    }
    uint32_t counted = eh_ring_overwritten(&ring);
    if (!(counted <= lost && lost <= counted + (overwrite_window ? per_sector : 0))) {
        fprintf(stderr, "power cut at op %ld (%c, after %c): %u readings lost, %u counted\n", crash_at,
                f->crashed_in, f->last_done, lost, counted);
        check_failures++;
    }
    /* And the ring goes on: new readings after the old ones, each exactly once. */
    uint32_t first_new = 0;
    for (int i = 0; i < (int)slots * 2; i++) {
        eh_record_t r = make(1e6 + i, "after", "x");
        CHECK_INT(eh_ring_append(&ring, &r), EH_RING_OK);
        /* A cut append that left no valid record gives its number to the next one: nobody saw it. */
        CHECK(r.seq > model.last_ok_seq && (!interrupted_landed || r.seq > model.in_flight.seq));
        if (!first_new) {
            first_new = r.seq;
        }
        if (i % 3 == 2) {
            size_t k;
            CHECK_INT(eh_ring_peek(&ring, out, slots, &k), EH_RING_OK);
            for (size_t j = 1; j < k; j++) {
                CHECK(out[j - 1].seq < out[j].seq);
            }
            if (k) {
                CHECK_INT(eh_ring_consume(&ring, out[k - 1].seq), EH_RING_OK);
            }
        }
    }
    CHECK_INT(eh_ring_peek(&ring, out, slots, &n), EH_RING_OK);
    CHECK_INT(n, eh_ring_pending(&ring));
    free(out);
}

static void test_power_cut_at_every_operation(void)
{
    const int steps = 400;
    const unsigned seed = 12345;
    uint32_t slots = SECTOR * SECTORS / EH_RING_SLOT_SIZE, per_sector = SECTOR / EH_RING_SLOT_SIZE;
    flash_sim_t f;
    eh_storage_t st;
    eh_ring_t ring;

    flash_sim_init(&f, SECTOR * SECTORS, SECTOR, 5); /* a dry run counts the operations */
    st = flash_sim_storage(&f);
    eh_ring_open(&ring, &st);
    CHECK_INT(run(&ring, seed, steps), 0);
    long total = f.ops;
    CHECK(eh_ring_overwritten(&ring) > 0); /* the run does fill the ring */
    flash_sim_free(&f);

    int cuts = 0;
    for (long crash_at = 0; crash_at < total; crash_at++) {
        flash_sim_init(&f, SECTOR * SECTORS, SECTOR, (unsigned)crash_at + 17);
        st = flash_sim_storage(&f);
        eh_ring_open(&ring, &st);
        f.crash_at = crash_at;
        if (run(&ring, seed, steps) == 0) {
            fprintf(stderr, "power cut at op %ld did not happen\n", crash_at);
            check_failures++;
        } else {
            cuts++;
            check_after_power_cut(&f, &st, slots, per_sector, crash_at);
        }
        flash_sim_free(&f);
    }
    printf("ring: power cut at each of %d writes and erases, recovered every time\n", cuts);
}

int main(void)
{
    test_order_consume_and_reopen();
    test_full_ring_overwrites_oldest_and_counts_it();
    test_foreign_content_is_ignored();
    test_wear_is_even();
    test_power_cut_at_every_operation();
    return check_report("test_ring");
}
