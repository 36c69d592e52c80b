"""``edgehub sim``: simulated devices speaking the device MQTT contract (ARCHITECTURE.md).

Each device has a stable UUID (derived from ``--seed`` and its index, so a dashboard built on a
simulated device keeps working across runs) and four sensors with plausible waveforms:
temperature (°C, slow daily-like swing), humidity (%, anti-correlated with temperature),
pressure (hPa, slow drift) and vibration (mm/s, machine cycles with bursts). ``--waveform counter``
instead sends 0, 1, 2, ... per device, which makes lost or duplicated readings easy to count.

Publishing is QoS 1 with a bounded number of unacknowledged messages: paho's own queue is
unbounded and was seen to stall after ~67,000 queued messages, so ``publish`` waits for a free
slot (released by PUBACK) instead of queueing without end.
"""

from __future__ import annotations

import logging
import math
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

logger = logging.getLogger(__name__)

MAX_UNACKED = 1000  # QoS-1 publishes awaiting PUBACK; bounds memory and keeps the broker's queue short
NAMESPACE = uuid.UUID("6f1c1f9e-3a4b-4bde-9c51-1f3b2f0d7e10")
SENSORS = (("temperature", "°C"), ("humidity", "%"), ("pressure", "hPa"), ("vibration", "mm/s"))


def device_ids(count: int, seed: str = "edgehub-sim") -> list[str]:
    return [str(uuid.uuid5(NAMESPACE, f"{seed}-{i}")) for i in range(count)]


@dataclass(frozen=True)
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    devices: int = 3
    rate: float = 1.0  # readings per second per device
    count: int | None = None  # total readings, all devices together
    duration: float | None = None  # seconds
    bulk: int = 1  # readings per message; >1 sends the bulk "readings" form
    waveform: str = "real"  # "real" or "counter"
    seed: str = "edgehub-sim"
    protocol: str = "3.1.1"
    qos: int = 1
    client_id: str | None = None
    username: str | None = None
    password: str | None = None
    progress: bool = True


class Waveform:
    """Plausible values for one device; ``value(sensor, t)`` is deterministic in t plus noise."""

    def __init__(self, index: int) -> None:
        self.rng = random.Random(index)
        self.phase = self.rng.uniform(0, 2 * math.pi)
        self.base_temp = 21.0 + self.rng.uniform(-2, 4)
        self.counter = 0

    def value(self, sensor: str, t: float) -> float:
        rng = self.rng
        day = math.sin(2 * math.pi * t / 600.0 + self.phase)  # a ten-minute "day" so dashboards move
        if sensor == "temperature":
            v = self.base_temp + 3.0 * day + rng.gauss(0, 0.05)
        elif sensor == "humidity":
            v = 48.0 - 8.0 * day + rng.gauss(0, 0.3)
        elif sensor == "pressure":
            v = 1013.0 + 4.0 * math.sin(2 * math.pi * t / 3600.0 + self.phase) + rng.gauss(0, 0.1)
        else:
            cycle = abs(math.sin(2 * math.pi * t / 7.0 + self.phase))
            burst = 6.0 if rng.random() < 0.01 else 0.0
            v = 1.2 + 2.5 * cycle + burst + abs(rng.gauss(0, 0.2))
        return round(v, 3)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Simulator:
    def __init__(self, cfg: SimConfig) -> None:
        if cfg.count is None and cfg.duration is None:
            raise ValueError("give --count or --duration so that the simulator stops")
        if cfg.waveform not in ("real", "counter"):
            raise ValueError(f"--waveform must be real or counter, got {cfg.waveform!r}")
        self.cfg = cfg
        self.ids = device_ids(cfg.devices, cfg.seed)
        self.waves = [Waveform(i) for i in range(cfg.devices)]
        self.published = 0  # readings handed to paho
        self.acked_messages = 0
        self.messages = 0
        self._slots = threading.BoundedSemaphore(MAX_UNACKED)
        self._connected = threading.Event()
        protocol = mqtt.MQTTv5 if cfg.protocol == "5" else mqtt.MQTTv311
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id or "", protocol=protocol)
        if cfg.username:
            self.client.username_pw_set(cfg.username, cfg.password)
        self.client.max_inflight_messages_set(MAX_UNACKED)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._on_publish
        self.client.on_connect = lambda *a: self._connected.set()

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: object,
                    properties: object) -> None:
        self.acked_messages += 1
        if self.cfg.qos:
            self._slots.release()

    def _reading(self, index: int, now: float) -> dict:
        sensor, unit = SENSORS[self.waves[index].counter % len(SENSORS)] if self.cfg.waveform == "real" \
            else SENSORS[0]
        wave = self.waves[index]
        value = float(wave.counter) if self.cfg.waveform == "counter" else wave.value(sensor, now)
        wave.counter += 1
        return {"sensor_type": sensor, "value": value, "unit": unit, "timestamp": _iso(now)}

    def _payload(self, index: int, now: float) -> bytes:
        device = self.ids[index]
        if self.cfg.bulk <= 1:
            return orjson.dumps({"device_id": device, **self._reading(index, now)})
        readings = [self._reading(index, now) for _ in range(self.cfg.bulk)]
        return orjson.dumps({"device_id": device, "readings": readings})

    def run(self) -> int:
        cfg = self.cfg
        self.client.connect(cfg.host, cfg.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise ConnectionError(f"no CONNACK from mqtt://{cfg.host}:{cfg.port} within 10 s")
        total_rate = cfg.rate * cfg.devices  # readings/s
        msg_interval = cfg.bulk / total_rate if total_rate > 0 else 0.0
        start = time.monotonic()
        deadline = start + cfg.duration if cfg.duration is not None else math.inf
        limit = cfg.count if cfg.count is not None else sys.maxsize
        last_report = start
        device = 0
        try:
            while self.published < limit and time.monotonic() < deadline:
                due = start + self.messages * msg_interval
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(min(delay, 0.05))
                    continue
                if cfg.qos and not self._slots.acquire(timeout=1.0):
                    continue
                payload = self._payload(device, time.time())
                info = self.client.publish(f"devices/{self.ids[device]}/telemetry", payload, qos=cfg.qos)
                if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
                    logger.warning("publish failed: %s", mqtt.error_string(info.rc))
                self.messages += 1
                self.published += cfg.bulk
                device = (device + 1) % cfg.devices
                now = time.monotonic()
                if cfg.progress and now - last_report >= 1.0:
                    self._report(now - start)
                    last_report = now
            self._drain(timeout=30.0)
        finally:
            self.client.disconnect()
            self.client.loop_stop()
        if cfg.progress:
            self._report(time.monotonic() - start, final=True)
        return self.published

    def _drain(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while self.acked_messages < self.messages and time.monotonic() < end:
            time.sleep(0.01)

    def _report(self, elapsed: float, final: bool = False) -> None:
        rate = self.published / elapsed if elapsed > 0 else 0.0
        word = "done" if final else "sim"
        print(f"{word}: {self.published} readings in {self.messages} messages, {self.acked_messages} acked, "
              f"{rate:,.0f} readings/s over {elapsed:.1f} s", file=sys.stderr, flush=True)
