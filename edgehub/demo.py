"""``edgehub demo``: a broker, the hub, one edge and the simulator on this machine.

Ports that are taken are replaced by free ones and printed. State lives in ``--data-dir`` (kept
across runs; ``--fresh`` wipes it), including the demo credentials and the edge token, so a second
run finds the same user, edge and devices. Ctrl-C stops every process it started.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

DEMO_USER = "demo"
EDGE_ID = "demo-edge"
STATUS_INTERVAL_S = 5.0


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick_port(preferred: int) -> int:
    if _port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data: Path = args.data_dir.resolve()
        self.logs = self.data / "logs"
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                    start_new_session=True)  # Ctrl-C reaches us; we stop the children in order
        self.children.append((name, proc))
        return proc

    def credentials(self) -> dict[str, str]:
        path = self.data / "credentials.json"
        if path.exists():
            return dict(json.loads(path.read_text()))
        creds = {"username": DEMO_USER, "password": secrets.token_urlsafe(9)}
        path.write_text(json.dumps(creds))
        path.chmod(0o600)
        return creds

    def start_broker(self) -> str:
        """The embedded amqtt broker on 1883 (or a free port when that is taken)."""
        port = pick_port(1883)
        self.spawn("broker", [sys.executable, "-m", "edgehub.broker", "--port", str(port)])
        self._wait(lambda: not _port_free(port), 15, "the embedded MQTT broker")
        return f"mqtt://127.0.0.1:{port}"

    def _wait(self, check: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.children:
                if proc.poll() is not None:
                    raise SystemExit(f"edgehub demo: {name} exited; see {self.logs / (name + '.log')}")
            try:
                if check():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"edgehub demo: {what} did not start within {timeout:.0f} s; see {self.logs}")

    def edge_token(self, base: str, token: str) -> str:
        path = self.data / "edge-token"
        if path.exists():
            return path.read_text().strip()
        status, body = _http("POST", f"{base}/api/edges/", {"edge_id": EDGE_ID}, token)
        if status != 201:
            raise SystemExit(f"edgehub demo: could not register the demo edge: {body}")
        path.write_text(body["token"])
        path.chmod(0o600)
        return str(body["token"])

    def run(self) -> int:
        args = self.args
        if args.fresh and self.data.exists():
            shutil.rmtree(self.data)
        self.logs.mkdir(parents=True, exist_ok=True)
        creds = self.credentials()
        exe = [sys.executable, "-m", "edgehub.cli"]
        try:
            mqtt_url = args.mqtt_url or self.start_broker()
            # amqtt 0.12 accepts an MQTT 5 CONNECT and then delivers nothing: speak 3.1.1 to it.
            protocol = "5" if args.mqtt_url else "3.1.1"
            http_port = pick_port(args.http_port)
            grpc_port = pick_port(50051)
            base = f"http://127.0.0.1:{http_port}"
            self.spawn("hub", [*exe, "hub", "--data-dir", str(self.data / "hub"), "--host", "127.0.0.1",
                               "--http-port", str(http_port), "--grpc-port", str(grpc_port)],
                       {"EDGEHUB_ADMIN_USER": creds["username"], "EDGEHUB_ADMIN_PASSWORD": creds["password"]})
            self._wait(lambda: _http("GET", f"{base}/healthz")[0] == 200, 30, "the hub")
            status, body = _http("POST", f"{base}/api/auth/token/", creds)
            if status != 200:
                raise SystemExit(f"edgehub demo: cannot log in as {creds['username']}: {body}")
            token = body["access"]
            edge_token = self.edge_token(base, token)
            self.spawn("edge", [*exe, "edge", "--edge-id", EDGE_ID, "--hub", f"127.0.0.1:{grpc_port}",
                                "--mqtt-url", mqtt_url, "--mqtt-protocol", protocol,
                                "--data-dir", str(self.data / "edge"),
                                "--admin-port", str(pick_port(50052))], {"EDGEHUB_EDGE_TOKEN": edge_token})
            self.spawn("sim", [*exe, "sim", "--mqtt-url", mqtt_url, "--devices", str(args.devices),
                               "--rate", str(args.rate), "--duration", str(365 * 24 * 3600), "--quiet"])
            seeded = self.seed(base, token)
            print(f"""
