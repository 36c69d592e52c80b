"""Real processes for system tests: mosquitto, ``edgehub hub``, ``edgehub edge``, ``edgehub sim``.

Every process gets free loopback ports, is stopped by its pid, and can be SIGKILLed on purpose.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EDGEHUB = [sys.executable, "-m", "edgehub.cli"]
ADMIN = ("admin", "admin-password")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last value: {last!r})")


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if not found:
        raise RuntimeError("mosquitto is not installed; .ci/run installs Debian's mosquitto")
    return found


class Proc:
    """A child process with its output in a log file."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.argv, self.log_path = name, argv, log
        self.env = {**os.environ, **(env or {})}
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=REPO)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            assert self.popen is not None
            self.popen.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.popen is None:
            return None
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(10)
        return self.popen.returncode

    def wait(self, timeout: float) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class Mosquitto(Proc):
    def __init__(self, workdir: Path, port: int | None = None, persistence: bool = False) -> None:
        self.port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "log_dest stderr",
            "max_queued_messages 0",  # no cap on what a persistent session holds while the edge is away
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to 'mosquitto' and cannot write workdir
        if persistence:
            lines += ["persistence true", f"persistence_location {workdir}/", "autosave_interval 1"]
        conf.write_text("\n".join(lines) + "\n")
        super().__init__("mosquitto", [mosquitto_binary(), "-c", str(conf)], workdir / "mosquitto.log")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        super().start()
        wait_for(lambda: _port_open(self.port), 10, what=f"mosquitto on {self.port}")
        return self


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Hub(Proc):
    def __init__(self, workdir: Path, http_port: int | None = None, grpc_port: int | None = None,
                 extra: list[str] | None = None) -> None:
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.data_dir = workdir / "hub-data"
        self._token: str | None = None
        argv = [*EDGEHUB, "hub", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
                "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port), *(extra or [])]
        env = {"EDGEHUB_ADMIN_USER": ADMIN[0], "EDGEHUB_ADMIN_PASSWORD": ADMIN[1]}
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__("hub", argv, workdir / "hub.log", env)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> Hub:
        super().start()
        wait_for(self._healthy, 20, what="hub /healthz")
        return self

    def _healthy(self) -> bool:
        if not self.alive():
            raise AssertionError(f"hub exited:\n{self.output()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def request(self, method: str, path: str, body: Any = None, auth: bool = True) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def token(self) -> str:
        if self._token is None:
            status, body = self.request("POST", "/api/auth/token/",
                                        {"username": ADMIN[0], "password": ADMIN[1]}, auth=False)
            assert status == 200, body
            self._token = body["access"]
        return self._token

    def register_edge(self, edge_id: str) -> str:
        status, body = self.request("POST", "/api/edges/", {"edge_id": edge_id})
        assert status == 201, body
        return str(body["token"])

    def edge(self, edge_id: str) -> dict[str, Any]:
        status, body = self.request("GET", "/api/edges/")
        assert status == 200, body
        return next(e for e in body if e["edge_id"] == edge_id)

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as r:
            return parse_metric(r.read().decode(), name)


def parse_metric(text: str, name: str) -> float:
    """Sum of every sample of ``name`` (all label sets) in Prometheus text format."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Edge(Proc):
    def __init__(self, workdir: Path, edge_id: str, hub: str, token: str, mqtt_url: str,
                 extra: list[str] | None = None) -> None:
        self.data_dir = workdir / f"edge-{edge_id}"
        self.metrics_port = free_port()
        self.admin_port = free_port()
        argv = [*EDGEHUB, "edge", "--edge-id", edge_id, "--hub", hub, "--mqtt-url", mqtt_url,
                "--data-dir", str(self.data_dir), "--admin-port", str(self.admin_port),
                "--metrics-port", str(self.metrics_port), *(extra or [])]
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(f"edge-{edge_id}", argv, workdir / f"edge-{edge_id}.log", {"EDGEHUB_EDGE_TOKEN": token})

    def start(self) -> Edge:
        super().start()
        wait_for(lambda: self._metrics_up(), 20, what="edge metrics endpoint")
        return self

    def _metrics_up(self) -> bool:
        if not self.alive():
            raise AssertionError(f"edge exited:\n{self.output()[-3000:]}")
        try:
            self.metrics_text()
            return True
        except OSError:
            return False

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def metric(self, name: str) -> float:
        return parse_metric(self.metrics_text(), name)

    def wait_subscribed(self, timeout: float = 15) -> None:
        wait_for(lambda: self.metric("edgehub_edge_mqtt_connected") == 1 and "subscribing" in self.output(),
                 timeout, what="edge subscribed to the broker")


def sim(mqtt_url: str, workdir: Path, *, devices: int, count: int, rate: float, bulk: int = 1,
        seed: str = "test", waveform: str = "counter") -> Proc:
    argv = [*EDGEHUB, "sim", "--mqtt-url", mqtt_url, "--devices", str(devices), "--count", str(count),
            "--rate", str(rate), "--bulk", str(bulk), "--seed", seed, "--waveform", waveform]
    workdir.mkdir(parents=True, exist_ok=True)
    return Proc("sim", argv, workdir / f"sim-{seed}.log").start()


def hub_rows(hub: Hub) -> list[tuple[str, str, float, int]]:
    """Every stored reading as (device_id, sensor_type, value, edge_seq), read from the hub's DuckDB
    file. The hub must be stopped first (DuckDB holds an exclusive lock on the file)."""
    import duckdb

    assert not hub.alive(), "stop the hub before reading its file"
    con = duckdb.connect(str(hub.data_dir / "hub.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT s.device_id, s.sensor_type, d.value, d.edge_seq FROM sensor_data d JOIN series s USING (series_id)"
        ).fetchall()
    finally:
        con.close()
    return [(str(a), str(b), float(c), int(e)) for a, b, c, e in rows]


def assert_exactly_once(rows: list[tuple[str, str, float, int]], devices: list[str], per_device: int) -> None:
    """Each device has values 0..per_device-1 exactly once (the simulator's counter waveform)."""
    from collections import Counter

    seen = Counter((dev, val) for dev, _, val, _ in rows)
    dupes = [k for k, n in seen.items() if n > 1]
    expected = {(dev, float(i)) for dev in devices for i in range(per_device)}
    missing = expected - set(seen)
    extra = set(seen) - expected
    assert not dupes, f"{len(dupes)} readings stored more than once, e.g. {dupes[:5]}"
    assert not missing, f"{len(missing)} readings missing, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} unexpected readings, e.g. {sorted(extra)[:5]}"
    assert len(rows) == len(expected)


def publish(mqtt_url: str, messages: list[tuple[str, bytes]], timeout: float = 30) -> None:
    """Publish ``(topic, payload)`` pairs at QoS 1 and return once the broker acked every one."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    host, port = mqtt_url.removeprefix("mqtt://").split(":")
    acked = threading.Semaphore(0)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.on_publish = lambda *a: acked.release()
    client.connect(host, int(port))
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1)
        for _ in messages:
            assert acked.acquire(timeout=timeout), "broker did not ack every publish"
    finally:
        client.disconnect()
        client.loop_stop()
