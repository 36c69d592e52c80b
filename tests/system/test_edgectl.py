"""edgectl against a real edge process (with mosquitto, and a hub where the link matters): every read
command's JSON against what was published, uplink pause and resume, a Parquet export that round-trips
the exact readings, purge with and without confirmation, tail, the admin token and TLS, exit codes."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from edgehub import __version__
from tests.support import EDGEHUB, REPO, Edge, Hub, Mosquitto, Proc, free_port, publish, wait_for

pytestmark = pytest.mark.system

DEV_A = "6f1c2d3e-0000-4000-8000-00000000000a"
DEV_B = "6f1c2d3e-0000-4000-8000-00000000000b"


def edgectl(addr: str, *args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run edgectl with ``EDGEHUB_EDGE_ADDR`` pointing at ``addr`` (the default address path) and no other
    ``EDGEHUB_*`` variable than those in ``env``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEHUB_")}
    full_env.update({"EDGEHUB_EDGE_ADDR": addr, **(env or {})})
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, env=full_env,
                          cwd=REPO, timeout=60, **kw)


def ctl_json(addr: str, *args: str, env: dict[str, str] | None = None) -> Any:
    done = edgectl(addr, *args, "--json", env=env)
    assert done.returncode == 0, f"edgectl {' '.join(args)} failed ({done.returncode}): {done.stderr}"
    return json.loads(done.stdout)


def admin(edge: Edge) -> str:
    return f"127.0.0.1:{edge.admin_port}"


def reading(device: str, sensor: str, value: float, unit: str, at: datetime) -> tuple[str, bytes]:
    body = {"device_id": device, "sensor_type": sensor, "value": value, "unit": unit,
            "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    return f"devices/{device}/telemetry", json.dumps(body).encode()


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def start(tmp_path: Path, broker: Mosquitto, procs: list[Proc], *, hub: bool = True, extra: list[str] | None = None,
          edge_id: str = "site-x") -> tuple[Hub | None, Edge]:
    """An edge subscribed to ``broker``; with a hub, or pointed at a port where nothing listens."""
    h = None
    if hub:
        h = Hub(tmp_path).start()
        procs.append(h)
        token, address = h.register_edge(edge_id), h.address
    else:
        token, address = "no-hub-token", f"127.0.0.1:{free_port()}"
    edge = Edge(tmp_path, edge_id, address, token, broker.url, extra=extra).start()
    procs.append(edge)
    edge.wait_subscribed()
    return h, edge


def test_read_commands_match_what_was_published(tmp_path: Path, broker: Mosquitto, procs: list[Proc]) -> None:
    hub, edge = start(tmp_path, broker, procs)
    assert hub is not None
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    msgs = [reading(DEV_A, "temperature", 20.0 + i / 8, "°C", t0 + timedelta(seconds=i)) for i in range(10)]
    msgs += [reading(DEV_A, "humidity", 40.0 + i, "%", t0 + timedelta(seconds=i)) for i in range(5)]
    msgs += [reading(DEV_B, "pressure", 1013.25 + i, "hPa", t0 + timedelta(seconds=i)) for i in range(3)]
    bad_value = json.dumps({"device_id": DEV_A, "sensor_type": "t", "value": "7"}).encode()
    msgs += [(f"devices/{DEV_B}/telemetry", b"{not json"), (f"devices/{DEV_A}/telemetry", bad_value)]
    publish(broker.url, msgs)
    wait_for(lambda: hub.edge("site-x")["acked_seq"] == 18, 30, what="18 readings at the hub")
    addr = admin(edge)

    status = wait_for(lambda: (s := ctl_json(addr, "status"))["buffer"]["backlog"] == 0 and s, 10, what="no backlog")
    assert status["edge_id"] == "site-x" and status["software_version"] == __version__
    assert status["link"]["state"] == "streaming" and status["link"]["hub"] == hub.address
    assert status["link"]["acked_total"] == 18 and not status["link"]["paused"]
    assert status["link"]["down_since"] is None
    assert status["mqtt"]["connected"] and status["mqtt"]["readings"] == 18 and status["mqtt"]["messages"] == 20
    assert {k: status["buffer"][k] for k in ("rows", "last_seq", "acked_seq", "backlog")} == {
        "rows": 18, "last_seq": 18, "acked_seq": 18, "backlog": 0}
    assert status["buffer"]["oldest_unacked"] is None
    assert status["rejected"] == {"not_json": 1, "bad_value": 1}
    assert set(status["dropped"].values()) == {0}
    assert status["rates"]["ingest_5m"] > 0 and status["uptime_s"] > 0

    devices = {d["device_id"]: d for d in ctl_json(addr, "devices")["devices"]}
    assert set(devices) == {DEV_A, DEV_B}
    sensors = {s["sensor_type"]: s for s in devices[DEV_A]["sensors"]}
    assert sensors["temperature"]["unit"] == "°C" and sensors["temperature"]["rows"] == 10
    assert sensors["temperature"]["last_value"] == 20.0 + 9 / 8
    assert moment(sensors["temperature"]["last_ts"]) == t0 + timedelta(seconds=9)
    assert (sensors["humidity"]["last_value"], sensors["humidity"]["unit"]) == (44.0, "%")
    assert [(s["sensor_type"], s["last_value"], s["rows"]) for s in devices[DEV_B]["sensors"]] == [
        ("pressure", 1015.25, 3)]
    assert (devices[DEV_A]["rejected"], devices[DEV_B]["rejected"]) == (1, 1)

    series = ctl_json(addr, "buffer")["series"]
    assert [(s["device_id"], s["sensor_type"], s["unit"], s["rows"], s["unacked"]) for s in series] == [
        (DEV_A, "humidity", "%", 5, 0), (DEV_A, "temperature", "°C", 10, 0), (DEV_B, "pressure", "hPa", 3, 0)]
    assert moment(series[1]["oldest"]) == t0 and moment(series[1]["newest"]) == t0 + timedelta(seconds=9)

    rejections = ctl_json(addr, "rejections", "--limit", "5")
    assert [(r["reason"], r["device_id"]) for r in rejections["rejections"]] == [("bad_value", DEV_A),
                                                                                  ("not_json", DEV_B)]
    assert rejections["rejections"][1]["payload"] == "{not json"
    assert rejections["rejections"][1]["topic"] == f"devices/{DEV_B}/telemetry"

    # Human output: aligned, units and relative times, and no colour codes through a pipe...
    text = edgectl(addr, "devices").stdout
    header, *rows = text.splitlines()
    assert header.startswith("DEVICE") and "21.125 °C" in text and "44 %" in text and "min ago" in text
    value_end = header.index("LAST VALUE") + len("LAST VALUE")  # right-aligned numbers with their units
    assert len(rows) == 3 and all(r[:value_end].endswith((" °C", " %", " hPa")) for r in rows)
    plain = edgectl(addr, "status").stdout
    assert "\x1b[" not in plain and "streaming" in plain and "18 readings" in plain
    # ...but with colour on a terminal.
    assert "\x1b[32mstreaming" in _on_a_tty(addr, "status")


def _on_a_tty(addr: str, *args: str) -> str:
    """edgectl's stdout when it is a terminal."""
    master, slave = pty.openpty()
    env = {**os.environ, "EDGEHUB_EDGE_ADDR": addr}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", *args], stdout=slave, stderr=subprocess.PIPE,
                            env=env, cwd=REPO)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return b"".join(chunks).decode()


