"""hub/store.py and edgehub/columns.py: exactly-once batch commits, queries, and the columnar wire format."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from edgehub.columns import BatchFormatError, Columns, decode, encode
from hub.store import Store
from protos import link_pb2

T0_US = 1_752_045_302_000_000  # 2025-07-09T07:15:02Z
SEC_US = 1_000_000
TEMP = ("dev-1", "temperature", "°C")
HUM = ("dev-2", "humidity", "%")
KEYS = [TEMP, HUM]  # edge series ids 1 and 2


def _batch(seqs: list[int], sids: list[int] | None = None, ts_us: list[int] | None = None) -> Columns:
    """A batch as the hub receives it: encoded on the edge, serialised, parsed and decoded."""
    seq_arr = np.array(seqs, dtype=np.int64)
    sid_arr = np.array(sids if sids is not None else [1] * len(seqs), dtype=np.int32)
    ts_arr = np.array(ts_us if ts_us is not None else [T0_US + s * SEC_US for s in seqs], dtype=np.int64)
    values = seq_arr.astype(np.float64) + 0.5
    wire = encode(sid_arr, seq_arr, ts_arr, values, KEYS).SerializeToString()
    return decode(link_pb2.SampleBatch.FromString(wire))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "hub.duckdb").open()
    s.create_edge("edge-1", "hash")
    yield s
    s.close()


def _edge_seqs(store: Store) -> list[int]:
    return [q for (q,) in store.query("SELECT edge_seq FROM sensor_data ORDER BY edge_seq")]


# -- columns ----------------------------------------------------------------------------------
def test_encode_decode_round_trip() -> None:
    sids = np.array([7, 3, 7, 3], dtype=np.int32)
    seqs = np.array([10, 11, 13, 20], dtype=np.int64)
    ts = np.array([T0_US, T0_US + 1, T0_US + 2, T0_US + 3], dtype=np.int64)
    values = np.array([1.0, -2.5, 3.25, 1e300])
    batch = encode(sids, seqs, ts, values, {3: TEMP, 7: HUM}, key_base=0)
    assert (batch.first_seq, batch.last_seq, batch.count) == (10, 20, 4)
    assert len(batch.series) == 2  # each key once per batch
    cols = decode(link_pb2.SampleBatch.FromString(batch.SerializeToString()))
    assert [cols.keys[i] for i in cols.series_index] == [HUM, TEMP, HUM, TEMP]
    assert cols.seqs.tolist() == seqs.tolist()
    assert cols.ts_us.tolist() == ts.tolist()
    assert cols.values.tolist() == values.tolist()
    assert len(cols) == 4


def _good_batch() -> link_pb2.SampleBatch:
    return encode(
        np.array([1, 2, 1], dtype=np.int32), np.array([5, 6, 7], dtype=np.int64),
        np.array([T0_US] * 3, dtype=np.int64), np.array([1.0, 2.0, 3.0]), KEYS,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"count": 4}, "column lengths"),
        ({"values": b"\x00" * 16}, "column lengths"),
        ({"series_index": np.array([0, 2, 0], dtype="<u4").tobytes()}, "series index out of range"),
        ({"seqs": np.array([5, 7, 6], dtype="<i8").tobytes()}, "do not increase"),
        ({"seqs": np.array([5, 5, 7], dtype="<i8").tobytes()}, "do not increase"),
        ({"first_seq": 4}, "first_seq/last_seq"),
        ({"last_seq": 8}, "first_seq/last_seq"),
    ],
)
def test_decode_rejects_inconsistent_batches(change: dict[str, object], message: str) -> None:
    batch = _good_batch()
    for field, value in change.items():
        setattr(batch, field, value)
    with pytest.raises(BatchFormatError, match=message):
        decode(batch)


# -- exactly-once commits -------------------------------------------------------------------
def test_commit_stores_rows_and_advances_watermark(store: Store) -> None:
    result = store.commit_batch("edge-1", _batch([1, 2, 3], sids=[1, 2, 1]))
    assert (result.watermark, result.stored, result.duplicates) == (3, 3, 0)
    assert result.devices == ("dev-1", "dev-2")
    assert store.watermark("edge-1") == 3
    assert store.count_readings() == 3
    assert store.list_edges()[0]["acked_seq"] == 3


def test_resent_batch_is_all_duplicates(store: Store) -> None:
    store.commit_batch("edge-1", _batch([1, 2, 3]))
    again = store.commit_batch("edge-1", _batch([1, 2, 3]))
    assert (again.watermark, again.stored, again.duplicates) == (3, 0, 3)
    assert _edge_seqs(store) == [1, 2, 3]


def test_straddling_batch_stores_only_the_part_above_the_watermark(store: Store) -> None:
    store.commit_batch("edge-1", _batch([1, 2, 3]))
    result = store.commit_batch("edge-1", _batch([2, 3, 4, 6]))  # 5 was dropped on the edge
    assert (result.watermark, result.stored, result.duplicates) == (6, 2, 2)
    assert _edge_seqs(store) == [1, 2, 3, 4, 6]


def test_watermark_survives_reopen(store: Store, tmp_path: Path) -> None:
    store.commit_batch("edge-1", _batch([1, 2, 3]))
    store.close()
    again = Store(tmp_path / "hub.duckdb").open()
    try:
        assert again.watermark("edge-1") == 3
        assert again.commit_batch("edge-1", _batch([3, 4])).stored == 1
        assert _edge_seqs(again) == [1, 2, 3, 4]
    finally:
        again.close()


def test_watermarks_are_per_edge(store: Store) -> None:
    store.create_edge("edge-2", "hash2")
    store.commit_batch("edge-1", _batch([1, 2, 3]))
    result = store.commit_batch("edge-2", _batch([1, 2]))
    assert (result.stored, result.duplicates) == (2, 0)
    assert (store.watermark("edge-1"), store.watermark("edge-2")) == (3, 2)


def test_create_edge_refuses_a_duplicate(store: Store) -> None:
    assert not store.create_edge("edge-1", "other")
    assert store.edge_token_hash("edge-1") == "hash"
    assert store.edge_token_hash("nope") is None


def test_park_batch_advances_the_watermark(store: Store) -> None:
    store.commit_batch("edge-1", _batch([1, 2]))
    assert store.park_batch("edge-1", 3, 9, "series index out of range", b"raw") == 9
    assert store.watermark("edge-1") == 9
    assert store.query("SELECT edge_id, first_seq, last_seq, reason, raw FROM parked_batches") == [
        ("edge-1", 3, 9, "series index out of range", b"raw")
    ]
    # The parked range is never stored later, whatever arrives for it.
    result = store.commit_batch("edge-1", _batch([8, 9, 10]))
    assert (result.stored, result.duplicates) == (1, 2)
    assert store.count_readings() == 3


# -- devices and series -----------------------------------------------------------------------
def test_devices_are_registered_on_first_reading(store: Store) -> None:
    assert store.list_devices() == []
    assert not store.device_exists("dev-1")
    store.commit_batch("edge-1", _batch([1, 2], sids=[1, 2]))
    devices = {d["device_id"]: d for d in store.list_devices()}
    assert set(devices) == {"dev-1", "dev-2"}
    assert devices["dev-1"]["edge_id"] == "edge-1"
    assert [(s["sensor_type"], s["unit"]) for s in devices["dev-2"]["sensors"]] == [("humidity", "%")]
    assert store.device_exists("dev-2")


def test_series_keep_the_newest_value(store: Store) -> None:
    store.commit_batch("edge-1", _batch([1, 2, 3], ts_us=[T0_US, T0_US + 5 * SEC_US, T0_US + 2 * SEC_US]))
    # A later batch carrying an older reading (a device's buffered backlog) must not win.
    store.commit_batch("edge-1", _batch([4], ts_us=[T0_US + SEC_US]))
    (sensor,) = store.list_devices()[0]["sensors"]
    assert sensor["last_value"] == 2.5  # seq 2, the newest timestamp
    assert sensor["last_ts"] == datetime(2025, 7, 9, 7, 15, 7)  # naive UTC


def _crash(store: Store) -> None:
    """Close DuckDB the way a SIGKILL leaves it: committed rows are in the file (WAL), nothing that
    ``close()`` would still write."""
    store._writer.shutdown(wait=True)
    store._readers.shutdown(wait=True)
    assert store._db is not None
    store._db.close()
    store._db = None


def test_last_values_written_only_in_memory_survive_a_crash(store: Store, tmp_path: Path) -> None:
    store.commit_batch("edge-1", _batch([1, 2], sids=[1, 2]))  # the first commit writes last values
    store.commit_batch("edge-1", _batch([3, 4], sids=[1, 2]))  # these stay in memory until the next flush
    stored = dict(store.query("SELECT device_id, last_value FROM series"))
    assert stored == {"dev-1": 1.5, "dev-2": 2.5}, "the second batch's last values were written at once"
    live = {d["device_id"]: d["sensors"][0]["last_value"] for d in store.list_devices()}
    assert live == {"dev-1": 3.5, "dev-2": 4.5}
    _crash(store)
    again = Store(tmp_path / "hub.duckdb").open()
    try:
        after = {d["device_id"]: (d["sensors"][0]["last_value"], d["last_seen"]) for d in again.list_devices()}
        assert after == {"dev-1": (3.5, datetime(2025, 7, 9, 7, 15, 5)), "dev-2": (4.5, datetime(2025, 7, 9, 7, 15, 6))}
        assert dict(again.query("SELECT device_id, last_value FROM series")) == {"dev-1": 3.5, "dev-2": 4.5}
        assert again.query("SELECT acked_seq FROM edges WHERE edge_id = 'edge-1'") == [(4,)]
        (edge,) = again.list_edges()
        assert edge["acked_seq"] == 4
    finally:
        again.close()


def test_parking_writes_the_pending_last_values_first(store: Store, tmp_path: Path) -> None:
    store.commit_batch("edge-1", _batch([1], sids=[1]))
    store.commit_batch("edge-1", _batch([2], sids=[1]))  # in memory only
    store.park_batch("edge-1", 3, 5, "bad", b"raw")  # the stored watermark passes seq 2
    _crash(store)
    again = Store(tmp_path / "hub.duckdb").open()
    try:
        assert again.list_devices()[0]["sensors"][0]["last_value"] == 2.5
    finally:
        again.close()


# -- readings queries -------------------------------------------------------------------------
@pytest.fixture
def ten(store: Store) -> Store:
    """dev-1 temperature at T0+1 s .. T0+10 s (values 1.5 .. 10.5) and one humidity reading of dev-2."""
    store.commit_batch("edge-1", _batch(list(range(1, 11))))
    store.commit_batch("edge-1", _batch([11], sids=[2]))
    return store


def _values(rows: list[dict[str, object]]) -> list[object]:
    return [r["value"] for r in rows]


def test_readings_without_from_are_the_newest_oldest_first(ten: Store) -> None:
    rows = ten.readings("dev-1", limit=3)
    assert _values(rows) == [8.5, 9.5, 10.5]
    assert rows[0] == {"timestamp": "2025-07-09T07:15:10Z", "value": 8.5, "unit": "°C", "sensor_type": "temperature"}


def test_readings_with_from_start_there_oldest_first(ten: Store) -> None:
    assert _values(ten.readings("dev-1", from_us=T0_US + 4 * SEC_US, limit=3)) == [4.5, 5.5, 6.5]


def test_readings_to_is_inclusive_and_bounds_the_newest(ten: Store) -> None:
    assert _values(ten.readings("dev-1", to_us=T0_US + 5 * SEC_US, limit=2)) == [4.5, 5.5]
    rows = ten.readings("dev-1", from_us=T0_US + 3 * SEC_US, to_us=T0_US + 5 * SEC_US)
    assert _values(rows) == [3.5, 4.5, 5.5]


def test_readings_filter_by_device_and_sensor(ten: Store) -> None:
    assert len(ten.readings("dev-1")) == 10
    assert _values(ten.readings("dev-2")) == [11.5]
    assert ten.readings("dev-1", sensor_type="humidity") == []
    assert ten.readings("dev-9") == []


def test_readings_keep_microseconds(store: Store) -> None:
    store.commit_batch("edge-1", _batch([1], ts_us=[T0_US + 123_450]))
    assert store.readings("dev-1")[0]["timestamp"] == "2025-07-09T07:15:02.12345Z"
