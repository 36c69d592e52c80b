"""The load generator: pre-encoded QoS-1 PUBLISH packets written to a raw socket.

One paho publisher tops out near 12,000 QoS-1 messages/s on this machine, slower than what the
benchmark measures. Here the packets of a run are encoded ahead (single-reading runs completely
before the clock starts; bulk runs from a pool of distinct payloads while sending, at ~1 µs per
10 KB message), grouped in chunks of about 64 KiB, and a run is one ``sendall`` per chunk; a
reader thread counts the broker's PUBACKs and the sender keeps at most ``window`` messages
unacknowledged, so the broker is never asked to hold an unbounded burst from the publisher side.

It runs in its own process (``spawn``), so it does not share a GIL with the process that
measures; the parent drives it through a pipe: ``ready`` → ``go`` → result dict.

Paced mode (for latency) encodes each message when it is sent, stamping the reading's
``timestamp`` with the wall-clock publish time, and records the publish time of every message.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import orjson

from bench import mqttwire

SENSORS = (("temperature", "°C", 21.0, 3.0), ("humidity", "%", 48.0, 8.0),
           ("pressure", "hPa", 1013.0, 4.0), ("vibration", "mm/s", 2.0, 1.5))
NAMESPACE = uuid.UUID("0b7d5a52-6a43-4a8e-9d1c-5b0f1d2c3e4f")
CHUNK_BYTES = 64 * 1024
SINGLE_POOL = 50_000  # distinct single-reading payloads, cycled through
BULK_POOL = 1_000  # distinct bulk payloads (100,000 distinct readings at 100 per message)
CONNECT_TIMEOUT_S = 10.0
ACK_TIMEOUT_S = 600.0


def device_ids(count: int, seed: str = "bench") -> list[str]:
    return [str(uuid.uuid5(NAMESPACE, f"{seed}-{i}")) for i in range(count)]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Spec:
    host: str
    port: int
    messages: int  # messages to publish
    per_message: int = 1  # readings per message: 1 = single form, >1 = bulk "readings" form
    devices: int = 50
    window: int = 5_000  # unacked QoS-1 publishes at most
    rate: float | None = None  # messages/s: paced mode (payload built at send time); None = as fast as possible
    seed: str = "bench"
    client_id: str = field(default_factory=lambda: f"bench-pub-{uuid.uuid4().hex[:8]}")

    @property
    def readings(self) -> int:
        return self.messages * self.per_message


def _reading(rng: random.Random, sensor: int, ts: float) -> dict[str, Any]:
    name, unit, base, swing = SENSORS[sensor]
    return {"sensor_type": name, "value": round(base + rng.uniform(-swing, swing), 3), "unit": unit,
            "timestamp": iso(ts)}


def payload_pool(spec: Spec) -> list[tuple[bytes, bytes]]:
    """(length-prefixed topic, payload) pairs with distinct values and timestamps, cycled through."""
    rng = random.Random(spec.seed)
    devices = device_ids(spec.devices, spec.seed)
    topics = [mqttwire.utf8(f"devices/{d}/telemetry") for d in devices]
    size = min(spec.messages, SINGLE_POOL if spec.per_message == 1 else BULK_POOL)
    t0 = time.time() - 3600.0
    pool = []
    for i in range(size):
        dev = i % len(devices)
        if spec.per_message == 1:
            doc = {"device_id": devices[dev], **_reading(rng, i % len(SENSORS), t0 + i * 0.001)}
        else:
            base = t0 + i * spec.per_message * 0.001
            doc = {"device_id": devices[dev], "readings": [
                _reading(rng, j % len(SENSORS), base + j * 0.001) for j in range(spec.per_message)]}
        pool.append((topics[dev], orjson.dumps(doc)))
    return pool


def iter_chunks(spec: Spec, pool: list[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, int]]:
    """The run's PUBLISH packets joined into chunks of about CHUNK_BYTES, with messages per chunk."""
    parts: list[bytes] = []
    size = 0
    for i in range(spec.messages):
        topic, payload = pool[i % len(pool)]
        pkt = mqttwire.publish(topic, mqttwire.packet_id(i), payload)
        parts.append(pkt)
        size += len(pkt)
        if size >= CHUNK_BYTES:
            yield b"".join(parts), len(parts)
            parts, size = [], 0
    if parts:
        yield b"".join(parts), len(parts)


def prepare_chunks(spec: Spec) -> Iterable[tuple[bytes, int]]:
    """Single-reading runs are encoded completely before the clock starts (per-message Python work
    would slow the generator); bulk runs cost ~1 µs of encoding per 10 KB message, so they are
    encoded while sending and a run of millions of readings needs no gigabyte of memory."""
    pool = payload_pool(spec)
    if spec.per_message == 1:
        return list(iter_chunks(spec, pool))
    return iter_chunks(spec, pool)