def test_tracked_cache_and_status_while_the_hub_is_down(tmp_path: Path, broker: Mosquitto, procs: list[Proc]) -> None:
    variables = [{"device_id": DEV_A, "sensor_type": "temperature", "widget_id": "w-1", "dashboard_uuid": "d-1",
                  "max_samples": 50},
                 {"device_id": DEV_B, "sensor_type": "pressure", "widget_id": "w-2", "dashboard_uuid": "d-1",
                  "max_samples": 50}]
    data_dir = tmp_path / "edge-site-x"
    data_dir.mkdir(parents=True)
    (data_dir / "tracked.json").write_text(json.dumps({"version": 12, "variables": variables}))
    _, edge = start(tmp_path, broker, procs, hub=False)
    addr = admin(edge)
    tracked = ctl_json(addr, "tracked")
    assert tracked == {"version": 12, "variables": variables}
    assert "w-2" in edgectl(addr, "tracked").stdout

    publish(broker.url, [reading(DEV_A, "temperature", 1.5, "°C", datetime.now(UTC))])
    status = wait_for(lambda: (s := ctl_json(addr, "status"))["link"]["last_error"] and s["buffer"]["backlog"] and s,
                      20, what="a link error and a backlog")
    assert status["link"]["state"] in ("connecting", "syncing") and "UNAVAILABLE" in status["link"]["last_error"]
    assert moment(status["link"]["down_since"]) <= moment(status["started_at"]) + timedelta(seconds=1)
    assert "reconnecting since" in edgectl(addr, "status").stdout
    assert status["buffer"]["backlog"] == 1 and status["buffer"]["oldest_unacked"] is not None
    assert status["tracked_version"] == 12 and status["tracked_variables"] == 2


