"""The seed's story with real processes: a user builds a flow with a device node, visualises
"humidity" on a dashboard, the simulator publishes through broker and edge, and the widget gets the
newest samples over REST and new ones over its WebSocket; cleanup and ownership hold."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from firmware.sim import device_ids
from tests.support import Edge, Hub, Mosquitto, Proc, sim, wait_for

pytestmark = pytest.mark.system

SAMPLE_KEYS = {"timestamp", "value", "unit"}


def _at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


class Client:
    """A logged-in user of the hub's REST API."""

    def __init__(self, hub: Hub, username: str, password: str) -> None:
        self.hub = hub
        status, body = hub.request("POST", "/api/auth/token/", {"username": username, "password": password},
                                   auth=False)
        assert status == 200, body
        self.token = body["access"]

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        saved = self.hub._token
        self.hub._token = self.token
        try:
            return self.hub.request(method, path, body)
        finally:
            self.hub._token = saved

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        got, payload = self.call(method, path, body)
        assert got == status, (got, payload)
        return payload

    def ws(self, widget_id: str) -> Any:
        return connect(f"ws://127.0.0.1:{self.hub.http_port}/ws/widgets/{widget_id}/?token={self.token}",
                       open_timeout=10)


@pytest.fixture
def site(tmp_path: Path, broker: Mosquitto, procs: list[Proc]) -> tuple[Hub, Edge, str]:
    hub = Hub(tmp_path).start()
    procs.append(hub)
    edge = Edge(tmp_path, "plant-1", hub.address, hub.register_edge("plant-1"), broker.url).start()
    procs.append(edge)
    edge.wait_subscribed()
    # 40 readings/s rotating over 4 sensors: 10 humidity readings/s, for up to 120 s.
    publisher = sim(broker.url, tmp_path, devices=2, count=9_600, rate=40, seed="story", waveform="real")
    procs.append(publisher)
    device = device_ids(2, "story")[0]
    wait_for(lambda: any(s["sensor_type"] == "humidity" for d in hub.request("GET", "/api/devices/")[1]
                         if d["device_id"] == device for s in d["sensors"]), 30, what="humidity from the device")
    assert hub.request("POST", "/api/users/", {"username": "alice", "password": "alice-secret"})[0] == 201
    assert hub.request("POST", "/api/users/", {"username": "bob", "password": "bob-secret!"})[0] == 201
    return hub, edge, device


def flow_doc(device: str) -> dict[str, Any]:
    node = f"{device}-1760861249000"
    return {"name": "Line 3", "nodes": [
        {"id": node, "type": "device", "position": {"x": 40, "y": 80}, "data": {"sensor_variable": "humidity"}},
        {"id": "avg", "type": "moving_average", "position": {"x": 300, "y": 80}, "data": {"n": 5}},
    ], "wires": [{"source": node, "target": "avg"}]}


def tracked_cache(edge: Edge) -> list[dict[str, Any]]:
    path = edge.data_dir / "tracked.json"
    return list(json.loads(path.read_text())["variables"]) if path.exists() else []


