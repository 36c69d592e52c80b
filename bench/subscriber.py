"""The raw ceiling: a bare paho-mqtt subscriber (MQTT v5, ReceiveMaximum 1000, QoS 1) that parses
each payload with orjson and counts messages — what any Python MQTT consumer on this machine can
take at most, with nothing stored. It runs in its own process; paho acks automatically.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
import uuid
from multiprocessing.connection import Connection
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TOPIC = "devices/+/telemetry"


def _child(host: str, port: int, expected: int, timeout: float, conn: Connection) -> None:
    state: dict[str, Any] = {"n": 0, "readings": 0, "first": 0.0, "last": 0.0}
    done = threading.Event()
    subscribed = threading.Event()

    def on_connect(client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        client.subscribe(TOPIC, qos=1)

    def on_subscribe(client: mqtt.Client, userdata: object, mid: int, reasons: object, props: object) -> None:
        subscribed.set()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        doc = orjson.loads(msg.payload)
        state["readings"] += len(doc["readings"]) if "readings" in doc else 1
        n = state["n"] = state["n"] + 1
        if n == 1:
            state["first"] = time.monotonic()
        if n >= expected:
            state["last"] = time.monotonic()
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv5)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = 1000
    client.connect(host, port, keepalive=60, clean_start=True, properties=props)
    client.loop_start()
    try:
        if not subscribed.wait(30):
            conn.send({"error": "not subscribed within 30 s"})
            return
        conn.send("ready")
        cpu0 = time.process_time()
        ok = done.wait(timeout)
        conn.send({"messages": state["n"], "readings": state["readings"], "t_first": state["first"],
                   "t_last": state["last"], "complete": ok, "cpu_s": time.process_time() - cpu0})
    finally:
        client.disconnect()
        client.loop_stop()


class BareSubscriber:
    def __init__(self, host: str, port: int, expected: int, timeout: float) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.timeout = timeout
        self.proc = ctx.Process(target=_child, args=(host, port, expected, timeout, child), daemon=True,
                                name="bench-subscriber")

    def start(self) -> None:
        self.proc.start()
        if not self._conn.poll(60):
            raise TimeoutError("subscriber not ready")
        msg = self._conn.recv()
        if msg != "ready":
            raise RuntimeError(f"subscriber failed: {msg}")

    def result(self) -> dict[str, Any]:
        if not self._conn.poll(self.timeout + 30):
            raise TimeoutError("subscriber did not report")
        res = self._conn.recv()
        self.proc.join(timeout=10)
        return dict(res)

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)
