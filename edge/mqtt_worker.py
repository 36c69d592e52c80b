"""The MQTT side of ingest, in a process of its own: paho's network loop, payload decoding and the
PUBACKs, under a GIL that nothing else in the edge wants.

Why a process: in one interpreter, paho's per-message Python (packet reading, MQTT 5 properties,
``MQTTMessage``) shared the GIL with the DuckDB writer and the uplink, and single-reading ingest
reached 54–66 % of a bare paho subscriber; here it has a core to itself (docs/DESIGN.md,
"Ingest in two processes").

The parent (``edge.ingest.Ingest``) starts ``python -m edge.mqtt_worker FD`` with one end of a
socket pair and sends the ``IngestConfig``'s fields first (never on the command line: it may hold the broker
password). Then, over that pair:

- worker → parent: ``("msgs", [message tuple, ...])`` in arrival order, batched by whatever arrived
  while the previous batch was being sent; ``("connected", session_present)``,
  ``("subscribed", granted)`` and ``("disconnected", reason)`` events.
- parent → worker: ``("ack", [packet id, ...])`` once those messages are committed to DuckDB, and
  ``("stop",)``.

Nothing is acked here on its own: a message is PUBACKed only when the parent says it is stored, so
the broker keeps everything the worker had when it dies (SIGKILL included) and redelivers it to the
next worker, which takes the same persistent session. The worker dies with its parent (Linux
``PR_SET_PDEATHSIG``, and end-of-file on the pair otherwise).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
import zlib
from collections import deque
from multiprocessing.connection import Connection
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.payload import Rejected, parse
from edgehub.logs import configure

logger = logging.getLogger("edge.ingest")

# The worker sends at most one batch per SEND_LINGER_S: at high rates what arrives meanwhile goes in
# the next batch (fewer wake-ups on both sides); a message after a quiet spell goes at once.
SEND_LINGER_S = 0.001
# The worker wakes for every message. At full priority, on a busy 2-core host, those wake-ups kept
# preempting the edge's writer and the hub in the middle of their commits: the latency benchmark's p99
# went from ~50 to ~210 ms. At nice 5 it was 70-108 ms; at nice 10 the worker itself starved (~290 ms).
WORKER_NICE = 5
SESSION_EXPIRY_S = 0xFFFFFFFF  # "never expires": the broker keeps our queue through any outage
PR_SET_PDEATHSIG = 1

# One decoded message: (packet id, qos, dup, digest, topic, series keys, timestamps, values,
# [(reason, detail), ...] of its rejections, the payload's first 256 bytes when something was rejected).
MessageTuple = tuple[int, int, bool, int, str, list[Any], list[int], list[float], list[tuple[str, str]], bytes]


def payload_digest(payload: bytes) -> int:
    """A digest stable across processes (unlike ``hash``), as a signed 64-bit integer: CRC-32 and
    Adler-32 side by side. It only tells a redelivery (same packet id, dup set) from a different
    message that reuses the id, so speed matters more than cryptographic strength."""
    value = (zlib.crc32(payload) << 32) | zlib.adler32(payload)
    return value - (1 << 64) if value >= 1 << 63 else value


def device_level(topic_filter: str) -> int | None:
    levels = topic_filter.split("/")
    return levels.index("+") if "+" in levels else None


def decode(payload: bytes, topic: str, level: int | None, mid: int, qos: int, dup: bool) -> MessageTuple:
    """A received message as the parent's writer needs it; never raises."""
    try:
        device = None
        if level is not None:
            levels = topic.split("/")
            if len(levels) > level:
                device = levels[level]
        readings, rejects = parse(payload, device, time.time_ns() // 1000)
        digest = payload_digest(payload) if qos else 0
        return (mid, qos, dup, digest, topic, readings.keys, readings.ts_us, readings.values,
                [(r.reason, r.detail) for r in rejects], payload[:256] if rejects else b"")
    except Exception:  # never let one message kill paho's thread
        logger.exception("mqtt: unexpected error decoding a message on %s", topic)
        rej = Rejected("not_json", "decoder error")
        return (mid, qos, dup, 0, topic, [], [], [], [(rej.reason, rej.detail)], b"")


class Worker:
    def __init__(self, cfg: Any, conn: Connection) -> None:
        self.cfg = cfg
        self.conn = conn
        self._level = device_level(cfg.topic_filter)
        self._inbox: deque[MessageTuple] = deque()
        self._woken = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._send_lock = threading.Lock()
        self._last_send = 0.0
        self.client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        cfg = self.cfg
        if cfg.protocol == "5":
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id, protocol=mqtt.MQTTv5,
                                 manual_ack=True)
        else:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id, protocol=mqtt.MQTTv311,
                                 clean_session=False, manual_ack=True)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _send(self, item: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.conn.send(item)

    # -- paho's network thread --------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                    properties: object) -> None:
        if getattr(reason, "is_failure", False):
            logger.error("mqtt: broker refused the connection: %s", reason)
            return
        session = bool(getattr(flags, "session_present", False))
        logger.info("mqtt: connected (session present: %s); subscribing %s at QoS 1", session, self.cfg.topic_filter)
        self._send(("connected", session))
        client.subscribe(self.cfg.topic_filter, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reasons: Any, properties: object) -> None:
        self._send(("subscribed", [str(r) for r in reasons]))

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                       properties: object) -> None:
        self._send(("disconnected", str(reason)))

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        item = decode(bytes(msg.payload), msg.topic, self._level, msg.mid, msg.qos, bool(msg.dup))
        with self._send_lock:  # keeps arrival order between direct sends and the main thread's batches
            if not self._inbox and time.monotonic() - self._last_send >= SEND_LINGER_S:
                self.conn.send(("msgs", [item]))  # quiet: straight to the edge, no hop through main
                self._last_send = time.monotonic()
                return
            self._inbox.append(item)
            if not self._woken:
                self._woken = True
                self._wake_w.send(b"x")

    # -- the worker's main thread --------------------------------------------------------------
    def run(self) -> None:
        cfg = self.cfg
        if cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            props.ReceiveMaximum = cfg.receive_maximum
            self.client.connect_async(cfg.host, cfg.port, cfg.keepalive, clean_start=False, properties=props)
        else:
            self.client.connect_async(cfg.host, cfg.port, cfg.keepalive)
        self.client.loop_start()
        try:
            self._serve()
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def _serve(self) -> None:
        conn_fd = self.conn.fileno()
        wake_fd = self._wake_r.fileno()
        inbox = self._inbox
        while True:
            readable, _, _ = select.select([conn_fd, wake_fd], [], [], 1.0)
            if wake_fd in readable:
                with contextlib.suppress(BlockingIOError):
                    self._wake_r.recv(4096)
                wait = self._last_send + SEND_LINGER_S - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                with self._send_lock:
                    self._woken = False
                    batch = list(inbox)
                    inbox.clear()
                    if batch:
                        self.conn.send(("msgs", batch))
                        self._last_send = time.monotonic()
            if conn_fd in readable:
                try:
                    item = self.conn.recv()
                except EOFError:
                    logger.info("mqtt worker: the edge process is gone; exiting")
                    return
                if item[0] == "ack":
                    ack = self.client.ack
                    for mid in item[1]:
                        ack(mid, 1)
                elif item[0] == "stop":
                    return


def _die_with_parent() -> None:
    with contextlib.suppress(AttributeError, OSError):  # not Linux: end-of-file on the pair still ends us
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    _die_with_parent()
    os.nice(WORKER_NICE)
    configure()
    conn = Connection(int(args[0]))
    cfg = SimpleNamespace(**conn.recv())  # IngestConfig's fields (edge.ingest imports DuckDB; we need not)
    if os.getppid() == 1:  # the parent died before PR_SET_PDEATHSIG took
        return 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us with ("stop",)
    Worker(cfg, conn).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
