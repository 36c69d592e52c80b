"""hub/api.py through Starlette's TestClient: authentication, edges, devices and readings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from edgehub.columns import decode, encode
from hub import auth
from hub.api import Api, create_app
from hub.link import LinkService
from hub.store import Store

SECRET = b"secret"
T0_US = 1_752_045_302_000_000  # 2025-07-09T07:15:02Z
T0_MS = T0_US // 1000
KEYS = [("dev-1", "temperature", "°C"), ("dev-1", "humidity", "%")]

API_ROUTES = [
    ("GET", "/api/edges/"),
    ("POST", "/api/edges/"),
    ("GET", "/api/devices/"),
    ("GET", "/api/devices/dev-1/readings/"),
]


@pytest.fixture(scope="module")
def pw_hash() -> str:
    return auth.hash_password("pw")  # scrypt is slow on purpose; hash once


@pytest.fixture
def store(tmp_path: Path, pw_hash: str) -> Iterator[Store]:
    s = Store(tmp_path / "hub.duckdb").open()
    s.create_user("admin", pw_hash, True)
    s.create_user("viewer", pw_hash, False)
    yield s
    s.close()


@pytest.fixture
def app_store(store: Store) -> Iterator[tuple[TestClient, Store]]:
    app = create_app(Api(store, LinkService(store), auth.Tokens(SECRET)))
    with TestClient(app) as client:
        yield client, store


@pytest.fixture
def client(app_store: tuple[TestClient, Store]) -> TestClient:
    return app_store[0]


def _bearer(username: str = "admin", is_admin: bool = True) -> dict[str, str]:
    return {"Authorization": f"Bearer {auth.Tokens(SECRET).issue(username, is_admin)}"}


ADMIN = _bearer()
VIEWER = _bearer("viewer", False)


def _ingest(store: Store, n: int = 10) -> None:
    """Readings of dev-1 via edge-1: temperature at T0+1 s .. T0+n s with values 1.0 .. n, one humidity."""
    store.create_edge("edge-1", auth.hash_token("edge-token"))
    seqs = np.arange(1, n + 2, dtype=np.int64)
    sids = np.array([1] * n + [2], dtype=np.int32)
    ts = np.array([T0_US + i * 1_000_000 for i in range(1, n + 1)] + [T0_US], dtype=np.int64)
    values = np.array([float(i) for i in range(1, n + 1)] + [55.0])
    store.commit_batch("edge-1", decode(encode(sids, seqs, ts, values, KEYS)))


# -- token endpoint -------------------------------------------------------------------------
def test_token_for_good_credentials(client: TestClient) -> None:
    resp = client.post("/api/auth/token/", json={"username": "admin", "password": "pw"})
    assert resp.status_code == 200
    access = resp.json()["access"]
    assert auth.Tokens(SECRET).verify(access)["sub"] == "admin"
    assert client.get("/api/edges/", headers={"Authorization": f"Bearer {access}"}).status_code == 200


@pytest.mark.parametrize(("username", "password"), [("admin", "wrong"), ("nobody", "pw"), ("admin", "")])
def test_token_for_bad_credentials(client: TestClient, username: str, password: str) -> None:
    resp = client.post("/api/auth/token/", json={"username": username, "password": password})
    assert resp.status_code == 401
    assert resp.json() == {"error": "wrong username or password"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", "the request body must be JSON"),
        (b"[1]", "the request body must be a JSON object"),
        (b'{"username": "admin"}', "send username and password as strings"),
        (b'{"username": "admin", "password": 5}', "send username and password as strings"),
    ],
)
def test_token_with_bad_body(client: TestClient, body: bytes, error: str) -> None:
    resp = client.post("/api/auth/token/", content=body)
    assert resp.status_code == 400
    assert resp.json() == {"error": error}


# -- authorisation --------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), API_ROUTES)
def test_api_routes_need_a_token(client: TestClient, method: str, path: str) -> None:
    resp = client.request(method, path, json={"edge_id": "x"})
    assert resp.status_code == 401
    assert "log in first" in resp.json()["error"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-token",
        f"Bearer {auth.Tokens(b'other secret').issue('admin', True)}",
        f"Bearer {auth.Tokens(SECRET).issue('admin', True, now=1_000_000_000)}",  # long expired
        f"Token {auth.Tokens(SECRET).issue('admin', True)}",
    ],
)
@pytest.mark.parametrize(("method", "path"), API_ROUTES)
def test_api_routes_refuse_bad_tokens(client: TestClient, method: str, path: str, header: str) -> None:
    resp = client.request(method, path, headers={"Authorization": header}, json={"edge_id": "x"})
    assert resp.status_code == 401
    assert resp.json()["error"]


# -- edges ----------------------------------------------------------------------------------
def test_create_edge_returns_its_token_once(app_store: tuple[TestClient, Store]) -> None:
    client, store = app_store
    resp = client.post("/api/edges/", json={"edge_id": "line-3"}, headers=ADMIN)
    assert resp.status_code == 201
    body = resp.json()
    assert body["edge_id"] == "line-3"
    token = body["token"]
    assert auth.token_matches(token, store.edge_token_hash("line-3"))
    listed = client.get("/api/edges/", headers=ADMIN).json()
    assert listed == [{
        "edge_id": "line-3", "connected": False, "acked_seq": 0, "last_seen": None,
        "readings_per_s": 0.0, "backlog": None, "lag_s": None, "peer": None,
    }]
    assert token not in client.get("/api/edges/", headers=ADMIN).text


def test_duplicate_edge_is_a_conflict(client: TestClient) -> None:
    assert client.post("/api/edges/", json={"edge_id": "line-3"}, headers=ADMIN).status_code == 201
    resp = client.post("/api/edges/", json={"edge_id": "line-3"}, headers=ADMIN)
    assert resp.status_code == 409
    assert resp.json() == {"error": "edge 'line-3' exists already"}


def test_only_admins_create_edges(app_store: tuple[TestClient, Store]) -> None:
    client, store = app_store
    resp = client.post("/api/edges/", json={"edge_id": "line-3"}, headers=VIEWER)
    assert resp.status_code == 403
    assert resp.json() == {"error": "this needs an admin account"}
    assert store.edge_token_hash("line-3") is None
    assert client.get("/api/edges/", headers=VIEWER).status_code == 200  # reading is for everyone


@pytest.mark.parametrize("edge_id", ["", "   ", "e" * 129, 5, None])
def test_create_edge_validates_the_id(client: TestClient, edge_id: object) -> None:
    resp = client.post("/api/edges/", json={"edge_id": edge_id}, headers=ADMIN)
    assert resp.status_code == 400
    assert "edge_id must be" in resp.json()["error"]


def test_edge_list_shows_the_watermark(app_store: tuple[TestClient, Store]) -> None:
    client, store = app_store
    _ingest(store)
    (edge,) = client.get("/api/edges/", headers=VIEWER).json()
    assert edge["edge_id"] == "edge-1"
    assert edge["acked_seq"] == 11
    assert edge["last_seen"].endswith("Z")


# -- devices and readings -------------------------------------------------------------------
def test_devices(app_store: tuple[TestClient, Store]) -> None:
    client, store = app_store
    assert client.get("/api/devices/", headers=VIEWER).json() == []
    _ingest(store)
    (device,) = client.get("/api/devices/", headers=VIEWER).json()
    assert (device["device_id"], device["edge_id"]) == ("dev-1", "edge-1")
    sensors = {s["sensor_type"]: s for s in device["sensors"]}
    assert sensors["temperature"]["last_value"] == 10.0
    assert sensors["temperature"]["last_ts"] == "2025-07-09T07:15:12Z"
    assert sensors["humidity"] == {
        "sensor_type": "humidity", "unit": "%", "last_ts": "2025-07-09T07:15:02Z", "last_value": 55.0,
    }


@pytest.fixture
def readings(app_store: tuple[TestClient, Store]) -> TestClient:
    client, store = app_store
    _ingest(store)
    return client


def _values(client: TestClient, **params: object) -> list[float]:
    resp = client.get("/api/devices/dev-1/readings/", params=params, headers=VIEWER)
    assert resp.status_code == 200, resp.text
    return [r["value"] for r in resp.json()]


def test_readings_shape(readings: TestClient) -> None:
    rows = readings.get("/api/devices/dev-1/readings/?sensor_type=temperature&limit=1", headers=VIEWER).json()
    assert rows == [{"timestamp": "2025-07-09T07:15:12Z", "value": 10.0, "unit": "°C", "sensor_type": "temperature"}]


def test_readings_window_and_limit(readings: TestClient) -> None:
    assert _values(readings) == [55.0, *[float(i) for i in range(1, 11)]]
    assert _values(readings, sensor_type="temperature", limit=3) == [8.0, 9.0, 10.0]
    assert _values(readings, sensor_type="temperature", limit=3, **{"from": "2025-07-09T07:15:06Z"}) == [4.0, 5.0, 6.0]
    assert _values(readings, sensor_type="temperature", **{"from": T0_MS + 9000}) == [9.0, 10.0]
    assert _values(readings, sensor_type="temperature", to="2025-07-09T09:15:04+02:00") == [1.0, 2.0]
    assert _values(readings, sensor_type="temperature", to="2025-07-09T07:15:04") == [1.0, 2.0]  # naive is UTC
    window = {"from": "2025-07-09T07:15:05Z", "to": str(T0_MS + 6000)}
    assert _values(readings, sensor_type="temperature", **window) == [3.0, 4.0, 5.0, 6.0]
    assert _values(readings, sensor_type="pressure") == []


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("from=yesterday", "from must be ISO-8601 (2025-07-09T07:15:02Z) or epoch milliseconds"),
        ("to=2025-07-09T25:00:00Z", "to must be ISO-8601 (2025-07-09T07:15:02Z) or epoch milliseconds"),
        ("from=2025-07-09T08:00:00Z&to=2025-07-09T07:00:00Z", "from must not be after to"),
        ("limit=abc", "limit must be an integer"),
        ("limit=0", "limit must be between 1 and 100000"),
        ("limit=100001", "limit must be between 1 and 100000"),
    ],
)
def test_readings_parameter_errors(readings: TestClient, query: str, error: str) -> None:
    resp = readings.get(f"/api/devices/dev-1/readings/?{query}", headers=VIEWER)
    assert resp.status_code == 400
    assert resp.json() == {"error": error}


@pytest.mark.parametrize("value", ["99999999999999999999", "-99999999999999"])
def test_readings_time_out_of_range_is_a_client_error(readings: TestClient, value: str) -> None:
    with TestClient(readings.app, raise_server_exceptions=False) as client:
        resp = client.get(f"/api/devices/dev-1/readings/?from={value}", headers=VIEWER)
    assert resp.status_code == 400


def test_readings_of_unknown_device(readings: TestClient) -> None:
    resp = readings.get("/api/devices/dev-9/readings/", headers=VIEWER)
    assert resp.status_code == 404
    assert resp.json() == {"error": "no device 'dev-9'"}


# -- pages ----------------------------------------------------------------------------------
def test_index_page(client: TestClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "edgehub" in resp.text


def test_metrics(client: TestClient) -> None:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in resp.text


def test_metrics_name_filter_returns_only_those_metrics(client: TestClient) -> None:
    resp = client.get("/metrics?name[]=edgehub_hub_readings_stored_total&name[]=edgehub_hub_db_memory_bytes")
    assert resp.status_code == 200
    names = {line.split("{")[0].split()[0] for line in resp.text.splitlines() if line and not line.startswith("#")}
    assert names == {"edgehub_hub_readings_stored_total", "edgehub_hub_db_memory_bytes"}
    memory = next(line for line in resp.text.splitlines() if line.startswith("edgehub_hub_db_memory_bytes "))
    assert float(memory.split()[1]) > 0  # refreshed for the request, as on the whole page
    assert "python_gc" in client.get("/metrics").text


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "edges_connected": 0}


def test_unknown_route_is_json(client: TestClient) -> None:
    resp = client.get("/api/nothing/", headers=ADMIN)
    assert resp.status_code == 404
    assert "error" in resp.json()