def test_seed_story_humidity_widget_live_end_to_end(site: tuple[Hub, Edge, str]) -> None:
    hub, edge, device = site
    alice = Client(hub, "alice", "alice-secret")
    flow = alice.ok("POST", "/api/flows/", flow_doc(device), status=201)
    node_id = flow["nodes"][0]["id"]
    dash = alice.ok("POST", "/api/dashboard-templates/", {"name": "Humidity"}, status=201)
    url = f"/api/flows/{flow['flow_uuid']}/nodes/{node_id}/create-widget/"

    # The seed's most common mistake is a clear 400, and nothing is created.
    status, body = alice.call("POST", url, {"widget_type": "time_series", "dashboard_uuid": dash["uuid"]})
    assert status == 400 and "sensor_variable" in body["error"]
    assert alice.ok("GET", f"/api/tracked-variables/?dashboard_uuid={dash['uuid']}") == []

    created = alice.ok("POST", url, {"sensor_variable": "humidity", "widget_type": "time_series",
                                     "dashboard_uuid": dash["uuid"]}, status=201)
    widget_id = created["widget"]["id"]
    assert re.fullmatch(r"flow-widget-\d{8}-\d{6}-[0-9a-f]{8}", widget_id)
    tv = alice.ok("GET", f"/api/tracked-variables/?widget_id={widget_id}")
    assert [(t["device_id"], t["sensor_type"], t["max_samples"]) for t in tv] == [(device, "humidity", 50)]
    assert alice.ok("GET", f"/api/dashboard-templates/{dash['uuid']}/")["widgets"][0]["id"] == widget_id
    # The edge's cache gets the tracked variable as a delta, within a second.
    wait_for(lambda: any(v["widget_id"] == widget_id for v in tracked_cache(edge)), 1.5, interval=0.05,
             what="tracked delta at the edge")

    samples_url = f"/api/dashboard-templates/{dash['uuid']}/widgets/{widget_id}/samples/"
    samples = wait_for(lambda: s if len(s := alice.ok("GET", samples_url)) == 50 else None, 30,
                       what="50 samples in the widget buffer")
    assert all(set(s) == SAMPLE_KEYS and s["unit"] == "%" for s in samples)
    stamps = [s["timestamp"] for s in samples]
    # The hub writes only the fraction digits a timestamp has ("…47.2Z", "…47.299Z"): compare as times.
    assert all(t.endswith("Z") for t in stamps)
    assert [_at(t) for t in stamps] == sorted(_at(t) for t in stamps)
    readings = alice.ok("GET", f"/api/devices/{device}/readings/?sensor_type=humidity&limit=50&to={stamps[-1]}")
    assert [r["value"] for r in readings] == [s["value"] for s in samples]  # the newest 50, in order

    with alice.ws(widget_id) as ws:
        pushed = [json.loads(ws.recv(timeout=10)) for _ in range(5)]
    assert all(set(p) == SAMPLE_KEYS for p in pushed)
    assert all(_at(p["timestamp"]) > _at(stamps[-1]) for p in pushed)

    # A second widget on the same variable gets the same data.
    second = alice.ok("POST", url, {"sensor_variable": "humidity", "widget_type": "stat",
                                    "dashboard_uuid": dash["uuid"], "max_samples": 20}, status=201)["widget"]["id"]
    first_now = alice.ok("GET", samples_url)
    second_now = alice.ok("GET", f"/api/dashboard-templates/{dash['uuid']}/widgets/{second}/samples/")
    assert len(second_now) == 20
    common = {s["timestamp"] for s in first_now} & {s["timestamp"] for s in second_now}
    assert len(common) >= 15
    assert {(s["timestamp"], s["value"]) for s in second_now if s["timestamp"] in common} == \
        {(s["timestamp"], s["value"]) for s in first_now if s["timestamp"] in common}

    # An internal moving_average node's widget receives smoothed values.
    avg = alice.ok("POST", f"/api/flows/{flow['flow_uuid']}/nodes/avg/create-widget/",
                   {"widget_type": "time_series", "dashboard_uuid": dash["uuid"]}, status=201)["widget"]["id"]
    with alice.ws(avg) as ws:
        smoothed = json.loads(ws.recv(timeout=10))
    last5 = alice.ok("GET", f"/api/devices/{device}/readings/?sensor_type=humidity&limit=5&to={smoothed['timestamp']}")
    assert smoothed["value"] == pytest.approx(sum(r["value"] for r in last5) / 5)
    output = alice.ok("GET", f"/api/flows/{flow['flow_uuid']}/nodes/avg/output/?limit=10")
    assert output["type"] == "moving_average" and len(output["history"]) == 10

    # Dropping the first widget in a PUT deletes its tracked variable, samples and edge cache entry.
    widgets = [w for w in alice.ok("GET", f"/api/dashboard-templates/{dash['uuid']}/")["widgets"]
               if w["id"] != widget_id]
    alice.ok("PUT", f"/api/dashboard-templates/{dash['uuid']}/", {"widgets": widgets})
    assert alice.ok("GET", f"/api/tracked-variables/?widget_id={widget_id}") == []
    assert alice.call("GET", samples_url)[0] == 404
    wait_for(lambda: not any(v["widget_id"] == widget_id for v in tracked_cache(edge)), 1.5, interval=0.05,
             what="tracked removal at the edge")

    # Deleting the dashboard removes all of its tracked variables.
    assert alice.call("DELETE", f"/api/dashboard-templates/{dash['uuid']}/")[0] == 204
    assert alice.ok("GET", f"/api/tracked-variables/?dashboard_uuid={dash['uuid']}") == []
    wait_for(lambda: tracked_cache(edge) == [], 1.5, interval=0.05, what="empty tracked cache at the edge")


def test_other_users_get_403_or_404_everywhere(site: tuple[Hub, Edge, str]) -> None:
    hub, _, device = site
    alice, bob = Client(hub, "alice", "alice-secret"), Client(hub, "bob", "bob-secret!")
    flow = alice.ok("POST", "/api/flows/", flow_doc(device), status=201)
    dash = alice.ok("POST", "/api/dashboard-templates/", {"name": "Mine"}, status=201)
    node_id = flow["nodes"][0]["id"]
    widget = alice.ok("POST", f"/api/flows/{flow['flow_uuid']}/nodes/{node_id}/create-widget/",
                      {"sensor_variable": "humidity", "widget_type": "gauge", "dashboard_uuid": dash["uuid"]},
                      status=201)["widget"]["id"]
    denied = [
        ("GET", f"/api/flows/{flow['flow_uuid']}/", None),
        ("PUT", f"/api/flows/{flow['flow_uuid']}/", {"name": "mine now"}),
        ("DELETE", f"/api/flows/{flow['flow_uuid']}/", None),
        ("GET", f"/api/flows/{flow['flow_uuid']}/nodes/avg/output/", None),
        ("POST", f"/api/flows/{flow['flow_uuid']}/nodes/{node_id}/create-widget/",
         {"sensor_variable": "humidity", "widget_type": "gauge", "dashboard_uuid": dash["uuid"]}),
        ("GET", f"/api/dashboard-templates/{dash['uuid']}/", None),
        ("PUT", f"/api/dashboard-templates/{dash['uuid']}/", {"widgets": []}),
        ("DELETE", f"/api/dashboard-templates/{dash['uuid']}/", None),
        ("GET", f"/api/dashboard-templates/{dash['uuid']}/widgets/{widget}/samples/", None),
    ]
    for method, path, body in denied:
        status, payload = bob.call(method, path, body)
        assert status in (403, 404), (method, path, status, payload)
        assert isinstance(payload["error"], str) and payload["error"]
    assert bob.ok("GET", "/api/flows/") == [] and bob.ok("GET", "/api/dashboard-templates/") == []
    assert bob.ok("GET", f"/api/tracked-variables/?widget_id={widget}") == []
    with bob.ws(widget) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    with connect(f"ws://127.0.0.1:{hub.http_port}/ws/widgets/{widget}/?token=nope") as ws, \
            pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    # alice's widget still works after all of bob's attempts
    assert len(alice.ok("GET", f"/api/tracked-variables/?widget_id={widget}")) == 1
    for path in ("/api/flows/", "/api/dashboard-templates/", "/api/tracked-variables/"):
        assert hub.request("GET", path, auth=False)[0] == 401


