"""The production broker config (deploy/mosquitto/) with a real mosquitto: per-device passwords and
an ACL that lets a device publish only to its own topic, while the edge user reads every device.

The config is used as shipped except for what must differ on a test machine: listener ports bound to
loopback and the paths of the data directory, the password file and the certificates (made with
deploy/certs/make-certs.sh). The ACL file is the shipped one, unchanged. The compose demo's bridge
(sim-broker) is run from its compose.yaml command line against this broker, as the gateway user.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support import REPO, Proc, free_port, mosquitto_binary, wait_for

pytestmark = pytest.mark.system

DEPLOY = REPO / "deploy"
DEVICE_A = "0b9d8f1e-6a43-4c1e-9d6b-5d7e8f9a0b1c"
DEVICE_B = "7c2e4a60-1f3d-4b8a-a5c9-2e6f7a8b9c0d"
PASSWORDS = {"edge": "edge-secret", DEVICE_A: "a-secret", DEVICE_B: "b-secret"}
NOT_AUTHORIZED = 135  # CONNACK 5 of MQTT 3.1.1 as paho reports it (the MQTT 5 reason code)


def topic(device: str) -> str:
    return f"devices/{device}/telemetry"


def adapt(conf: str, ports: dict[int, int], paths: dict[str, str]) -> str:
    """The shipped config with its listener ports and file paths replaced; every other line kept."""
    out = []
    for line in conf.splitlines():
        key, _, value = line.partition(" ")
        if key == "listener":
            line = f"listener {ports[int(value)]} 127.0.0.1"
        elif key in paths:
            line = f"{key} {paths[key]}"
        out.append(line)
    if os.geteuid() == 0:
        out.append("user root")  # else mosquitto drops to 'mosquitto' and cannot read the temp dir
    return "\n".join(out) + "\n"


class Broker(Proc):
    def __init__(self, workdir: Path) -> None:
        self.port, self.tls_port = free_port(), free_port()
        certs = workdir / "certs"
        make = ["bash", str(DEPLOY / "certs" / "make-certs.sh"), "-o", str(certs)]
        subprocess.run([*make, "ca"], check=True, capture_output=True)
        subprocess.run([*make, "broker", "localhost", "127.0.0.1"], check=True, capture_output=True)
        passwd = workdir / "edgehub.passwd"
        passwd_tool = shutil.which("mosquitto_passwd")
        assert passwd_tool, "mosquitto_passwd is missing (Debian package mosquitto)"
        for user, password in PASSWORDS.items():
            flags = ["-b", "-c"] if not passwd.exists() else ["-b"]
            subprocess.run([passwd_tool, *flags, str(passwd), user, password], check=True, capture_output=True)
        data = workdir / "data"
        data.mkdir()
        conf = adapt((DEPLOY / "mosquitto" / "mosquitto.conf").read_text(), {1883: self.port, 8883: self.tls_port}, {
            "persistence_location": f"{data}/",
            "password_file": str(passwd),
            "acl_file": str(DEPLOY / "mosquitto" / "edgehub.acl"),
            "cafile": str(certs / "ca.crt"),
            "certfile": str(certs / "broker.crt"),
            "keyfile": str(certs / "broker.key"),
        })
        self.ca = certs / "ca.crt"
        (workdir / "mosquitto.conf").write_text(conf)
        super().__init__("mosquitto", [mosquitto_binary(), "-c", str(workdir / "mosquitto.conf")],
                         workdir / "mosquitto.log")

    def start(self) -> Broker:
        super().start()
        wait_for(lambda: "running" in self.output() or not self.alive(), 10, what="mosquitto start")
        assert self.alive(), self.output()
        return self


@pytest.fixture
def site_broker(tmp_path: Path, procs: list[Proc]) -> Broker:
    broker = Broker(tmp_path).start()
    procs.append(broker)
    return broker


class Client:
    """A paho client that records what it receives and whether it was let in."""

    def __init__(self, broker: Broker, user: str | None, password: str | None, tls: bool = False,
                 port: int | None = None) -> None:
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: queue.Queue[int] = queue.Queue()
        self.acked: queue.Queue[int] = queue.Queue()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.monotonic_ns()}",
                        protocol=mqtt.MQTTv311)
        if user is not None:
            c.username_pw_set(user, password)
        if tls:
            c.tls_set(ca_certs=str(broker.ca), cert_reqs=ssl.CERT_REQUIRED)
        c.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(rc.value)
        c.on_message = lambda _c, _u, m: self.received.put((m.topic, bytes(m.payload)))
        c.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.put(mid)
        c.connect("localhost" if tls else "127.0.0.1", port or (broker.tls_port if tls else broker.port))
        c.loop_start()
        self.client = c

    def connected(self) -> int:
        return self.connack.get(timeout=10)

    def subscribe(self, filt: str) -> None:
        done: queue.Queue[list[int]] = queue.Queue()
        self.client.on_subscribe = lambda _c, _u, _mid, codes, _p: done.put([c.value for c in codes])
        self.client.subscribe(filt, qos=1)
        self.suback = done.get(timeout=10)

    def publish(self, to: str, payload: bytes) -> None:
        info = self.client.publish(to, payload, qos=1)
        assert self.acked.get(timeout=10) == info.mid  # the broker PUBACKs even what the ACL drops

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def clients(site_broker: Broker) -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        c.close()


def connect(broker: Broker, clients: list[Client], user: str | None, password: str | None = None,
            tls: bool = False) -> Client:
    c = Client(broker, user, password, tls)
    clients.append(c)
    return c


def drain(q: queue.Queue[tuple[str, bytes]], settle: float = 0.5) -> list[tuple[str, bytes]]:
    got = []
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            got.append(q.get(timeout=0.05))
    return got


def test_a_device_publishes_only_to_its_own_topic(site_broker: Broker, clients: list[Client]) -> None:
    edge = connect(site_broker, clients, "edge", PASSWORDS["edge"])
    assert edge.connected() == 0
    edge.subscribe("devices/+/telemetry")
    assert edge.suback == [1]

    a = connect(site_broker, clients, DEVICE_A, PASSWORDS[DEVICE_A])
    assert a.connected() == 0
    b = connect(site_broker, clients, DEVICE_B, PASSWORDS[DEVICE_B], tls=True)  # the TLS listener
    assert b.connected() == 0

    a.publish(topic(DEVICE_B), b"forged by A")  # not A's topic: dropped by the ACL
    a.publish(topic(DEVICE_A), b"from A")
    b.publish(topic(DEVICE_B), b"from B")
    b.publish("devices/other/status", b"not a telemetry topic")
    got = {(t, p) for t, p in [edge.received.get(timeout=10), edge.received.get(timeout=10)]}
    got |= set(drain(edge.received))  # messages are delivered in order: the forged one would be here
    assert got == {(topic(DEVICE_A), b"from A"), (topic(DEVICE_B), b"from B")}


def test_devices_read_nothing_and_strangers_are_refused(site_broker: Broker, clients: list[Client]) -> None:
    a = connect(site_broker, clients, DEVICE_A, PASSWORDS[DEVICE_A])
    assert a.connected() == 0
    a.subscribe("devices/+/telemetry")
    b = connect(site_broker, clients, DEVICE_B, PASSWORDS[DEVICE_B])
    assert b.connected() == 0
    b.publish(topic(DEVICE_B), b"from B")
    assert drain(a.received, settle=1.0) == []  # A cannot listen to B

    assert connect(site_broker, clients, DEVICE_A, "wrong password").connected() == NOT_AUTHORIZED
    assert connect(site_broker, clients, None).connected() == NOT_AUTHORIZED  # anonymous
    assert connect(site_broker, clients, "edge", "guess").connected() == NOT_AUTHORIZED


def compose_command(service: str) -> list[str]:
    """The ``command: [...]`` of one service in deploy/compose.yaml (a JSON list there)."""
    lines = (DEPLOY / "compose.yaml").read_text().splitlines()
    start = lines.index(f"  {service}:")
    for line in lines[start + 1:]:
        if line.startswith("    command: "):
            return list(json.loads(line.removeprefix("    command: ")))
        if not line.startswith("    ") and line.strip():
            break
    raise AssertionError(f"compose.yaml: no command for {service}")


def test_the_compose_demo_bridge_forwards_simulated_devices_as_the_gateway_user(
    tmp_path: Path, site_broker: Broker, clients: list[Client], procs: list[Proc]
) -> None:
    # The demo's sim-broker writes its config with printf and runs mosquitto on it; run that same
    # shell command here, pointed at the site broker on its test port.
    passwd = tmp_path / "edgehub.passwd"
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "gateway", "gw-secret"], check=True)
    site_broker.stop()
    procs.append(site_broker.start())  # re-reads the password file
    sh, flag, script = compose_command("sim-broker")
    assert (sh, flag) == ("sh", "-c")
    port = free_port()
    script = (script.replace("$$", "$").replace("/tmp/bridge.conf", str(tmp_path / "bridge.conf"))
              .replace("address mosquitto:1883", f"address 127.0.0.1:{site_broker.port}")
              .replace("listener 1883", f"listener {port} 127.0.0.1")
              .replace("exec mosquitto ", f"exec {mosquitto_binary()} "))
    if os.geteuid() == 0:
        script = script.replace("\\ntopic ", "\\nuser root\\ntopic ")
    bridge = Proc("sim-broker", [sh, flag, script], tmp_path / "sim-broker.log",
                  env={"GATEWAY_MQTT_PASSWORD": "gw-secret"}).start()
    procs.append(bridge)
    wait_for(lambda: "Connecting bridge" in bridge.output() or not bridge.alive(), 10, what="bridge start")
    assert bridge.alive(), bridge.output()

    edge = connect(site_broker, clients, "edge", PASSWORDS["edge"])
    assert edge.connected() == 0
    edge.subscribe("devices/+/telemetry")
    device = Client(site_broker, None, None, port=port)  # the simulator: anonymous, on the demo broker
    clients.append(device)
    assert device.connected() == 0
    wait_for(lambda: "gateway" in site_broker.output(), 10, what="the bridge to log in as gateway")
    device.publish(topic(DEVICE_A), b"simulated")
    assert edge.received.get(timeout=10) == (topic(DEVICE_A), b"simulated")
