"""The core guarantee with real processes: every reading a device got a PUBACK for reaches hub
storage exactly once, through SIGKILL of the hub or the edge and a 15 s hub outage."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from firmware.sim import device_ids
from tests.support import Edge, Hub, Mosquitto, Proc, assert_exactly_once, hub_rows, sim, wait_for

pytestmark = pytest.mark.system


def start_pair(tmp_path: Path, broker: Mosquitto, procs: list[Proc], edge_id: str = "site-a") -> tuple[Hub, Edge]:
    hub = Hub(tmp_path).start()
    procs.append(hub)
    token = hub.register_edge(edge_id)
    edge = Edge(tmp_path, edge_id, hub.address, token, broker.url).start()
    procs.append(edge)
    edge.wait_subscribed()
    return hub, edge


def wait_acked(hub: Hub, edge_id: str, total: int, timeout: float) -> None:
    wait_for(lambda: hub.edge(edge_id)["acked_seq"] >= total, timeout, interval=0.25,
             what=f"hub watermark of {edge_id} to reach {total}")


def test_end_to_end_20000_readings_exactly_once(tmp_path: Path, broker: Mosquitto, procs: list[Proc]) -> None:
    hub, edge = start_pair(tmp_path, broker, procs)
    singles = sim(broker.url, tmp_path, devices=4, count=10_000, rate=1500, seed="single")
    bulks = sim(broker.url, tmp_path, devices=4, count=10_000, rate=1500, bulk=50, seed="bulk")
    procs += [singles, bulks]
    assert singles.wait(60) == 0 and bulks.wait(60) == 0
    wait_acked(hub, "site-a", 20_000, 60)
    assert edge.metric("edgehub_edge_readings_ingested_total") == 20_000
    hub.stop()
    rows = hub_rows(hub)
    assert_exactly_once([r for r in rows if r[0] in device_ids(4, "single")], device_ids(4, "single"), 2500)
    assert_exactly_once([r for r in rows if r[0] in device_ids(4, "bulk")], device_ids(4, "bulk"), 2500)
    assert {r[1] for r in rows} == {"temperature"}


def test_hub_sigkill_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, broker: Mosquitto, procs: list[Proc]
) -> None:
    hub, _ = start_pair(tmp_path, broker, procs)
    publisher = sim(broker.url, tmp_path, devices=4, count=30_000, rate=1500, seed="k")
    procs.append(publisher)
    wait_for(lambda: hub.edge("site-a")["acked_seq"] > 5_000, 30, what="first 5,000 readings at the hub")
    hub.kill9()
    time.sleep(1.0)
    hub.start()
    assert publisher.wait(90) == 0
    wait_acked(hub, "site-a", 30_000, 90)
    hub.stop()
    assert_exactly_once(hub_rows(hub), device_ids(4, "k"), 7_500)


def test_edge_sigkill_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, broker: Mosquitto, procs: list[Proc]
) -> None:
    hub, edge = start_pair(tmp_path, broker, procs)
    publisher = sim(broker.url, tmp_path, devices=4, count=30_000, rate=1500, seed="e")
    procs.append(publisher)
    wait_for(lambda: edge.metric("edgehub_edge_readings_ingested_total") > 5_000, 30, what="5,000 readings ingested")
    edge.kill9()
    time.sleep(1.0)
    edge.start()
    assert publisher.wait(90) == 0
    wait_acked(hub, "site-a", 30_000, 90)
    time.sleep(1.0)  # anything stored twice would push the watermark past 30,000 by now
    hub.stop()
    assert_exactly_once(hub_rows(hub), device_ids(4, "e"), 7_500)


def test_hub_down_15_s_while_devices_publish(tmp_path: Path, broker: Mosquitto, procs: list[Proc]) -> None:
    hub, edge = start_pair(tmp_path, broker, procs)
    publisher = sim(broker.url, tmp_path, devices=4, count=20_000, rate=250, seed="o")  # ~20 s
    procs.append(publisher)
    wait_for(lambda: hub.edge("site-a")["acked_seq"] > 1_000, 30, what="first readings at the hub")
    hub.stop()
    down_at = time.monotonic()
    time.sleep(15)
    backlog = edge.metric("edgehub_edge_backlog_rows")
    assert backlog > 2_000, f"the edge should be buffering while the hub is down, backlog={backlog}"
    hub.start()
    assert time.monotonic() - down_at >= 15
    assert publisher.wait(60) == 0
    wait_acked(hub, "site-a", 20_000, 60)
    wait_for(lambda: edge.metric("edgehub_edge_backlog_rows") == 0, 10, what="edge backlog gauge at 0")
    hub.stop()
    assert_exactly_once(hub_rows(hub), device_ids(4, "o"), 5_000)


def test_broker_restart_mid_stream_loses_and_duplicates_nothing(tmp_path: Path, procs: list[Proc]) -> None:
    broker = Mosquitto(tmp_path / "broker", persistence=True).start()
    procs.append(broker)
    hub, edge = start_pair(tmp_path, broker, procs)
    first = sim(broker.url, tmp_path, devices=4, count=20_000, rate=5000, seed="b1")
    procs.append(first)
    assert first.wait(60) == 0
    broker.stop()  # the edge's session and its queued messages survive in the persistence file
    time.sleep(0.5)
    broker.start()
    second = sim(broker.url, tmp_path, devices=4, count=8_000, rate=1000, seed="b2")
    procs.append(second)
    assert second.wait(60) == 0
    wait_acked(hub, "site-a", 28_000, 60)
    time.sleep(1.0)
    hub.stop()
    rows = hub_rows(hub)
    assert_exactly_once([r for r in rows if r[0] in device_ids(4, "b1")], device_ids(4, "b1"), 5_000)
    assert_exactly_once([r for r in rows if r[0] in device_ids(4, "b2")], device_ids(4, "b2"), 2_000)
    assert "session present: True" in edge.output()
