"""edge/buffer.py: sequence numbers, reads, PUBACK recovery rows, retention and bounds on a real file."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.buffer import Buffer, BufferConfig
from edge.payload import Readings

NOW_US = 1_752_045_302_000_000
HOUR_US = 3600 * 1_000_000
TEMP = ("dev-1", "temperature", "°C")
HUM = ("dev-2", "humidity", "%")


def _readings(n: int, ts_us: int = NOW_US, first_value: float = 0.0) -> Readings:
    return Readings.of(((TEMP if i % 2 == 0 else HUM), ts_us + i, first_value + i) for i in range(n))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "edge" / "buffer.duckdb"


@pytest.fixture
def buf(path: Path) -> Iterator[Buffer]:
    with Buffer(BufferConfig(path=path)) as b:
        yield b


def _reopen(buf: Buffer) -> Buffer:
    buf.close()
    fresh = Buffer(buf.config)
    fresh.open()
    return fresh


def _stored_seqs(buf: Buffer) -> list[int]:
    return [seq for (seq,) in buf.query("SELECT seq FROM readings ORDER BY seq")]


def _pending(buf: Buffer) -> set[tuple[int, int]]:
    return {(m, d) for m, d in buf.query("SELECT mid, digest FROM readings WHERE mid IS NOT NULL")}


# -- sequence numbers -----------------------------------------------------------------------
def test_commit_assigns_contiguous_sequence_numbers(buf: Buffer) -> None:
    first = buf.commit(_readings(3), [])
    second = buf.commit(_readings(2), [])
    assert (first.first_seq, first.last_seq, first.count) == (1, 3, 3)
    assert (second.first_seq, second.last_seq, second.count) == (4, 5, 2)
    assert second.commit_id == first.commit_id + 1
    assert buf.last_seq == 5
    assert buf.rows == 5
    assert _stored_seqs(buf) == [1, 2, 3, 4, 5]


def test_commit_without_readings_assigns_nothing(buf: Buffer) -> None:
    buf.commit(_readings(2), [])
    empty = buf.commit(Readings(), [])
    assert empty.count == 0
    assert buf.last_seq == 2
    assert buf.commit(_readings(1), []).first_seq == 3


def test_sequence_numbers_and_series_survive_reopen(buf: Buffer) -> None:
    buf.commit(_readings(4), [])
    buf = _reopen(buf)
    try:
        assert buf.last_seq == 4
        assert buf.rows == 4
        assert buf.commit(_readings(2), []).first_seq == 5
        chunk = buf.read_after(0, 10)
        assert chunk is not None
        assert chunk.seqs.tolist() == [1, 2, 3, 4, 5, 6]
        assert [buf.series_key(int(s)) for s in chunk.series_ids[:2]] == [TEMP, HUM]
    finally:
        buf.close()


def test_numbers_are_not_reused_after_reopen_even_when_rows_were_deleted(path: Path) -> None:
    with Buffer(BufferConfig(path=path, max_rows=4)) as buf:
        buf.commit(_readings(10), [])
        buf.mark_acked(10)
        buf.enforce_bounds()
        assert buf.rows < 10
    with Buffer(BufferConfig(path=path)) as buf:
        assert buf.commit(_readings(1), []).first_seq == 11


# -- reads ----------------------------------------------------------------------------------
def test_read_after_returns_ordered_chunks_within_limit(buf: Buffer) -> None:
    buf.commit(_readings(10, first_value=100.0), [])
    first = buf.read_after(0, 4)
    assert first is not None
    assert first.seqs.tolist() == [1, 2, 3, 4]
    assert (first.first_seq, first.last_seq, len(first)) == (1, 4, 4)
    assert first.values.tolist() == [100.0, 101.0, 102.0, 103.0]
    assert first.ts_us.tolist() == [NOW_US, NOW_US + 1, NOW_US + 2, NOW_US + 3]
    assert [buf.series_key(int(s)) for s in first.series_ids] == [TEMP, HUM, TEMP, HUM]
    second = buf.read_after(first.last_seq, 4)
    assert second is not None
    assert second.seqs.tolist() == [5, 6, 7, 8]
    rest = buf.read_after(second.last_seq, 100)
    assert rest is not None
    assert rest.seqs.tolist() == [9, 10]
    assert buf.read_after(10, 100) is None


def test_read_after_jumps_over_gaps(buf: Buffer) -> None:
    buf.commit(_readings(3), [])
    buf.mark_acked(100)  # the hub is ahead: the next readings number after 100
    buf.commit(_readings(2), [])
    before = buf.read_after(0, 10)
    assert before is not None
    assert before.seqs.tolist() == [1, 2, 3]
    after = buf.read_after(3, 10)
    assert after is not None
    assert after.seqs.tolist() == [101, 102]


def test_read_after_skips_readings_deleted_from_the_front(buf: Buffer) -> None:
    buf.commit(_readings(10, ts_us=NOW_US - 2 * HOUR_US), [])
    buf.mark_acked(6)
    buf.apply_retention(NOW_US + 25 * HOUR_US)
    chunk = buf.read_after(0, 3)
    assert chunk is not None
    assert chunk.seqs.tolist() == [7, 8, 9]


# -- PUBACK recovery rows -------------------------------------------------------------------
def test_message_marks_are_recovered_after_reopen(buf: Buffer) -> None:
    # Two messages: the first brought two readings, the second one reading.
    buf.commit(_readings(3), [(0, 1, 111), (2, 2, 222)])
    assert _pending(buf) == {(1, 111), (2, 222)}
    assert [m for (m,) in buf.query("SELECT mid FROM readings ORDER BY seq")] == [1, None, 2]
    buf = _reopen(buf)
    try:
        assert buf.recovered == {(1, 111), (2, 222)}
        # Redeliveries only (fresh=False): the recovered set must stay for the next check.
        buf.commit(Readings(), [], fresh=False)
        assert buf.recovered == {(1, 111), (2, 222)}
        # A fresh message shows redelivery is over.
        buf.commit(_readings(1), [(0, 3, 333)], fresh=True)
        assert buf.recovered == set()
    finally:
        buf.close()
    with Buffer(BufferConfig(path=buf.config.path)) as again:
        assert again.recovered == {(1, 111), (2, 222), (3, 333)}


def test_numbering_survives_deleting_every_row(path: Path) -> None:
    with Buffer(BufferConfig(path=path, retention_s=0)) as buf:
        buf.commit(_readings(4, ts_us=NOW_US - HOUR_US), [])
        buf.mark_acked(4)
        assert buf.apply_retention(NOW_US) == 4
        assert buf.rows == 0
    with Buffer(BufferConfig(path=path)) as again:
        assert again.last_seq == 4
        assert again.commit(_readings(1), []).first_seq == 5


# -- acks, retention, bounds ----------------------------------------------------------------
def test_acked_watermark_is_persisted_by_housekeeping_and_close(buf: Buffer) -> None:
    buf.commit(_readings(5), [])
    buf.mark_acked(3)
    buf.mark_acked(2)  # acks are cumulative; an older one changes nothing
    assert (buf.acked_seq, buf.backlog) == (3, 2)
    buf.commit(_readings(1), [])
    buf.housekeeping(force=True)
    assert buf.query("SELECT value FROM meta WHERE key = 'acked_seq'") == [(3,)]
    buf = _reopen(buf)
    try:
        assert buf.acked_seq == 3
        assert buf.backlog == 3
        assert buf.oldest_unacked_ts_us() == NOW_US + 3
    finally:
        buf.close()


def test_retention_deletes_only_old_acked_readings(path: Path) -> None:
    with Buffer(BufferConfig(path=path, retention_s=3600)) as buf:
        buf.commit(_readings(4, ts_us=NOW_US - 2 * HOUR_US), [])  # seqs 1-4: old
        buf.commit(_readings(4, ts_us=NOW_US), [])  # seqs 5-8: recent
        buf.mark_acked(6)
        assert buf.apply_retention(NOW_US) == 4
        assert _stored_seqs(buf) == [5, 6, 7, 8]
        assert buf.rows == 4
        buf.commit(_readings(2, ts_us=NOW_US - 2 * HOUR_US), [])  # seqs 9-10: old but unacked
        assert buf.apply_retention(NOW_US) == 0
        assert _stored_seqs(buf) == [5, 6, 7, 8, 9, 10]


def test_bounds_drop_acked_first_then_oldest_unacked(path: Path) -> None:
    with Buffer(BufferConfig(path=path, max_rows=10)) as buf:
        buf.commit(_readings(20), [])
        buf.mark_acked(5)
        # Down to 90 % of the bound: 11 rows go, the 5 acked ones and the 6 oldest unacked.
        assert buf.enforce_bounds() == 11
        assert (buf.dropped_acked, buf.dropped_unacked) == (5, 6)
        assert buf.rows == 9
        assert _stored_seqs(buf) == list(range(12, 21))
        assert buf.backlog == 9  # what is stored above the watermark, not last_seq - acked_seq (15)
        assert buf.enforce_bounds() == 0  # under the bound now
    with Buffer(BufferConfig(path=path, max_rows=10)) as buf:
        assert (buf.dropped_acked, buf.dropped_unacked, buf.rows, buf.last_seq) == (5, 6, 9, 20)
        assert buf.backlog == 9
        buf.commit(_readings(2), [])
        assert buf.backlog == 11
        buf.mark_acked(14)
        assert buf.backlog == 8
        buf.mark_acked(20)  # past what was written before this start: from sequence numbers again
        assert (buf.has_gaps, buf.backlog) == (False, 2)


def test_backlog_after_a_purge_between_acks(path: Path) -> None:
    with Buffer(BufferConfig(path=path)) as buf:
        buf.commit(_readings(10), [])
        buf.mark_acked(2)
        assert buf.purge_before(NOW_US + 5) == (2, 3)  # seqs 1-5 gone, 6-10 stored
        buf.commit(_readings(3), [])  # seqs 11-13
        assert buf.backlog == 8
        buf.mark_acked(4)  # inside the gap: counted at the next tick, never more than the span
        assert buf.has_gaps and buf.backlog == 8 == buf.count_backlog()
        buf.mark_acked(7)
        assert (buf.has_gaps, buf.backlog) == (False, 6)


def test_purge_counts_unacked_deletions_across_restarts(path: Path) -> None:
    with Buffer(BufferConfig(path=path)) as buf:
        buf.commit(_readings(10), [])  # timestamps NOW_US + 0 .. 9
        buf.mark_acked(3)
        assert buf.purge_before(NOW_US + 6) == (3, 3)
        assert buf.backlog == 4
        assert buf.purge_before(NOW_US + 8) == (0, 2)
        assert buf.purged_unacked == 5
        assert buf.backlog == 2
    with Buffer(BufferConfig(path=path)) as buf:
        assert (buf.purged_unacked, buf.rows, _stored_seqs(buf), buf.backlog) == (5, 2, [9, 10], 2)
        assert (buf.dropped_acked, buf.dropped_unacked) == (0, 0)


def test_bounds_spare_unacked_when_acked_rows_suffice(path: Path) -> None:
    with Buffer(BufferConfig(path=path, max_rows=10)) as buf:
        buf.commit(_readings(20), [])
        buf.mark_acked(15)
        assert buf.enforce_bounds() == 11
        assert (buf.dropped_acked, buf.dropped_unacked) == (11, 0)
        assert _stored_seqs(buf)[0] == 12


# -- a hub watermark ahead of the buffer ----------------------------------------------------
def test_watermark_ahead_of_last_seq_raises_the_floor(buf: Buffer) -> None:
    buf.commit(_readings(3), [])
    buf.mark_acked(100)
    assert buf.seq_floor == 100
    assert buf.acked_seq == 100
    committed = buf.commit(_readings(2), [])
    assert (committed.first_seq, committed.last_seq) == (101, 102)
    assert buf.last_seq == 102
    assert buf.backlog == 2
    buf = _reopen(buf)
    try:
        assert buf.last_seq == 102
        assert buf.commit(_readings(1), []).first_seq == 103
    finally:
        buf.close()


def test_persisted_watermark_ahead_still_numbers_above_it_after_reopen(buf: Buffer) -> None:
    # A wiped buffer learns the hub's watermark, persists it, then restarts while the link is down.
    buf.mark_acked(100)
    buf.housekeeping(now_us=NOW_US, force=True)
    buf = _reopen(buf)
    try:
        assert buf.acked_seq == 100
        committed = buf.commit(_readings(2), [])
        # Numbers at or below the watermark would be dropped by the hub as duplicates.
        assert committed.first_seq > 100
        chunk = buf.read_after(buf.acked_seq, 10)
        assert chunk is not None
        assert len(chunk) == 2
    finally:
        buf.close()


# -- checkpoints ------------------------------------------------------------------------------
def test_the_wal_is_checkpointed_while_other_threads_read(buf: Buffer, path: Path) -> None:
    # The edge's gauges read the buffer from another thread every second while the writer commits
    # and updates its meta rows. A read result left open there once kept DuckDB from ever
    # checkpointing: the whole backlog stayed in the WAL (and in memory, spilling to disk).
    buf.query("SET checkpoint_threshold = '1MB'")
    reads: list[int | None] = []

    def gauge() -> None:
        reads.append(buf.oldest_unacked_ts_us())

    for i in range(30):
        buf.commit(Readings([TEMP] * 20_000, list(range(i * 20_000, (i + 1) * 20_000)),
                            [float(v % 997) for v in range(20_000)]), [])
        buf.housekeeping(force=True)  # the writer's UPDATEs of meta
        reader = threading.Thread(target=gauge)
        reader.start()
        reader.join()
    wal = Path(f"{path}.wal")
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    assert reads == [0] * 30  # the oldest unacked reading, seen from the other thread each time
    assert wal_bytes < 3 * 2**20, f"WAL holds {wal_bytes / 2**20:.1f} MiB: checkpoints did not happen"
    assert path.stat().st_size > 2 * 2**20  # the readings went into the database file