edgehub demo is running
  web app      {base}/
  log in as    {creds['username']} / {creds['password']}
  REST API     {base}/api/   (POST /api/auth/token/ with the credentials above)
  metrics      {base}/metrics
  MQTT broker  {mqtt_url}   (devices publish to devices/<uuid>/telemetry)
  hub gRPC     127.0.0.1:{grpc_port}
  data, logs   {self.data}
{seeded}
Ctrl-C stops everything.
""", flush=True)
            self._status_loop(base, token)
        except KeyboardInterrupt:
            print("\nstopping ...", flush=True)
        finally:
            self.stop_all()
        return 0

    def seed(self, base: str, token: str) -> str:
        """On the first run: friendly device names, a flow and a dashboard with one widget of each type."""
        marker = self.data / "seeded.json"
        if marker.exists():
            return f"  dashboard    {base}/#/dashboards/{json.loads(marker.read_text())['dashboard_uuid']}"
        sensors = ("temperature", "humidity", "pressure", "vibration")

        def reported() -> list[dict[str, Any]] | None:
            status, devices = _http("GET", f"{base}/api/devices/", token=token)
            ready = [d for d in devices if {s["sensor_type"] for s in d["sensors"]} >= set(sensors)] \
                if status == 200 else []
            return ready if len(ready) >= self.args.devices else None

        found: list[list[dict[str, Any]]] = []

        def ready() -> bool:
            devices_now = reported()
            if devices_now:
                found.append(devices_now)
            return bool(found)

        self._wait(ready, 60, "the simulated devices")
        devices = found[0]
        names = ["Press 1", "Oven 2", "Compressor 3", "Mixer 4", "Pump 5", "Dryer 6"]
        for d, name in zip(devices, names, strict=False):
            _http("PATCH", f"{base}/api/devices/{d['device_id']}/", {"name": name}, token)
        first = devices[0]["device_id"]
        node = f"{first}-{int(time.time() * 1000)}"
        status, flow = _http("POST", f"{base}/api/flows/", {"name": "Line 1", "nodes": [
            {"id": node, "type": "device", "position": {"x": 40, "y": 120}, "data": {"sensor_variable": "temperature"}},
            {"id": "smooth", "type": "moving_average", "position": {"x": 300, "y": 60}, "data": {"n": 10}},
            {"id": "overheat", "type": "threshold", "position": {"x": 300, "y": 200}, "data": {"threshold": 24}},
        ], "wires": [{"source": node, "target": "smooth"}, {"source": node, "target": "overheat"}]}, token)
        if status != 201:
            raise SystemExit(f"edgehub demo: could not create the demo flow: {flow}")
        _, dash = _http("POST", f"{base}/api/dashboard-templates/", {"name": "Line 1 overview"}, token)
        url = f"{base}/api/flows/{flow['flow_uuid']}/nodes/{{}}/create-widget/"
        widgets = [(node, "temperature", "time_series"), (node, "humidity", "gauge"), (node, "pressure", "stat"),
                   (node, "vibration", "table"), ("smooth", None, "time_series")]
        for node_id, variable, kind in widgets:
            body: dict[str, Any] = {"widget_type": kind, "dashboard_uuid": dash["uuid"]}
            if variable:
                body["sensor_variable"] = variable
            status, made = _http("POST", url.format(node_id), body, token)
            if status != 201:
                raise SystemExit(f"edgehub demo: could not create a {kind} widget: {made}")
        marker.write_text(json.dumps({"dashboard_uuid": dash["uuid"], "flow_uuid": flow["flow_uuid"]}))
        return f"  dashboard    {base}/#/dashboards/{dash['uuid']}"

    def _status_loop(self, base: str, token: str) -> None:
        while True:
            time.sleep(STATUS_INTERVAL_S)
            for name, proc in self.children:
                if proc.poll() is not None:
                    print(f"{name} exited with code {proc.returncode}; see {self.logs / (name + '.log')}")
                    return
            status, edges = _http("GET", f"{base}/api/edges/", token=token)
            if status == 200 and edges:
                e = edges[0]
                state = "connected" if e["connected"] else "disconnected"
                print(f"edge {e['edge_id']}: {state}, {e['acked_seq']} readings stored, "
                      f"{e['readings_per_s']} readings/s", flush=True)

    def stop_all(self) -> None:
        for _, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in reversed(self.children):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in 10 s; killing it")
                proc.kill()
                proc.wait(5)


def run_demo(args: argparse.Namespace) -> int:
    return Demo(args).run()