def test_uplink_pause_grows_the_backlog_and_resume_drains_it(
    tmp_path: Path, broker: Mosquitto, procs: list[Proc]
) -> None:
    hub, edge = start(tmp_path, broker, procs)
    assert hub is not None
    addr = admin(edge)
    now = datetime.now(UTC)
    publish(broker.url, [reading(DEV_A, "temperature", i, "°C", now) for i in range(50)])
    wait_for(lambda: hub.edge("site-x")["acked_seq"] == 50, 30, what="50 readings at the hub")

    assert ctl_json(addr, "uplink", "pause")["paused"] is True
    publish(broker.url, [reading(DEV_A, "temperature", 50 + i, "°C", now) for i in range(300)])
    status = wait_for(lambda: (s := ctl_json(addr, "status"))["buffer"]["backlog"] == 300 and s, 20,
                      what="a backlog of 300 while paused")
    assert status["link"]["paused"] and status["mqtt"]["readings"] == 350
    time.sleep(1.0)
    assert hub.edge("site-x")["acked_seq"] == 50, "nothing may reach the hub while paused"
    assert ctl_json(addr, "status")["buffer"]["backlog"] == 300
    assert ctl_json(addr, "status")["link"]["state"] == "paused"
    assert "paused by an admin" in edgectl(addr, "status").stdout

    resumed = edgectl(addr, "uplink", "resume")
    assert resumed.returncode == 0 and "resumed" in resumed.stdout
    wait_for(lambda: ctl_json(addr, "status")["buffer"]["backlog"] == 0, 20, what="the backlog drained to 0")
    wait_for(lambda: hub.edge("site-x")["acked_seq"] == 350, 10, what="350 readings at the hub")
    status = ctl_json(addr, "status")
    assert not status["link"]["paused"] and status["link"]["state"] == "streaming"


