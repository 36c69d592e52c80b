"""Subprocesses of a scenario (mosquitto, hub, edge), free ports, HTTP and Prometheus scraping.

Every process is started through ``Procs`` and stopped by its pid in ``Procs.stop_all`` (SIGTERM,
then SIGKILL after a grace period), which the scenarios call in a ``finally``. Output goes to log
files in the scenario's temp directory; their tails are printed when something fails.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
ADMIN_USER = "bench"
ADMIN_PASSWORD = "bench-password-123"
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
KEEP_TMP = False  # set by --keep: leave logs and DuckDB files in /tmp for inspection
# Set by --switch-interval-ms (an experiment, not the product's configuration): run hub and edge with
# this sys.setswitchinterval, injected through a sitecustomize module in the scenario's temp dir.
SWITCH_INTERVAL_S: float | None = None
# Set by --commit: run hub and edge from this source tree (a `git archive` of a commit) instead of
# the working tree, so that edits in progress cannot change or break a run.
SOURCE_DIR: Path | None = None
# Set by --product-env KEY=VALUE (experiments, e.g. MALLOC_ARENA_MAX=2): extra environment of hub and edge.
PRODUCT_ENV: dict[str, str] = {}


class BenchError(RuntimeError):
    """A benchmark could not be set up or measured (not a missed target)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mosquitto_path() -> str:
    for cand in ("/usr/sbin/mosquitto", shutil.which("mosquitto")):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise BenchError("mosquitto not found (apt-get install mosquitto)")


def edgehub_argv() -> list[str]:
    if SOURCE_DIR is not None:
        return [sys.executable, "-m", "edgehub.cli"]
    return [edgehub_path()]


