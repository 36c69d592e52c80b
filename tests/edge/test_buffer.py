"""edge/buffer.py: sequence numbers, reads, PUBACK recovery rows, retention and bounds on a real file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.buffer import KEEP_COMMITS, Buffer, BufferConfig
from edge.payload import Reading

NOW_US = 1_752_045_302_000_000
HOUR_US = 3600 * 1_000_000
TEMP = ("dev-1", "temperature", "°C")
HUM = ("dev-2", "humidity", "%")


def _readings(n: int, ts_us: int = NOW_US, first_value: float = 0.0) -> list[Reading]:
    return [((TEMP if i % 2 == 0 else HUM), ts_us + i, first_value + i) for i in range(n)]


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
    return {(m, d) for m, d in buf.query("SELECT unnest(mids), unnest(digests) FROM commits")}


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
    empty = buf.commit([], [(1, 11)])
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
def test_pending_acks_are_recovered_after_reopen(buf: Buffer) -> None:
    buf.commit(_readings(2), [(1, 111), (2, 222)])
    buf = _reopen(buf)
    try:
        assert buf.recovered == {(1, 111), (2, 222)}
        # Redeliveries only (fresh=False): the recovered rows must stay, even through housekeeping.
        buf.commit([], [], fresh=False)
        for _ in range(KEEP_COMMITS + 1):
            buf.commit([], [], fresh=False)
        buf.housekeeping(force=True)
        assert {(1, 111), (2, 222)} <= _pending(buf)
        # A fresh message shows redelivery is over; later housekeeping drops rows beyond the last few.
        buf.commit(_readings(1), [(3, 333)], fresh=True)
        for i in range(KEEP_COMMITS):
            buf.commit(_readings(1), [(10 + i, 1000 + i)], fresh=True)
        buf.housekeeping(force=True)
        assert _pending(buf) == {(10 + i, 1000 + i) for i in range(KEEP_COMMITS)}
    finally:
        buf.close()
    with Buffer(BufferConfig(path=buf.config.path)) as again:
        assert again.recovered == {(10 + i, 1000 + i) for i in range(KEEP_COMMITS)}


def test_recovered_set_is_emptied_with_the_file_rows(buf: Buffer) -> None:
    buf.commit(_readings(1), [(1, 111)])
    buf = _reopen(buf)
    try:
        buf.commit(_readings(1), [(2, 222)], fresh=True)
        assert (2, 222) in _pending(buf)
        # A later redelivery of an unrelated message with the same packet id and payload must be
        # stored, not skipped as "already stored" against a row the file no longer has.
        assert buf.recovered == set()
    finally:
        buf.close()


def test_housekeeping_keeps_the_acks_of_the_last_commits_only(buf: Buffer) -> None:
    for i in range(KEEP_COMMITS + 3):
        buf.commit(_readings(1), [(i, 10 * i)])
    assert len(_pending(buf)) == KEEP_COMMITS + 3  # nothing deleted on the commit path
    buf.housekeeping(force=True)
    assert _pending(buf) == {(i, 10 * i) for i in range(3, KEEP_COMMITS + 3)}


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
        assert buf.enforce_bounds() == 0  # under the bound now
    with Buffer(BufferConfig(path=path, max_rows=10)) as buf:
        assert (buf.dropped_acked, buf.dropped_unacked, buf.rows, buf.last_seq) == (5, 6, 9, 20)


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
