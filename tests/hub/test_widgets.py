"""hub/widgets.py: widget rings, routing of stored and live samples to widgets and flows, pushes to sockets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest

from edgehub.columns import Columns
from hub.fanout import Fanout
from hub.flows import validate
from hub.store import Store
from hub.widgets import LiveWidgets, Ring, group, sample

T0_US = 1_752_045_302_000_000  # 2025-07-09T07:15:02Z
SEC_US = 1_000_000
DEVICE = "95b2524b-fa0e-4717-b4ba-9ae9aff3365d"
DEVICE_NODE = f"{DEVICE}-1729325249000"
HUM = (DEVICE, "humidity", "%")
TEMP = (DEVICE, "temperature", "°C")
FLOW = "flow-1"
FLOW_DOC = {
    "nodes": [
        {"id": DEVICE_NODE, "type": "device", "data": {"sensor_variable": "humidity"}},
        {"id": "scale-1", "type": "scale", "data": {"a": 10, "b": 0}},
        {"id": "limit-1", "type": "threshold", "data": {"threshold": 50}},
    ],
    "wires": [{"source": DEVICE_NODE, "target": "scale-1"}, {"source": DEVICE_NODE, "target": "limit-1"}],
}


def _cols(rows: list[tuple[tuple[str, str, str], int, float]], first_seq: int = 1) -> Columns:
    """Columns as the link hands them to listeners: rows of (series key, ts_us, value), seqs from first_seq."""
    keys = list(dict.fromkeys(key for key, _, _ in rows))
    return Columns(
        keys,
        np.array([keys.index(key) for key, _, _ in rows], dtype=np.uint32),
        np.arange(first_seq, first_seq + len(rows), dtype=np.int64),
        np.array([ts for _, ts, _ in rows], dtype=np.int64),
        np.array([v for _, _, v in rows], dtype=np.float64),
    )


def _at(*seconds: float) -> list[str]:
    return [sample(T0_US + int(s * SEC_US), 0.0, "")["timestamp"] for s in seconds]


def _timestamps(samples: list[dict[str, object]] | None) -> list[object]:
    assert samples is not None
    return [s["timestamp"] for s in samples]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "hub.duckdb").open()
    yield s
    s.close()


@pytest.fixture
def fanout() -> Fanout:
    return Fanout()


@pytest.fixture
def live(store: Store, fanout: Fanout) -> LiveWidgets:
    return LiveWidgets(store, fanout)


# -- Ring -----------------------------------------------------------------------------------
def test_ring_orders_by_timestamp_whatever_the_arrival_order() -> None:
    ring = Ring(10)
    for ts, seq in [(30, 1), (10, 2), (20, 3)]:
        assert ring.add(ts, seq, float(ts), "%")
    assert [(ts, seq) for ts, seq, _, _ in ring.items] == [(10, 2), (20, 3), (30, 1)]


def test_ring_keeps_the_newest_maxlen() -> None:
    ring = Ring(3)
    for i in range(1, 6):
        ring.add(T0_US + i * SEC_US, i, float(i), "%")
    assert [v for _, _, v, _ in ring.items] == [3.0, 4.0, 5.0]
    assert ring.keys == {(T0_US + i * SEC_US, i) for i in (3, 4, 5)}


def test_ring_deduplicates_by_timestamp_and_seq() -> None:
    ring = Ring(10)
    assert ring.add(T0_US, 1, 1.0, "%")
    assert not ring.add(T0_US, 1, 1.0, "%")  # the same reading again (live lane, then durable lane)
    assert ring.add(T0_US, 2, 2.0, "%")  # another reading with the same timestamp
    assert [(s, v) for _, s, v, _ in ring.items] == [(1, 1.0), (2, 2.0)]


def test_full_ring_rejects_a_sample_older_than_all_it_keeps() -> None:
    ring = Ring(2)
    ring.add(T0_US + 5 * SEC_US, 5, 5.0, "%")
    ring.add(T0_US + 6 * SEC_US, 6, 6.0, "%")
    assert not ring.add(T0_US + SEC_US, 7, 1.0, "%")
    assert ring.add(T0_US + 5 * SEC_US + 1, 8, 5.5, "%")  # newer than the oldest: it displaces it
    assert [v for _, _, v, _ in ring.items] == [5.5, 6.0]


def test_ring_samples_have_the_seed_shape() -> None:
    ring = Ring(5)
    ring.add(T0_US + 250_000, 1, 24.8, "°C")
    assert ring.samples() == [{"timestamp": "2025-07-09T07:15:02.25Z", "value": 24.8, "unit": "°C"}]


# -- device widgets -------------------------------------------------------------------------
def test_on_samples_routes_each_series_to_its_widgets(live: LiveWidgets) -> None:
    live.add_device_widget("w-hum", DEVICE, "humidity", 50)
    live.add_device_widget("w-temp", DEVICE, "temperature", 50)
    live.on_samples("edge-1", _cols([(HUM, T0_US, 40.0), (TEMP, T0_US, 21.5), (HUM, T0_US + SEC_US, 41.0)]), True)
    assert live.samples("w-hum") == [
        {"timestamp": "2025-07-09T07:15:02Z", "value": 40.0, "unit": "%"},
        {"timestamp": "2025-07-09T07:15:03Z", "value": 41.0, "unit": "%"},
    ]
    assert live.samples("w-temp") == [{"timestamp": "2025-07-09T07:15:02Z", "value": 21.5, "unit": "°C"}]
    assert live.samples("w-none") is None


def test_on_samples_ignores_untracked_series(live: LiveWidgets) -> None:
    live.add_device_widget("w-hum", DEVICE, "humidity", 50)
    live.on_samples("edge-1", _cols([(TEMP, T0_US, 21.5), (("dev-2", "humidity", "%"), T0_US, 1.0)]), True)
    assert live.samples("w-hum") == []


def test_two_widgets_on_one_series_both_get_each_sample(live: LiveWidgets) -> None:
    live.add_device_widget("w-a", DEVICE, "humidity", 50)
    live.add_device_widget("w-b", DEVICE, "humidity", 2)
    live.on_samples("edge-1", _cols([(HUM, T0_US + i * SEC_US, float(i)) for i in range(4)]), True)
    assert _timestamps(live.samples("w-a")) == _at(0, 1, 2, 3)
    assert _timestamps(live.samples("w-b")) == _at(2, 3)


def test_a_batch_longer_than_the_buffer_keeps_its_newest_samples(live: LiveWidgets) -> None:
    live.add_device_widget("w", DEVICE, "humidity", 3)
    live.on_samples("edge-1", _cols([(HUM, T0_US + i * SEC_US, float(i)) for i in range(100)]), True)
    assert [s["value"] for s in live.samples("w") or []] == [97.0, 98.0, 99.0]


def test_a_batch_with_out_of_order_timestamps_keeps_the_newest_by_time(live: LiveWidgets) -> None:
    # A device that reconnects sends its fresh reading first, then its buffered older ones.
    live.add_device_widget("w", DEVICE, "humidity", 2)
    live.on_samples("edge-1", _cols([(HUM, T0_US + 10 * SEC_US, 10.0), (HUM, T0_US + SEC_US, 1.0),
                                     (HUM, T0_US + 2 * SEC_US, 2.0)]), True)
    assert _timestamps(live.samples("w")) == _at(2, 10)


def test_live_lane_then_durable_lane_gives_one_sample(live: LiveWidgets, fanout: Fanout) -> None:
    live.add_device_widget("w", DEVICE, "humidity", 50)
    sub = fanout.subscribe(group("w"))
    batch = _cols([(HUM, T0_US, 40.0), (HUM, T0_US + SEC_US, 41.0)], first_seq=7)
    live.on_samples("edge-1", batch, False)
    live.on_samples("edge-1", batch, True)
    assert _timestamps(live.samples("w")) == _at(0, 1)
    assert len(sub.queue) == 2


def test_prime_fills_a_new_widget(live: LiveWidgets) -> None:
    prime = [(T0_US + i * SEC_US, i, float(i), "%") for i in range(5)]
    ring = live.add_device_widget("w", DEVICE, "humidity", 3)
    live.prime("w", ring, prime)
    assert [s["value"] for s in live.samples("w") or []] == [2.0, 3.0, 4.0]


def test_a_sample_committed_while_the_stored_tail_is_read_is_kept(live: LiveWidgets) -> None:
    # The stored tail was read before reading 5 was committed; reading 5 reached the listener
    # before the tail came back. Both must end up in the buffer, reading 4 once.
    ring = live.add_device_widget("w", DEVICE, "humidity", 50)
    live.on_samples("edge-1", _cols([(HUM, T0_US + 4 * SEC_US, 4.0), (HUM, T0_US + 5 * SEC_US, 5.0)],
                                    first_seq=4), True)
    live.prime("w", ring, [(T0_US + i * SEC_US, i, float(i), "%") for i in range(5)])
    assert [s["value"] for s in live.samples("w") or []] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_prime_for_a_replaced_widget_is_dropped(live: LiveWidgets) -> None:
    stale = live.add_device_widget("w", DEVICE, "humidity", 50)
    live.add_device_widget("w", DEVICE, "temperature", 50)
    live.prime("w", stale, [(T0_US, 1, 40.0, "%")])
    assert live.samples("w") == []


def test_push_reaches_a_subscriber_as_the_exact_sample_json(live: LiveWidgets, fanout: Fanout) -> None:
    live.add_device_widget("w", DEVICE, "temperature", 50)
    sub = fanout.subscribe(group("w"))
    other = fanout.subscribe(group("w-other"))
    live.on_samples("edge-1", _cols([(TEMP, T0_US, 24.8)]), True)
    assert list(sub.queue) == ['{"timestamp":"2025-07-09T07:15:02Z","value":24.8,"unit":"°C"}'.encode()]
    assert orjson.loads(sub.queue[0]) == {"timestamp": "2025-07-09T07:15:02Z", "value": 24.8, "unit": "°C"}
    assert list(other.queue) == []


def test_remove_widget_cleans_its_indexes_and_closes_its_sockets(live: LiveWidgets, fanout: Fanout) -> None:
    live.add_device_widget("w-a", DEVICE, "humidity", 50)
    live.add_device_widget("w-b", DEVICE, "humidity", 50)
    sub = fanout.subscribe(group("w-a"))
    live.remove_widget("w-a")
    assert sub.closed
    assert "w-a" not in live.rings and "w-a" not in live.widget_series
    assert live.by_series == {(DEVICE, "humidity"): {"w-b"}}
    live.remove_widget("w-b")
    assert live.by_series == {} and live.rings == {} and live.widget_series == {}
    live.on_samples("edge-1", _cols([(HUM, T0_US, 40.0)]), True)
    assert live.samples("w-a") is None and list(sub.queue) == []
    live.remove_widget("w-a")  # unknown: a no-op


def test_re_adding_a_widget_replaces_its_series(live: LiveWidgets) -> None:
    live.add_device_widget("w", DEVICE, "humidity", 50)
    live.add_device_widget("w", DEVICE, "temperature", 50)
    assert live.by_series == {(DEVICE, "temperature"): {"w"}}
    live.on_samples("edge-1", _cols([(HUM, T0_US, 40.0), (TEMP, T0_US, 21.0)]), True)
    assert [s["value"] for s in live.samples("w") or []] == [21.0]


# -- flows and node widgets -----------------------------------------------------------------
def test_stored_samples_feed_flows_and_node_widgets(live: LiveWidgets, fanout: Fanout) -> None:
    live.set_flow(validate(FLOW, FLOW_DOC))
    live.add_node_widget("n", FLOW, "scale-1", 50)
    sub = fanout.subscribe(group("n"))
    live.on_samples("edge-1", _cols([(HUM, T0_US, 4.0), (HUM, T0_US + SEC_US, 6.0)]), True)
    assert [s["value"] for s in live.samples("n") or []] == [40.0, 60.0]
    assert [orjson.loads(m)["value"] for m in sub.queue] == [40.0, 60.0]
    state = live.node_output(FLOW, "scale-1")
    assert state is not None and [s["value"] for s in state.ring.samples()] == [40.0, 60.0]


def test_threshold_alerts_are_kept_on_the_node(live: LiveWidgets) -> None:
    live.set_flow(validate(FLOW, FLOW_DOC))
    live.on_samples("edge-1", _cols([(HUM, T0_US, 40.0), (HUM, T0_US + SEC_US, 60.0)]), True)
    state = live.node_output(FLOW, "limit-1")
    assert state is not None
    assert state.alerts == [{"timestamp": "2025-07-09T07:15:03Z", "message": "crossed above 50 %", "value": 1.0}]


def test_live_lane_updates_device_widgets_but_not_flows(live: LiveWidgets) -> None:
    live.set_flow(validate(FLOW, FLOW_DOC))
    live.add_device_widget("w", DEVICE, "humidity", 50)
    live.add_node_widget("n", FLOW, "scale-1", 50)
    live.on_samples("edge-1", _cols([(HUM, T0_US, 4.0)]), False)
    assert [s["value"] for s in live.samples("w") or []] == [4.0]
    assert live.samples("n") == []
    state = live.node_output(FLOW, "scale-1")
    assert state is not None and state.ring.items == []


def test_set_flow_replays_readings_into_node_widgets(live: LiveWidgets, fanout: Fanout) -> None:
    live.add_node_widget("n", FLOW, "scale-1", 2)  # a widget whose flow is installed later (hub start)
    sub = fanout.subscribe(group("n"))
    replay = [(DEVICE, "humidity", T0_US + i * SEC_US, float(i), "%") for i in range(3)]
    live.set_flow(validate(FLOW, FLOW_DOC), replay)
    assert [s["value"] for s in live.samples("n") or []] == [10.0, 20.0]
    assert list(sub.queue) == []  # a replay is history, not news


def test_node_widget_is_primed_from_the_node_history(live: LiveWidgets) -> None:
    live.set_flow(validate(FLOW, FLOW_DOC))
    live.on_samples("edge-1", _cols([(HUM, T0_US + i * SEC_US, float(i)) for i in range(4)]), True)
    live.add_node_widget("n", FLOW, "scale-1", 3)
    assert [s["value"] for s in live.samples("n") or []] == [10.0, 20.0, 30.0]


def test_re_saving_a_flow_does_not_duplicate_node_widget_samples(live: LiveWidgets) -> None:
    live.set_flow(validate(FLOW, FLOW_DOC))
    live.add_node_widget("n", FLOW, "scale-1", 50)
    readings = [(DEVICE, "humidity", T0_US + i * SEC_US, float(i), "%") for i in range(4)]
    live.on_samples("edge-1", _cols([((d, s, u), ts, v) for d, s, ts, v, u in readings]), True)
    # The flow is saved again; its replay holds the newest readings storage returns (FLOW_REPLAY of them).
    live.set_flow(validate(FLOW, FLOW_DOC), readings[1:])
    timestamps = _timestamps(live.samples("n"))
    assert len(timestamps) == len(set(timestamps)), timestamps
    assert timestamps[-3:] == _at(1, 2, 3)


def test_remove_flow_stops_its_evaluation(live: LiveWidgets) -> None:
    live.set_flow(validate(FLOW, FLOW_DOC))
    live.add_node_widget("n", FLOW, "scale-1", 50)
    live.remove_flow(FLOW)
    assert live.graphs == {} and live.flow_inputs == {} and live.node_output(FLOW, "scale-1") is None
    live.on_samples("edge-1", _cols([(HUM, T0_US, 4.0)]), True)
    assert live.samples("n") == []


def test_remove_node_widget_stops_its_pushes(live: LiveWidgets, fanout: Fanout) -> None:
    live.set_flow(validate(FLOW, FLOW_DOC))
    live.add_node_widget("n", FLOW, "scale-1", 50)
    sub = fanout.subscribe(group("n"))
    live.remove_widget("n")
    assert sub.closed
    assert "n" not in live.rings and "n" not in live.widget_node
    assert "n" not in live.node_widgets.get((FLOW, "scale-1"), set())
    live.on_samples("edge-1", _cols([(HUM, T0_US, 4.0)]), True)
    assert list(sub.queue) == []