def edgehub_path() -> str:
    exe = VENV_BIN / "edgehub"
    if exe.exists():
        return str(exe)
    found = shutil.which("edgehub")
    if not found:
        raise BenchError("the edgehub console script is not installed (make install)")
    return found


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any EDGEHUB_* settings of the caller, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEHUB_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, from /proc/<pid>/status."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its threads included)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (from /proc/stat; idle and iowait excluded)."""
    with open("/proc/stat") as fh:
        vals = [int(x) for x in fh.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return (sum(vals[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


@dataclass
class Procs:
    """A scenario's temp directory and processes."""

    label: str
    keep: bool = field(default_factory=lambda: KEEP_TMP)
    tmp: Path = field(init=False)
    procs: list[Proc] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"edgehub-bench-{self.label}-", dir="/tmp"))

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        log = self.tmp / f"{name}.log"
        fh = open(log, "ab")  # noqa: SIM115 - the child owns it; closed below once started
        try:
            popen = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env or clean_env(), cwd=self.tmp)
        finally:
            fh.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, sig: int = signal.SIGTERM) -> None:
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
            try:
                proc.popen.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.popen.wait(STOP_GRACE_S)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            try:
                self.stop(proc)
            except Exception as exc:  # keep stopping the others
                print(f"  warning: stopping {proc.name} (pid {proc.pid}): {exc}", file=sys.stderr)
        if self.keep:
            print(f"  kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def tails(self) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pid}) log tail ---\n{p.tail()}" for p in self.procs)

    # -- the three kinds of process ----------------------------------------------------------
    def mosquitto(self) -> tuple[Proc, int]:
        port = free_port()
        conf = self.tmp / "mosquitto.conf"
        lines = [
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            # The default (1000 per client) silently drops QoS-1 messages queued beyond it; a
            # load generator that outruns the subscriber would lose readings.
            "max_queued_messages 0",
            "persistence false",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n")
        proc = self.start("mosquitto", [mosquitto_path(), "-c", str(conf)])
        wait_port(port, proc)
        return proc, port

    def _product_env(self, **extra: str) -> dict[str, str]:
        env = clean_env(**PRODUCT_ENV, **extra)
        paths = [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []
        if SOURCE_DIR is not None:
            paths.insert(0, str(SOURCE_DIR))
        if SWITCH_INTERVAL_S is not None:
            site = self.tmp / "site"
            site.mkdir(exist_ok=True)
            (site / "sitecustomize.py").write_text(f"import sys\nsys.setswitchinterval({SWITCH_INTERVAL_S!r})\n")
            paths.insert(0, str(site))
        if paths:
            env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    def hub(self, data_dir: Path, http_port: int, grpc_port: int, name: str = "hub") -> Proc:
        argv = [*edgehub_argv(), "hub", "--data-dir", str(data_dir), "--host", "127.0.0.1",
                "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
        env = self._product_env(EDGEHUB_ADMIN_USER=ADMIN_USER, EDGEHUB_ADMIN_PASSWORD=ADMIN_PASSWORD)
        return self.start(name, argv, env)

    def edge(self, edge_id: str, grpc_port: int, token: str, mqtt_port: int, data_dir: Path,
             metrics_port: int) -> Proc:
        argv = [*edgehub_argv(), "edge", "--edge-id", edge_id, "--hub", f"127.0.0.1:{grpc_port}",
                "--token", token, "--mqtt-url", f"mqtt://127.0.0.1:{mqtt_port}", "--data-dir", str(data_dir),
                "--metrics-port", str(metrics_port), "--admin-port", str(free_port())]
        return self.start("edge", argv, self._product_env())


def wait_port(port: int, proc: Proc, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise BenchError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{proc.name} did not listen on {port} within {timeout:.0f} s")


# -- HTTP ------------------------------------------------------------------------------------
def http_json(port: int, method: str, path: str, body: dict[str, Any] | None = None,
              token: str | None = None, timeout: float = 10.0) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def wait_hub(http_port: int, proc: Proc, timeout: float = START_TIMEOUT_S) -> float:
    """Wait until the hub answers /metrics; return the monotonic time it first did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise BenchError(f"hub exited with {proc.popen.returncode}:\n{proc.tail()}")
        try:
            scrape(http_port, "/metrics", timeout=1.0)
            return time.monotonic()
        except (OSError, http.client.HTTPException, BenchError):
            time.sleep(0.02)
    raise BenchError(f"hub not answering on {http_port} within {timeout:.0f} s:\n{proc.tail()}")


def register_edge(http_port: int, edge_id: str) -> str:
    status, body = http_json(http_port, "POST", "/api/auth/token/",
                             {"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    if status != 200 or not body or "access" not in body:
        raise BenchError(f"POST /api/auth/token/ answered {status}: {body}")
    status, edge = http_json(http_port, "POST", "/api/edges/", {"edge_id": edge_id}, token=body["access"])
    if status not in (200, 201) or not edge or "token" not in edge:
        raise BenchError(f"POST /api/edges/ answered {status}: {edge}")
    return str(edge["token"])


# -- Prometheus --------------------------------------------------------------------------------
def scrape(port: int, path: str = "/metrics", timeout: float = 5.0) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        text = resp.read().decode()
        if resp.status != 200:
            raise BenchError(f"GET {path} on {port}: {resp.status}")
        return text
    finally:
        conn.close()


def metric(text: str, name: str, labels: str | None = None) -> float | None:
    """The value of sample ``name`` (``name{labels}`` when given) in Prometheus text, or None."""
    want = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(want):
            return float(line[len(want):].split()[0])
    return None


def histogram_mean(text: str, name: str) -> tuple[float, float]:
    """(count, mean) of a Prometheus histogram or summary ``name`` (from _count and _sum)."""
    count = metric(text, f"{name}_count") or 0.0
    total = metric(text, f"{name}_sum") or 0.0
    return count, (total / count if count else float("nan"))


class Poller:
    """Repeated GETs of a /metrics page over one keep-alive connection (reconnects when closed)."""

    def __init__(self, port: int, path: str = "/metrics") -> None:
        self.port = port
        self.path = path
        self._conn: http.client.HTTPConnection | None = None

    def get(self, timeout: float = 5.0) -> str:
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                self._conn.request("GET", self.path)
                resp = self._conn.getresponse()
                text = resp.read().decode()
                if resp.status != 200:
                    raise BenchError(f"GET {self.path}: {resp.status}")
                if resp.will_close:
                    self.close()
                return text
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def value(self, name: str, labels: str | None = None) -> float:
        v = metric(self.get(), name, labels)
        return 0.0 if v is None else v

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


SLOW_POLL_S = 0.25


def wait_metric(poller: Poller, name: str, target: float, timeout: float, interval: float = 0.02,
                watch: list[Proc] | None = None) -> tuple[float, float]:
    """Poll until ``name`` >= target; return (monotonic time of the first response showing it, value).

    A scrape costs the measured process about a millisecond of Python (it competes for the GIL with
    what is measured), so polls are ``interval`` apart only in the last second expected from the
    rate so far, and up to ``SLOW_POLL_S`` apart before that."""
    deadline = time.monotonic() + timeout
    value = 0.0
    first: tuple[float, float] | None = None
    while time.monotonic() < deadline:
        try:
            value = poller.value(name)
        except (OSError, http.client.HTTPException, BenchError):
            value = value  # the process may be starting; keep trying until the deadline
        now = time.monotonic()
        if value >= target:
            return now, value
        for proc in watch or ():
            if not proc.alive():
                raise BenchError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        pause = interval
        if first is None:
            first = (now, value)
        elif value > first[1] and now > first[0]:
            remaining_s = (target - value) / ((value - first[1]) / (now - first[0]))
            if remaining_s > 1.0:
                pause = max(interval, min(SLOW_POLL_S, remaining_s / 4))
        time.sleep(pause)
    raise BenchError(f"{name} reached {value:.0f} of {target:.0f} within {timeout:.0f} s")
