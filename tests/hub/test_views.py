"""hub/views.py through Starlette's TestClient: create-widget end to end, widget and sensor WebSockets,
device and user administration."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from edgehub.columns import Columns
from hub import auth
from hub.api import Api, create_app
from hub.fanout import Fanout
from hub.link import LinkService
from hub.store import Store
from hub.views import Views
from hub.widgets import LiveWidgets, group

pytestmark = pytest.mark.timeout(30)  # a WebSocket that never answers fails fast instead of hanging

SECRET = b"secret"
T0_US = 1_752_045_302_000_000  # 2025-07-09T07:15:02Z
SEC_US = 1_000_000
DEVICE = "95b2524b-fa0e-4717-b4ba-9ae9aff3365d"
DEVICE_NODE = f"{DEVICE}-1729325249000"
HUM = (DEVICE, "humidity", "%")
TEMP = (DEVICE, "temperature", "°C")
FLOW = {
    "name": "Line 3",
    "nodes": [
        {"id": DEVICE_NODE, "type": "device", "position": {"x": 0, "y": 0}, "data": {"sensor_variable": "humidity"}},
        {"id": "scale-1", "type": "scale", "position": {"x": 200, "y": 0}, "data": {"a": 10, "b": 0}},
    ],
    "wires": [{"source": DEVICE_NODE, "target": "scale-1"}],
}


def _token(username: str, is_admin: bool = False) -> str:
    return auth.Tokens(SECRET).issue(username, is_admin)


def _bearer(username: str, is_admin: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(username, is_admin)}"}


ALICE = _bearer("alice")
BOB = _bearer("bob")
ADMIN = _bearer("root", True)


def _cols(rows: list[tuple[tuple[str, str, str], float, float]], first_seq: int) -> Columns:
    """Rows of (series key, seconds after T0, value), numbered from first_seq."""
    keys = list(dict.fromkeys(key for key, _, _ in rows))
    return Columns(
        keys,
        np.array([keys.index(key) for key, _, _ in rows], dtype=np.uint32),
        np.arange(first_seq, first_seq + len(rows), dtype=np.int64),
        np.array([T0_US + int(s * SEC_US) for _, s, _ in rows], dtype=np.int64),
        np.array([v for _, _, v in rows], dtype=np.float64),
    )


@dataclass
class Hub:
    client: TestClient
    store: Store
    link: LinkService
    fanout: Fanout
    live: LiveWidgets

    def commit(self, edge_id: str, cols: Columns) -> None:
        """What the link does for a batch: commit on the writer thread, then notify the listeners."""
        assert self.client.portal is not None
        result = self.client.portal.call(self.store.write, self.store.commit_batch, edge_id, cols)
        assert result.stored == len(cols)
        self.client.portal.call(self.link.notify, edge_id, cols, True)

    def wait_subscribed(self, widget_id: str) -> None:
        """The socket is accepted before it subscribes; wait until it has, so no push is missed."""
        deadline = time.monotonic() + 5
        while group(widget_id) not in self.fanout.groups:
            assert time.monotonic() < deadline, f"no subscriber on {widget_id}"
            time.sleep(0.005)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    store = Store(tmp_path / "hub.duckdb").open()
    link = LinkService(store)
    tokens = auth.Tokens(SECRET)
    fanout = Fanout()
    live = LiveWidgets(store, fanout)
    views = Views(store, link, tokens, fanout, live)
    app = create_app(Api(store, link, tokens), views.routes())
    try:
        with TestClient(app) as client:
            assert client.portal is not None
            client.portal.call(views.load)
            yield Hub(client, store, link, fanout, live)
    finally:
        store.close()


@pytest.fixture
def device_hub(hub: Hub) -> Hub:
    """DEVICE has reported humidity at T0..T0+2 s (values 40-42) and temperature through edge-1."""
    hub.store.create_edge("edge-1", auth.hash_token("edge-token"))
    hub.commit("edge-1", _cols([(HUM, 0, 40.0), (HUM, 1, 41.0), (HUM, 2, 42.0), (TEMP, 0, 21.5)], first_seq=1))
    return hub


@dataclass
class Widget:
    flow_uuid: str
    dash_uuid: str
    id: str
    body: dict[str, Any]


def _create_widget(hub: Hub, node_id: str = DEVICE_NODE, headers: dict[str, str] = ALICE, **body: Any) -> Widget:
    client = hub.client
    resp = client.post("/api/flows/", json=FLOW, headers=headers)
    assert resp.status_code == 201, resp.text
    flow_uuid = resp.json()["flow_uuid"]
    resp = client.post("/api/dashboard-templates/", json={"name": "Overview"}, headers=headers)
    assert resp.status_code == 201, resp.text
    dash_uuid = resp.json()["uuid"]
    resp = client.post(f"/api/flows/{flow_uuid}/nodes/{node_id}/create-widget/", headers=headers,
                       json={"widget_type": "time_series", "dashboard_uuid": dash_uuid, **body})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    return Widget(flow_uuid, dash_uuid, created["widget"]["id"], created)


def _samples(hub: Hub, w: Widget, headers: dict[str, str] = ALICE) -> list[dict[str, Any]]:
    resp = hub.client.get(f"/api/dashboard-templates/{w.dash_uuid}/widgets/{w.id}/samples/", headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _ws_url(widget_id: str, token: str) -> str:
    return f"/ws/widgets/{widget_id}/?token={token}"


# -- create-widget, samples -----------------------------------------------------------------
def test_create_widget_end_to_end(device_hub: Hub) -> None:
    hub = device_hub
    w = _create_widget(hub, sensor_variable="humidity")
    assert w.body["dashboard_uuid"] == w.dash_uuid
    assert w.body["tracked_variable"] == {"widget_id": w.id, "device_id": DEVICE, "sensor_type": "humidity",
                                          "dashboard_uuid": w.dash_uuid, "max_samples": 50}
    # A new widget shows the stored history at once, not "Connecting...".
    assert _samples(hub, w) == [
        {"timestamp": "2025-07-09T07:15:02Z", "value": 40.0, "unit": "%"},
        {"timestamp": "2025-07-09T07:15:03Z", "value": 41.0, "unit": "%"},
        {"timestamp": "2025-07-09T07:15:04Z", "value": 42.0, "unit": "%"},
    ]
    hub.commit("edge-1", _cols([(HUM, 4, 44.0), (TEMP, 4, 22.0), (HUM, 3, 43.0)], first_seq=5))
    samples = _samples(hub, w)
    assert [s["value"] for s in samples] == [40.0, 41.0, 42.0, 43.0, 44.0]  # oldest first
    assert samples[-1] == {"timestamp": "2025-07-09T07:15:06Z", "value": 44.0, "unit": "%"}
    tracked = hub.client.get(f"/api/tracked-variables/?widget_id={w.id}", headers=ALICE).json()
    assert [(t["device_id"], t["sensor_type"]) for t in tracked] == [(DEVICE, "humidity")]


def test_samples_of_another_users_widget_are_forbidden(device_hub: Hub) -> None:
    w = _create_widget(device_hub, sensor_variable="humidity")
    resp = device_hub.client.get(f"/api/dashboard-templates/{w.dash_uuid}/widgets/{w.id}/samples/", headers=BOB)
    assert resp.status_code == 403
    assert len(_samples(device_hub, w, headers=ADMIN)) == 3
    resp = device_hub.client.get(f"/api/dashboard-templates/{w.dash_uuid}/widgets/nope/samples/", headers=ALICE)
    assert resp.status_code == 404


def test_create_widget_without_sensor_variable_is_a_400(device_hub: Hub) -> None:
    client = device_hub.client
    flow_uuid = client.post("/api/flows/", json=FLOW, headers=ALICE).json()["flow_uuid"]
    dash_uuid = client.post("/api/dashboard-templates/", json={}, headers=ALICE).json()["uuid"]
    resp = client.post(f"/api/flows/{flow_uuid}/nodes/{DEVICE_NODE}/create-widget/", headers=ALICE,
                       json={"widget_type": "time_series", "dashboard_uuid": dash_uuid})
    assert resp.status_code == 400
    assert "sensor_variable is required" in resp.json()["error"]
    assert client.get(f"/api/dashboard-templates/{dash_uuid}/", headers=ALICE).json()["widgets"] == []


def test_node_widget_gets_the_node_output(device_hub: Hub) -> None:
    hub = device_hub
    w = _create_widget(hub, node_id="scale-1")
    assert w.body["tracked_variable"] is None
    assert [s["value"] for s in _samples(hub, w)] == [400.0, 410.0, 420.0]  # replayed from storage
    hub.commit("edge-1", _cols([(HUM, 3, 43.0)], first_seq=5))
    assert [s["value"] for s in _samples(hub, w)] == [400.0, 410.0, 420.0, 430.0]
    resp = hub.client.get(f"/api/flows/{w.flow_uuid}/nodes/scale-1/output/?limit=2", headers=ALICE)
    assert resp.json() == {
        "node_id": "scale-1", "type": "scale",
        "output": {"timestamp": "2025-07-09T07:15:05Z", "value": 430.0, "unit": "%"},
        "alerts": [],
        "history": [{"timestamp": "2025-07-09T07:15:04Z", "value": 420.0, "unit": "%"},
                    {"timestamp": "2025-07-09T07:15:05Z", "value": 430.0, "unit": "%"}],
    }


def test_dropping_a_widget_stops_its_buffer(device_hub: Hub) -> None:
    hub = device_hub
    w = _create_widget(hub, sensor_variable="humidity")
    resp = hub.client.put(f"/api/dashboard-templates/{w.dash_uuid}/", json={"widgets": []}, headers=ALICE)
    assert resp.status_code == 200
    assert w.id not in hub.live.rings
    assert hub.client.get("/api/tracked-variables/", headers=ALICE).json() == []
    resp = hub.client.get(f"/api/dashboard-templates/{w.dash_uuid}/widgets/{w.id}/samples/", headers=ALICE)
    assert resp.status_code == 404


def test_delete_dashboard_removes_its_widgets(device_hub: Hub) -> None:
    hub = device_hub
    w = _create_widget(hub, sensor_variable="humidity")
    assert hub.client.delete(f"/api/dashboard-templates/{w.dash_uuid}/", headers=ALICE).status_code == 204
    assert hub.live.rings == {}
    assert hub.client.get("/api/tracked-variables/", headers=ALICE).json() == []
    assert hub.client.get(f"/api/dashboard-templates/{w.dash_uuid}/", headers=ALICE).status_code == 404


# -- /ws/widgets/{id}/ ----------------------------------------------------------------------
def test_widget_socket_receives_each_new_sample(device_hub: Hub) -> None:
    hub = device_hub
    w = _create_widget(hub, sensor_variable="humidity")
    with hub.client.websocket_connect(_ws_url(w.id, _token("alice"))) as ws:
        hub.wait_subscribed(w.id)
        hub.commit("edge-1", _cols([(TEMP, 3, 22.0), (HUM, 3, 43.5)], first_seq=5))
        assert ws.receive_json() == {"timestamp": "2025-07-09T07:15:05Z", "value": 43.5, "unit": "%"}
    assert group(w.id) not in hub.fanout.groups  # unsubscribed when the socket ended


def test_admin_may_watch_any_widget(device_hub: Hub) -> None:
    hub = device_hub
    w = _create_widget(hub, sensor_variable="humidity")
    with hub.client.websocket_connect(_ws_url(w.id, _token("root", True))) as ws:
        hub.wait_subscribed(w.id)
        hub.commit("edge-1", _cols([(HUM, 3, 43.0)], first_seq=5))
        assert ws.receive_json()["value"] == 43.0


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("not-a-token", 4401),
        (auth.Tokens(b"other secret").issue("alice", False), 4401),
        ("", 4401),
        (_token("bob"), 4403),
    ],
)
def test_widget_socket_refuses_bad_and_foreign_tokens(device_hub: Hub, token: str, code: int) -> None:
    w = _create_widget(device_hub, sensor_variable="humidity")
    with device_hub.client.websocket_connect(_ws_url(w.id, token)) as ws, \
            pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    assert closed.value.code == code


def test_widget_socket_of_an_unknown_widget(hub: Hub) -> None:
    with hub.client.websocket_connect(_ws_url("flow-widget-nope", _token("alice"))) as ws, \
            pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    assert closed.value.code == 4404


def test_widget_socket_closes_when_its_widget_is_removed(device_hub: Hub) -> None:
    hub = device_hub
    w = _create_widget(hub, sensor_variable="humidity")
    with hub.client.websocket_connect(_ws_url(w.id, _token("alice"))) as ws:
        hub.wait_subscribed(w.id)
        hub.client.put(f"/api/dashboard-templates/{w.dash_uuid}/", json={"widgets": []}, headers=ALICE)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1000, "widget removed")


def test_widget_socket_survives_a_resize_of_its_widget(device_hub: Hub) -> None:
    hub = device_hub
    w = _create_widget(hub, sensor_variable="humidity")
    widget = w.body["widget"]
    with hub.client.websocket_connect(_ws_url(w.id, _token("alice"))) as ws:
        hub.wait_subscribed(w.id)
        resp = hub.client.put(f"/api/dashboard-templates/{w.dash_uuid}/", headers=ALICE,
                              json={"widgets": [{**widget, "max_samples": 2}]})
        assert resp.status_code == 200
        assert [s["value"] for s in _samples(hub, w)] == [41.0, 42.0]
        hub.commit("edge-1", _cols([(HUM, 3, 43.0)], first_seq=5))
        assert ws.receive_json()["value"] == 43.0  # the widget still exists: its socket keeps streaming


# -- /ws/sensors/ direct ingest -------------------------------------------------------------
@pytest.fixture
def esp(hub: Hub) -> str:
    """A direct device esp-1; returns its token."""
    resp = hub.client.post("/api/devices/", json={"device_id": "esp-1", "name": "Hall ESP32"}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["device_id"], body["name"]) == ("esp-1", "Hall ESP32")
    return str(body["token"])


def _reading(value: float, seconds: float, device_id: str = "esp-1") -> dict[str, Any]:
    return {"device_id": device_id, "sensor_type": "temperature", "value": value, "unit": "°C",
            "timestamp": T0_US // 1000 + int(seconds * 1000)}


def test_direct_ingest_stores_and_answers_each_message(hub: Hub, esp: str) -> None:
    with hub.client.websocket_connect(f"/ws/sensors/?token={esp}") as ws:
        ws.send_text(json.dumps(_reading(21.5, 0)))
        assert ws.receive_json() == {"accepted": 1, "rejected": []}
        bulk = {"device_id": "esp-1", "readings": [
            {"sensor_type": "temperature", "value": 22.0, "unit": "°C", "timestamp": "2025-07-09T07:15:03Z"},
            {"sensor_type": "temperature", "value": "hot", "unit": "°C"},
            {"sensor_type": "humidity", "value": 40, "unit": "%", "timestamp": "2025-07-09T07:15:03Z"},
        ]}
        ws.send_bytes(json.dumps(bulk).encode())
        reply = ws.receive_json()
        assert reply["accepted"] == 2
        assert [r["reason"] for r in reply["rejected"]] == ["bad_value"]
    rows = hub.client.get("/api/devices/esp-1/readings/?sensor_type=temperature", headers=ALICE).json()
    assert rows == [
        {"timestamp": "2025-07-09T07:15:02Z", "value": 21.5, "unit": "°C", "sensor_type": "temperature"},
        {"timestamp": "2025-07-09T07:15:03Z", "value": 22.0, "unit": "°C", "sensor_type": "temperature"},
    ]
    (device,) = hub.client.get("/api/devices/", headers=ALICE).json()
    assert (device["device_id"], device["name"], device["direct"]) == ("esp-1", "Hall ESP32", True)


def test_direct_ingest_refuses_another_devices_payload(hub: Hub, esp: str) -> None:
    with hub.client.websocket_connect(f"/ws/sensors/?token={esp}") as ws:
        ws.send_text(json.dumps(_reading(21.5, 0, device_id="esp-2")))
        reply = ws.receive_json()
    assert reply["accepted"] == 0
    assert [r["reason"] for r in reply["rejected"]] == ["device_mismatch"]
    assert hub.store.count_readings() == 0


@pytest.mark.parametrize("query", ["?token=wrong", "?token=", ""])
def test_direct_ingest_refuses_a_wrong_token(hub: Hub, esp: str, query: str) -> None:
    with hub.client.websocket_connect(f"/ws/sensors/{query}") as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    assert closed.value.code == 4401


def test_direct_readings_reach_a_device_widget(hub: Hub, esp: str) -> None:
    dash_uuid = hub.client.post("/api/dashboard-templates/", headers=ALICE, json={"widgets": [
        {"id": "w-esp", "type": "gauge", "dataSource": {"kind": "device", "device_id": "esp-1",
                                                        "sensor_type": "temperature"}},
    ]}).json()["uuid"]
    with hub.client.websocket_connect(f"/ws/sensors/?token={esp}") as ws:
        for i, value in enumerate([20.0, 20.5, 21.0]):  # one message each: seqs must keep counting up
            ws.send_text(json.dumps(_reading(value, i)))
            assert ws.receive_json()["accepted"] == 1
    resp = hub.client.get(f"/api/dashboard-templates/{dash_uuid}/widgets/w-esp/samples/", headers=ALICE)
    assert [s["value"] for s in resp.json()] == [20.0, 20.5, 21.0]
    assert hub.store.count_readings() == 3


# -- devices and users ----------------------------------------------------------------------
def test_only_admins_create_devices(hub: Hub) -> None:
    resp = hub.client.post("/api/devices/", json={"device_id": "esp-1"}, headers=ALICE)
    assert resp.status_code == 403
    assert hub.client.get("/api/devices/", headers=ALICE).json() == []


def test_duplicate_device_is_a_conflict(hub: Hub, esp: str) -> None:
    resp = hub.client.post("/api/devices/", json={"device_id": "esp-1"}, headers=ADMIN)
    assert resp.status_code == 409
    assert resp.json() == {"error": "device 'esp-1' exists already"}


def test_patch_device_renames_it(hub: Hub, esp: str) -> None:
    resp = hub.client.patch("/api/devices/esp-1/", json={"name": "  Boiler room  "}, headers=ADMIN)
    assert resp.status_code == 200
    assert (resp.json()["device_id"], resp.json()["name"]) == ("esp-1", "Boiler room")
    assert hub.client.get("/api/devices/", headers=ALICE).json()[0]["name"] == "Boiler room"


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("/api/devices/esp-1/", {"name": "Mine"}, ALICE, 403),
        ("/api/devices/esp-9/", {"name": "Ghost"}, ADMIN, 404),
        ("/api/devices/esp-1/", {"name": "   "}, ADMIN, 400),
        ("/api/devices/esp-1/", {}, ADMIN, 400),
    ],
)
def test_patch_device_errors(hub: Hub, esp: str, path: str, body: dict[str, Any], headers: dict[str, str],
                             status: int) -> None:
    resp = hub.client.patch(path, json=body, headers=headers)
    assert resp.status_code == status
    assert hub.client.get("/api/devices/", headers=ALICE).json()[0]["name"] == "Hall ESP32"


def test_admin_creates_users_who_can_log_in(hub: Hub) -> None:
    resp = hub.client.post("/api/users/", json={"username": "carol", "password": "long enough"}, headers=ADMIN)
    assert resp.status_code == 201
    assert resp.json() == {"username": "carol", "is_admin": False}
    resp = hub.client.post("/api/auth/token/", json={"username": "carol", "password": "long enough"})
    assert resp.status_code == 200
    assert auth.Tokens(SECRET).verify(resp.json()["access"])["sub"] == "carol"
    again = hub.client.post("/api/users/", json={"username": "carol", "password": "another one"}, headers=ADMIN)
    assert again.status_code == 409
    assert again.json() == {"error": "user 'carol' exists already"}


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        ({"username": "carol", "password": "short"}, ADMIN, 400, "password must be a string of at least 8 characters"),
        ({"username": "", "password": "long enough"}, ADMIN, 400, "username must be a non-empty string"),
        ({"username": "carol", "password": "long enough", "is_admin": "yes"}, ADMIN, 400, "is_admin must be"),
        ({"username": "carol", "password": "long enough"}, ALICE, 403, "this needs an admin account"),
    ],
)
def test_create_user_errors(hub: Hub, body: dict[str, Any], headers: dict[str, str], status: int,
                            error: str) -> None:
    resp = hub.client.post("/api/users/", json=body, headers=headers)
    assert resp.status_code == status
    assert resp.json()["error"].startswith(error)
    assert hub.client.get("/api/users/", headers=ADMIN).json() == []