def test_buffer_export_to_parquet_round_trips_the_exact_readings(
    tmp_path: Path, broker: Mosquitto, procs: list[Proc]
) -> None:
    hub, edge = start(tmp_path, broker, procs)
    assert hub is not None
    addr = admin(edge)
    t0 = datetime(2025, 7, 9, 7, 0, tzinfo=UTC)
    sent = [(DEV_A if i % 3 else DEV_B, "temperature" if i % 2 else "humidity", 17.0 + i / 16,
             "°C" if i % 2 else "%", t0 + timedelta(milliseconds=250 * i)) for i in range(400)]
    publish(broker.url, [reading(*r) for r in sent[:300]])
    wait_for(lambda: hub.edge("site-x")["acked_seq"] == 300, 30, what="300 readings at the hub")
    ctl_json(addr, "uplink", "pause")  # the last 100 stay unacked in the export
    publish(broker.url, [reading(*r) for r in sent[300:]])
    wait_for(lambda: ctl_json(addr, "status")["buffer"]["last_seq"] == 400, 20, what="400 readings buffered")

    out = tmp_path / "out" / "readings.parquet"
    out.parent.mkdir()
    summary = ctl_json(addr, "buffer", "export", "--out", str(out))
    assert summary["rows"] == 400 and summary["format"] == "parquet" and summary["bytes"] == out.stat().st_size
    rows = duckdb.sql(f"SELECT device_id, sensor_type, unit, ts, value, seq, acked FROM '{out}' ORDER BY seq"
                      ).fetchall()
    assert [r[:5] for r in rows] == [(d, s, u, t, v) for d, s, v, u, t in sent]
    assert [r[5] for r in rows] == list(range(1, 401))
    assert [r[6] for r in rows] == [True] * 300 + [False] * 100
    assert not list(out.parent.glob("*.part"))

    window = tmp_path / "out" / "window.csv"
    done = edgectl(addr, "buffer", "export", "--out", str(window), "--device", DEV_B,
                   "--since", "2025-07-09T07:00:10Z", "--until", "2025-07-09T07:00:40Z")
    assert done.returncode == 0 and "exported" in done.stdout and "csv" in done.stdout
    expected = [r for r in sent if r[0] == DEV_B and t0 + timedelta(seconds=10) <= r[4] < t0 + timedelta(seconds=40)]
    lines = window.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "device_id,sensor_type,unit,ts,value,seq,acked" and len(lines) == len(expected) + 1
    assert lines[1].split(",")[3] == expected[0][4].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ctl_json(addr, "uplink", "resume")