def test_widget_samples_survive_a_hub_restart_and_history_is_bucketed(
    site: tuple[Hub, Edge, str], procs: list[Proc]
) -> None:
    hub, _, device = site
    alice = Client(hub, "alice", "alice-secret")
    flow = alice.ok("POST", "/api/flows/", flow_doc(device), status=201)
    dash = alice.ok("POST", "/api/dashboard-templates/", {"name": "Restart"}, status=201)
    widget = alice.ok("POST", f"/api/flows/{flow['flow_uuid']}/nodes/{flow['nodes'][0]['id']}/create-widget/",
                      {"sensor_variable": "humidity", "widget_type": "table", "dashboard_uuid": dash["uuid"]},
                      status=201)["widget"]["id"]
    samples_url = f"/api/dashboard-templates/{dash['uuid']}/widgets/{widget}/samples/"
    wait_for(lambda: len(alice.ok("GET", samples_url)) == 50, 30, what="a full widget buffer")
    publisher = next(p for p in procs if p.name == "sim")
    publisher.stop()
    edge = next(p for p in procs if isinstance(p, Edge))
    # Everything the edge took in is at the hub before the buffer is compared across the restart.
    wait_for(lambda: hub.edge("plant-1")["acked_seq"] == edge.metric("edgehub_edge_readings_ingested_total"), 30,
             what="the hub to have every reading")
    time.sleep(0.5)
    before = alice.ok("GET", samples_url)
    hub.stop()
    hub.start()
    assert alice.ok("GET", samples_url) == before

    points = alice.ok("GET", f"/api/devices/{device}/readings/?sensor_type=humidity&max_points=10")
    assert 1 <= len(points) <= 10
    assert all(p["min"] <= p["value"] <= p["max"] for p in points)
    total = sum(p["count"] for p in points)
    assert total == len(alice.ok("GET", f"/api/devices/{device}/readings/?sensor_type=humidity&limit=100000"))
    assert alice.call("GET", f"/api/devices/{device}/readings/?max_points=10")[0] == 400


def test_live_lane_makes_widgets_live_while_the_backlog_drains(
    tmp_path: Path, broker: Mosquitto, procs: list[Proc], site: tuple[Hub, Edge, str]
) -> None:
    hub, edge, device = site
    alice = Client(hub, "alice", "alice-secret")
    flow = alice.ok("POST", "/api/flows/", flow_doc(device), status=201)
    dash = alice.ok("POST", "/api/dashboard-templates/", {"name": "Outage"}, status=201)
    widget = alice.ok("POST", f"/api/flows/{flow['flow_uuid']}/nodes/{flow['nodes'][0]['id']}/create-widget/",
                      {"sensor_variable": "humidity", "widget_type": "time_series", "dashboard_uuid": dash["uuid"]},
                      status=201)["widget"]["id"]
    wait_for(lambda: any(v["widget_id"] == widget for v in tracked_cache(edge)), 5, what="tracked at the edge")

    hub.stop()
    backlog = sim(broker.url, tmp_path, devices=8, count=600_000, rate=20_000, bulk=100, seed="backlog")
    procs.append(backlog)
    assert backlog.wait(120) == 0
    wait_for(lambda: edge.metric("edgehub_edge_backlog_rows") > 500_000, 60, what="a large backlog at the edge")

    hub.start()
    restarted = time.time()
    alice = Client(hub, "alice", "alice-secret")
    with alice.ws(widget) as ws:
        while True:
            pushed = json.loads(ws.recv(timeout=10))
            stamp = time.mktime(time.strptime(pushed["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
            if stamp >= restarted - 1:
                break
    # A reading taken after the hub came back reached the widget while the edge was still draining.
    assert hub.edge("plant-1")["acked_seq"] < edge.metric("edgehub_edge_readings_ingested_total")
    assert hub.metric("edgehub_hub_live_received_total") > 0
    wait_for(lambda: edge.metric("edgehub_edge_backlog_rows") == 0, 120, what="the backlog to drain")
