"""edge/tracked.py: the tracked-variable cache follows snapshot + versioned deltas and survives restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.tracked import TrackedCache
from protos import link_pb2


def _var(widget: str, device: str, sensor: str, max_samples: int = 50) -> link_pb2.TrackedVariable:
    return link_pb2.TrackedVariable(
        device_id=device, sensor_type=sensor, widget_id=widget, dashboard_uuid="dash-1", max_samples=max_samples
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "tracked.json"


@pytest.fixture
def cache(path: Path) -> TrackedCache:
    c = TrackedCache(path)
    c.apply_snapshot(link_pb2.TrackedSnapshot(
        version=3, variables=[_var("w1", "dev-1", "temperature"), _var("w2", "dev-1", "humidity")],
    ))
    return c


def test_new_cache_is_empty(path: Path) -> None:
    c = TrackedCache(path)
    assert (c.version, c.entries(), c.series) == (0, [], frozenset())


def test_snapshot_replaces_everything(cache: TrackedCache) -> None:
    assert cache.version == 3
    assert cache.series == {("dev-1", "temperature"), ("dev-1", "humidity")}
    cache.apply_snapshot(link_pb2.TrackedSnapshot(version=7, variables=[_var("w9", "dev-2", "pressure")]))
    assert cache.version == 7
    assert cache.series == {("dev-2", "pressure")}
    assert cache.entries() == [{
        "device_id": "dev-2", "sensor_type": "pressure", "widget_id": "w9", "dashboard_uuid": "dash-1",
        "max_samples": 50,
    }]


def test_delta_upserts_and_removes(cache: TrackedCache) -> None:
    ok = cache.apply_delta(link_pb2.TrackedDelta(
        version=4,
        upserts=[_var("w3", "dev-2", "pressure"), _var("w1", "dev-1", "temperature", max_samples=10)],
        removes=[_var("w2", "dev-1", "humidity")],
    ))
    assert ok
    assert cache.version == 4
    assert cache.series == {("dev-1", "temperature"), ("dev-2", "pressure")}
    by_widget = {e["widget_id"]: e for e in cache.entries()}
    assert set(by_widget) == {"w1", "w3"}
    assert by_widget["w1"]["max_samples"] == 10


def test_series_stays_while_another_widget_tracks_it(cache: TrackedCache) -> None:
    assert cache.apply_delta(link_pb2.TrackedDelta(version=4, upserts=[_var("w5", "dev-1", "humidity")]))
    assert cache.apply_delta(link_pb2.TrackedDelta(version=5, removes=[_var("w2", "dev-1", "humidity")]))
    assert ("dev-1", "humidity") in cache.series
    assert cache.apply_delta(link_pb2.TrackedDelta(version=6, removes=[_var("w5", "dev-1", "humidity")]))
    assert ("dev-1", "humidity") not in cache.series


@pytest.mark.parametrize("version", [3, 5, 2])  # a repeat, a gap, an old one
def test_delta_that_does_not_follow_is_refused(cache: TrackedCache, version: int) -> None:
    before = cache.entries()
    ok = cache.apply_delta(link_pb2.TrackedDelta(version=version, upserts=[_var("w7", "dev-3", "flow")]))
    assert not ok
    assert cache.version == 3
    assert cache.entries() == before
    assert ("dev-3", "flow") not in cache.series


def test_state_survives_a_new_instance(cache: TrackedCache, path: Path) -> None:
    cache.apply_delta(link_pb2.TrackedDelta(version=4, removes=[_var("w1", "dev-1", "temperature")]))
    again = TrackedCache(path)
    assert again.version == 4
    assert again.entries() == cache.entries()
    assert again.series == {("dev-1", "humidity")}
    # The reloaded cache keeps following the hub's deltas.
    assert again.apply_delta(link_pb2.TrackedDelta(version=5, upserts=[_var("w4", "dev-4", "rpm")]))
    assert TrackedCache(path).series == {("dev-1", "humidity"), ("dev-4", "rpm")}


def test_unreadable_file_means_wait_for_snapshot(path: Path) -> None:
    path.write_text("{not json")
    c = TrackedCache(path)
    assert (c.version, c.entries(), c.series) == (0, [], frozenset())