def test_buffer_purge_asks_then_deletes_and_says_what_is_lost(
    tmp_path: Path, broker: Mosquitto, procs: list[Proc]
) -> None:
    _, edge = start(tmp_path, broker, procs, hub=False)
    addr = admin(edge)
    old = datetime.now(UTC) - timedelta(days=2)
    publish(broker.url, [reading(DEV_A, "temperature", i, "°C", old + timedelta(seconds=i)) for i in range(10)]
            + [reading(DEV_A, "temperature", 100 + i, "°C", datetime.now(UTC)) for i in range(5)])
    wait_for(lambda: ctl_json(addr, "status")["buffer"]["rows"] == 15, 20, what="15 readings buffered")

    refused = edgectl(addr, "buffer", "purge", "--before", "1d", stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert ctl_json(addr, "status")["buffer"]["rows"] == 15

    done = edgectl(addr, "buffer", "purge", "--before", "1d", "--yes")
    assert done.returncode == 0, done.stderr
    assert "deleted 10 readings" in done.stdout and "10 that never reached it" in done.stdout
    status = ctl_json(addr, "status")
    assert status["buffer"]["rows"] == 5 and status["dropped"]["purged_unacked"] == 10
    assert status["buffer"]["backlog"] == 5  # what is still to send, not last_seq - acked_seq (15)
    again = ctl_json(addr, "buffer", "purge", "--before", "1d", "--yes")
    assert (again["acked"], again["unacked"]) == (0, 0)


def test_tail_receives_readings_published_after_it_started(
    tmp_path: Path, broker: Mosquitto, procs: list[Proc]
) -> None:
    _, edge = start(tmp_path, broker, procs, hub=False)
    addr = admin(edge)
    now = datetime.now(UTC)
    publish(broker.url, [reading(DEV_A, "temperature", 1000.0 + i, "°C", now) for i in range(3)])
    wait_for(lambda: ctl_json(addr, "status")["buffer"]["rows"] == 3, 20, what="3 readings before the tail")

    env = {**os.environ, "EDGEHUB_EDGE_ADDR": addr}
    tail = subprocess.Popen([sys.executable, "-m", "edge.cli", "tail", "--device", DEV_A, "--json", "--count", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        assert tail.stderr is not None
        ready, _, _ = select.select([tail.stderr], [], [], 20)
        assert ready, "edgectl tail did not start"
        assert "tailing" in tail.stderr.readline()
        publish(broker.url, [reading(DEV_B, "pressure", 5.0, "hPa", now)]
                + [reading(DEV_A, "temperature", 20.0 + i / 4, "°C", now + timedelta(seconds=i)) for i in range(5)])
        out, err = tail.communicate(timeout=20)
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait(5)
    assert tail.returncode == 0, err
    got = [json.loads(line) for line in out.splitlines()]
    assert [(g["device_id"], g["sensor_type"], g["value"], g["unit"]) for g in got] == [
        (DEV_A, "temperature", 20.0 + i / 4, "°C") for i in range(5)]
    assert [moment(g["ts"]) for g in got] == [now.replace(microsecond=now.microsecond // 1000 * 1000)
                                              + timedelta(seconds=i) for i in range(5)]
    assert [g["seq"] for g in got] == [5, 6, 7, 8, 9]  # after the 3 earlier readings and DEV_B's one


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "admin.crt", folder / "admin.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=edge-admin", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


def test_admin_token_and_tls(tmp_path: Path, broker: Mosquitto, procs: list[Proc]) -> None:
    cert, key = _self_signed(tmp_path)
    extra = ["--admin-host", "0.0.0.0", "--admin-token", "s3cret", "--admin-tls-cert", str(cert),
             "--admin-tls-key", str(key)]
    _, edge = start(tmp_path, broker, procs, hub=False, extra=extra)
    addr = admin(edge)
    tls = {"EDGEHUB_ADMIN_CA": str(cert)}

    for env in (tls, {**tls, "EDGEHUB_ADMIN_TOKEN": "wrong"}):
        refused = edgectl(addr, "status", env=env)
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1 and addr in refused.stderr and "admin token" in refused.stderr
    assert edgectl(addr, "tail", env=tls).returncode == 1
    ok = ctl_json(addr, "status", env={**tls, "EDGEHUB_ADMIN_TOKEN": "s3cret"})
    assert ok["edge_id"] == "site-x"
    assert ctl_json(addr, "status", "--token", "s3cret", env=tls)["edge_id"] == "site-x"
    plaintext = edgectl(addr, "status", "--token", "s3cret")
    assert plaintext.returncode == 3 and addr in plaintext.stderr


def test_edge_refuses_an_exposed_admin_port_without_tls_and_token(tmp_path: Path) -> None:
    argv = [*EDGEHUB, "edge", "--edge-id", "x", "--token", "t", "--data-dir", str(tmp_path / "d"),
            "--admin-host", "0.0.0.0", "--admin-port", str(free_port()), "--admin-token", "s3cret"]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 1
    assert "not a loopback address" in done.stderr and "--admin-tls-cert" in done.stderr


def test_exit_codes_for_an_unreachable_edge_and_bad_usage(tmp_path: Path) -> None:
    addr = f"127.0.0.1:{free_port()}"
    never = tmp_path / "never.parquet"
    for args in (["status"], ["devices", "--json"], ["tail"], ["buffer", "export", "--out", str(never)]):
        done = edgectl(addr, *args)
        assert done.returncode == 3, (args, done.stderr)
        assert done.stderr == f"edgectl: cannot reach the edge at {addr}: connection refused\n"
    assert not list(tmp_path.iterdir()), "no partial export is left behind"
    assert edgectl(addr, "no-such-command").returncode == 2
    assert edgectl(addr, "status", "--edge", "no-port").returncode == 2
    assert edgectl(addr, "buffer", "purge", "--before", "someday", "--yes").returncode == 2
    assert edgectl(addr, "uplink", "sideways").returncode == 2
