"""MQTT ingest: broker → worker process → validation → group commit → PUBACK.

The MQTT client runs in its own process (``edge.mqtt_worker``): paho's loop and payload decoding
there, DuckDB here, each under its own GIL. The worker sends decoded messages over a socket pair;
one writer thread takes everything that has arrived, commits it to the buffer in one transaction,
and only then asks the worker to PUBACK exactly those messages (``manual_ack``). While the writer
commits, messages wait in the socket pair; when it falls behind, the worker's sends and then its
socket reads stop: backpressure to the broker, nothing dropped. The broker hands out at most
``receive_maximum`` unacked messages, which bounds what is in flight between the two processes.
The session is persistent (``clean_start=False`` with a long expiry), so the broker keeps what the
edge did not ack across an edge or worker restart and redelivers it; the redelivery check below
recognises what was already stored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from edge import metrics
from edge.buffer import Buffer, Committed
from edge.mqtt_worker import MessageTuple, payload_digest
from edge.payload import Readings, Rejected
from edgehub.logs import RateLimitedLog

logger = logging.getLogger(__name__)

# A group commit stops collecting at this many readings so one transaction stays short.
GROUP_MAX_READINGS = 50_000
# How many rejected payloads `edgectl rejections` can show.
REJECTION_RING = 200
# Commits whose messages are remembered for the redelivery check. Redeliveries follow a reconnect
# at once and no commit happens while disconnected, so the last few commits are what matters.
RECENT_COMMITS = 64
# Above this rate the writer waits until LINGER_S has passed since it last took messages, so one
# commit covers them all; below it every message is committed at once (latency first).
LINGER_ABOVE_MSGS_S = 2_000
LINGER_S = 0.010
RATE_WINDOW_S = 0.2
WORKER_RESTART_S = 1.0  # pause before starting a new MQTT worker after one died
WORKER_STOP_S = 5.0


@dataclass(frozen=True)
class IngestConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    topic_filter: str = "devices/+/telemetry"
    client_id: str = "edgehub-edge"
    protocol: str = "5"  # "5" or "3.1.1"
    receive_maximum: int = 1000  # unacked QoS-1 messages the broker may hand us at once (v5 only)
    keepalive: int = 30
    username: str | None = None
    password: str | None = None


@dataclass(slots=True)
class Message:
    mid: int
    qos: int
    dup: bool
    digest: int
    topic: str
    readings: Readings
    rejects: list[Rejected]
    payload_head: bytes


@dataclass(frozen=True, slots=True)
class Rejection:
    at: float
    topic: str
    reason: str
    detail: str
    payload: bytes


@dataclass
class IngestStats:
    messages: int = 0
    readings: int = 0
    redelivered_skipped: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    recent_rejections: deque[Rejection] = field(default_factory=lambda: deque(maxlen=REJECTION_RING))


__all__ = ["Ingest", "IngestConfig", "payload_digest"]


def _message(t: MessageTuple) -> Message:
    mid, qos, dup, digest, topic, keys, ts_us, values, rejects, head = t
    return Message(mid, qos, dup, digest, topic, Readings(keys, ts_us, values),
                   [Rejected(reason, detail) for reason, detail in rejects], head)


class Ingest:
    """The MQTT worker process and the writer thread that feeds on it. ``start()`` / ``stop()``;
    thread-safe stats."""

    def __init__(
        self,
        config: IngestConfig,
        buffer: Buffer,
        listeners: list[Callable[[Committed, Readings], None]] | None = None,
    ) -> None:
        self.config = config
        self.buffer = buffer
        # Called on the writer thread after each commit; they must return quickly.
        self.listeners = list(listeners or [])
        self.stats = IngestStats()
        self.connected = False
        # (packet id, digest) of the messages of the last commits, to recognise a redelivery: after
        # a restart (seeded from the buffer's last stored messages) or after a broker reconnect, when the
        # broker sends again, with dup set, messages whose PUBACK it never got.
        self._recent: deque[frozenset[tuple[int, int]]] = deque(
            [frozenset(buffer.recovered)], maxlen=RECENT_COMMITS)
        self._pending = 0  # messages received from the worker, not yet committed
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self._log = RateLimitedLog(logger)
        self._worker: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self._validate()

    def _validate(self) -> None:
        if self.config.protocol not in ("5", "3.1.1"):
            raise ValueError(f"mqtt protocol must be '5' or '3.1.1', got {self.config.protocol!r}")

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._writer = threading.Thread(target=self._write_loop, name="edge-writer", daemon=True)
        self._writer.start()
        cfg = self.config
        logger.info("mqtt: connecting to %s:%d as %s (MQTT %s), filter %s",
                    cfg.host, cfg.port, cfg.client_id, cfg.protocol, cfg.topic_filter)

    def stop(self) -> None:
        """Stop the worker (the session stays on the broker); the writer commits what it received
        and ends. What it commits now is acked through the broker's redelivery after the next start."""
        self.connected = False  # an expected disconnect: no warning
        self._stop.set()
        self._send(("stop",))
        worker = self._worker
        if worker is not None:
            try:
                worker.wait(WORKER_STOP_S)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        if self._writer is not None:
            self._writer.join(timeout=10)
        metrics.MQTT_CONNECTED.set(0)

    @property
    def queued(self) -> int:
        """Messages received from the broker and not yet committed."""
        return self._pending

    # -- the MQTT worker process -----------------------------------------------------------
    def _spawn(self) -> Connection | None:
        try:
            ours, theirs = socket.socketpair()
            with ours, theirs:
                self._worker = subprocess.Popen(
                    [sys.executable, "-m", "edge.mqtt_worker", str(theirs.fileno())], pass_fds=(theirs.fileno(),))
                conn = Connection(os.dup(ours.fileno()))
            conn.send(dataclasses.asdict(self.config))
        except OSError:
            logger.exception("mqtt: cannot start the worker process; retrying in %.0f s", WORKER_RESTART_S)
            return None
        logger.info("mqtt: worker process %d started", self._worker.pid)
        with self._send_lock:
            self._conn = conn
        return conn

    def _worker_gone(self, conn: Connection) -> None:
        with self._send_lock:
            self._conn = None
        conn.close()
        self._set_disconnected()
        worker = self._worker
        code = worker.wait() if worker is not None else None
        if not self._stop.is_set():
            logger.error("mqtt: worker process exited (code %s); starting another in %.0f s (the broker keeps "
                         "and redelivers what was not acked)", code, WORKER_RESTART_S)

    def _send(self, item: tuple[Any, ...]) -> None:
        """To the worker; dropped when there is none (the broker redelivers what was not acked)."""
        with self._send_lock:
            conn = self._conn
            if conn is not None:
                with contextlib.suppress(OSError):  # the worker is gone; the writer notices, starts another
                    conn.send(item)

    def _receive(self, conn: Connection, timeout: float, group: list[Message]) -> bool:
        """Append what the worker has sent to ``group``, waiting up to ``timeout`` for the first of
        it; handle its events. False when the worker is gone."""
        try:
            if not conn.poll(timeout):
                return True
            readings = sum(len(m.readings) for m in group)
            while True:
                item = conn.recv()
                if item[0] == "msgs":
                    for t in item[1]:
                        group.append(_message(t))
                        readings += len(t[6])
                    self._pending = len(group)
                else:
                    self._event(item)
                if readings >= GROUP_MAX_READINGS or not conn.poll(0):
                    return True
        except (EOFError, OSError):
            return False

    def _event(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "connected":
            self.connected = True
            metrics.MQTT_CONNECTED.set(1)
        elif kind == "subscribed":
            logger.info("mqtt: subscribed %s (%s)", self.config.topic_filter, ", ".join(item[1]))
        elif kind == "disconnected":
            self._set_disconnected(item[1])

    def _set_disconnected(self, reason: str = "worker stopped") -> None:
        if self.connected and not self._stop.is_set():
            logger.warning("mqtt: disconnected (%s); reconnecting", reason)
        self.connected = False
        metrics.MQTT_CONNECTED.set(0)

    # -- writer thread ---------------------------------------------------------------------
    def _write_loop(self) -> None:
        """Start the worker (and another when it dies), take what it sends, commit, ack."""
        conn: Connection | None = None
        rate = 0.0  # messages/s over the last RATE_WINDOW_S or more
        window_start, window_count = time.monotonic(), 0
        last_take = window_start
        while True:
            if conn is None:
                if self._stop.is_set():
                    break
                conn = self._spawn()
                if conn is None:
                    self._stop.wait(WORKER_RESTART_S)
                    continue
            group: list[Message] = []
            alive = self._receive(conn, 0.25, group)
            now = time.monotonic()
            if now - window_start >= RATE_WINDOW_S:
                rate = window_count / (now - window_start)
                window_start, window_count = now, 0
            if alive and group and rate > LINGER_ABOVE_MSGS_S and now - last_take < LINGER_S:
                # Busy: gather LINGER_S worth of messages into one commit. A commit costs the same
                # 1-2 ms of CPU for 1 message as for 100; committing each trickle separately spent
                # the core that ingest needs.
                time.sleep(LINGER_S - (now - last_take))
                alive = self._receive(conn, 0.0, group)
                now = time.monotonic()
            if group:
                window_count += len(group)
                last_take = now
                self._commit_with_retry(group)
                self._pending = 0
            if not alive:
                self._worker_gone(conn)
                conn = None
                if not self._stop.is_set():
                    self._stop.wait(WORKER_RESTART_S)
            self._housekeeping()
        self.buffer.housekeeping(force=True)

    def _housekeeping(self) -> None:
        try:
            self.buffer.housekeeping()
        except Exception:
            logger.exception("buffer housekeeping failed")

    def _commit_with_retry(self, group: list[Message]) -> None:
        readings = Readings()
        marks: list[tuple[int, int, int]] = []  # (first reading, packet id, digest) per stored message
        seen: set[tuple[int, int]] = set()
        recent = self._recent
        fresh = False
        skipped = 0
        for m in group:
            key = (m.mid, m.digest)
            if m.dup and m.qos and (key in seen or any(key in commit for commit in recent)):
                skipped += 1
                continue
            fresh = fresh or not m.dup
            if m.readings:
                if m.qos:
                    marks.append((len(readings), m.mid, m.digest))
                    seen.add(key)
                readings.extend(m.readings)
        delay = 0.05
        while True:
            started = time.perf_counter()
            try:
                committed = self.buffer.commit(readings, marks, fresh)
                break
            except Exception as exc:
                # Nothing is acked, so the broker keeps the messages; retrying is safe.
                self._log.warning("commit", "buffer commit of %d readings failed (%s); retrying in %.1f s",
                                  len(readings), exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
        recent.append(frozenset(seen))
        acks = [m.mid for m in group if m.qos]
        if acks:
            self._send(("ack", acks))
        self._count(group, len(readings), skipped)
        if committed.count:
            for listener in self.listeners:
                try:
                    listener(committed, readings)
                except Exception:
                    logger.exception("commit listener %r failed", listener)

    def _count(self, group: list[Message], stored: int, skipped: int) -> None:
        stats = self.stats
        stats.messages += len(group)
        stats.readings += stored
        metrics.MESSAGES.inc(len(group))
        metrics.INGESTED.inc(stored)
        if skipped:
            stats.redelivered_skipped += skipped
            metrics.REDELIVERED.inc(skipped)
            logger.info("mqtt: %d redelivered messages were already stored; acked without storing", skipped)
        for m in group:
            if not m.rejects:
                continue
            for rej in m.rejects:
                stats.rejected[rej.reason] += 1
                metrics.REJECTED.labels(rej.reason).inc()
                stats.recent_rejections.append(Rejection(time.time(), m.topic, rej.reason, rej.detail,
                                                         m.payload_head))
            self._log.warning("reject:" + m.rejects[0].reason, "rejected %d from %s: %s",
                              len(m.rejects), m.topic, m.rejects[0])