class RawPublisher:
    """One MQTT 3.1.1 connection; ``acked`` counts PUBACKs (mosquitto acks QoS 1 in order)."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(mqttwire.connect(client_id))
        buf = bytearray()
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while len(buf) < 4 and time.monotonic() < deadline:
            data = self.sock.recv(4 - len(buf))
            if not data:
                raise ConnectionError("broker closed the connection before CONNACK")
            buf += data
        if len(buf) < 4 or buf[0] != mqttwire.CONNACK or buf[3] != 0:
            raise ConnectionError(f"bad CONNACK from the broker: {bytes(buf)!r}")
        self.sock.settimeout(None)
        self.acked = 0
        self.error: str | None = None
        self.last_ack_at = 0.0
        self._cond = threading.Condition()
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="puback-reader", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        buf = bytearray()
        try:
            while True:
                data = self.sock.recv(1 << 16)
                if not data:
                    if not self._closed:
                        self.error = "broker closed the connection"
                    break
                buf += data
                # Fast path: a run of 4-byte PUBACKs (0x40 0x02 id id).
                whole = len(buf) // 4 * 4
                n = whole // 4
                if n and buf[0:whole:4].count(mqttwire.PUBACK) == n and buf[1:whole:4].count(2) == n:
                    del buf[:whole]
                    got = n
                else:
                    got = sum(1 for kind, _ in mqttwire.split_packets(buf) if kind == mqttwire.PUBACK)
                if got:
                    with self._cond:
                        self.acked += got
                        self.last_ack_at = time.monotonic()
                        self._cond.notify_all()
        except OSError as exc:
            if not self._closed:
                self.error = f"socket error: {exc}"
        with self._cond:
            self._cond.notify_all()

    def wait_acked(self, at_least: int, timeout: float = ACK_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.acked < at_least:
                if self.error:
                    raise ConnectionError(self.error)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.acked} of {at_least} PUBACKs after {timeout:.0f} s")
                self._cond.wait(min(left, 1.0))

    def send_chunks(self, chunks: Iterable[tuple[bytes, int]], window: int) -> int:
        """Send every chunk, keeping at most ``window`` messages unacked; return the bytes sent."""
        sent = 0
        total = 0
        for chunk, n in chunks:
            if sent + n - self.acked > window:
                self.wait_acked(sent + n - window)
            self.sock.sendall(chunk)
            sent += n
            total += len(chunk)
        return total

    def close(self) -> None:
        self._closed = True
        try:
            self.sock.sendall(mqttwire.DISCONNECT)
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._reader.join(timeout=2)


def _run_burst(spec: Spec, pub: RawPublisher, chunks: Iterable[tuple[bytes, int]]) -> dict[str, Any]:
    cpu0 = time.process_time()
    t_go = time.monotonic()
    sent_bytes = pub.send_chunks(chunks, spec.window)
    t_sent = time.monotonic()
    pub.wait_acked(spec.messages)
    return {"t_go": t_go, "t_sent": t_sent, "t_acked": pub.last_ack_at, "cpu_s": time.process_time() - cpu0,
            "bytes": sent_bytes, "messages": spec.messages}


def _run_paced(spec: Spec, pub: RawPublisher) -> dict[str, Any]:
    """One single-reading message every 1/rate s, its timestamp the wall-clock time of sending."""
    assert spec.rate
    rng = random.Random(spec.seed)
    devices = device_ids(spec.devices, spec.seed)
    topics = [mqttwire.utf8(f"devices/{d}/telemetry") for d in devices]
    pub_mono: list[float] = []
    interval = 1.0 / spec.rate
    cpu0 = time.process_time()
    t_go = time.monotonic()
    for i in range(spec.messages):
        due = t_go + i * interval
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if i - pub.acked > spec.window:
            pub.wait_acked(i - spec.window)
        dev = i % len(devices)
        wall = time.time()
        mono = time.monotonic()
        doc = {"device_id": devices[dev], **_reading(rng, i % len(SENSORS), wall)}
        pub.sock.sendall(mqttwire.publish(topics[dev], mqttwire.packet_id(i), orjson.dumps(doc)))
        pub_mono.append(mono)
    t_sent = time.monotonic()
    pub.wait_acked(spec.messages)
    return {"t_go": t_go, "t_sent": t_sent, "t_acked": pub.last_ack_at, "messages": spec.messages,
            "cpu_s": time.process_time() - cpu0, "pub_mono": pub_mono}


def _child(spec: Spec, conn: Connection) -> None:
    try:
        chunks = [] if spec.rate else prepare_chunks(spec)
        pub = RawPublisher(spec.host, spec.port, spec.client_id)
        conn.send("ready")
        if conn.recv() != "go":
            pub.close()
            return
        result = _run_paced(spec, pub) if spec.rate else _run_burst(spec, pub, chunks)
        pub.close()
        conn.send(result)
    except BaseException as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})


class Publisher:
    """The parent's handle on a load-generator process: ``prepare()``, ``go()``, ``result()``."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(spec, child), daemon=True, name="bench-loadgen")

    def prepare(self, timeout: float = 300.0) -> None:
        """Start the process and wait until every packet is encoded and the connection is up."""
        self.proc.start()
        if not self._conn.poll(timeout):
            raise TimeoutError("load generator not ready")
        msg = self._conn.recv()
        if msg != "ready":
            raise RuntimeError(f"load generator failed: {msg}")

    def go(self) -> float:
        t = time.monotonic()
        self._conn.send("go")
        return t

    def done(self) -> bool:
        return self._conn.poll()

    def result(self, timeout: float = ACK_TIMEOUT_S) -> dict[str, Any]:
        if not self._conn.poll(timeout):
            raise TimeoutError("load generator did not finish")
        res = self._conn.recv()
        self.proc.join(timeout=10)
        if "error" in res:
            raise RuntimeError(f"load generator failed: {res['error']}")
        return res

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)
