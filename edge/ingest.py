"""MQTT ingest: broker → validation → bounded queue → group commit → PUBACK.

paho's network thread decodes and validates each message (``edge.payload``) and puts it on a
bounded queue; when the queue is full ``put`` blocks, paho stops reading its socket and the broker
holds further messages: backpressure, nothing dropped. One writer thread takes everything queued,
commits it to the buffer in one transaction, and only then sends the PUBACKs of exactly those
messages (``manual_ack``). The session is persistent (``clean_start=False`` with a long expiry),
so the broker keeps what the edge did not ack across an edge restart and redelivers it.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge import metrics
from edge.buffer import Buffer, Committed
from edge.mqttclient import Client
from edge.payload import Readings, Rejected, parse
from edgehub.logs import RateLimitedLog

logger = logging.getLogger(__name__)

# Messages waiting for the writer. Large enough to cover one commit's duration at full rate,
# small enough that a stalled disk turns into broker-side backpressure within a second.
QUEUE_MAX_MESSAGES = 20_000
# ... and readings: queued readings are Python objects (about 150 bytes each). Bounded by messages
# alone, 20,000 bulk messages were 2,000,000 readings, and once paho's thread could outrun the
# writer (the read-ahead socket) the edge held 258 MiB with a 1,000,000-reading backlog instead of
# about 150. One full group commit waiting while the writer commits the previous one keeps it busy;
# 100,000 (and groups of 50,000) cost 14-35 MiB more RSS and no throughput (docs/DESIGN.md).
QUEUE_MAX_READINGS = 25_000
# A group commit stops collecting at this many readings so one transaction stays short.
GROUP_MAX_READINGS = 25_000
# How many rejected payloads `edgectl rejections` can show.
REJECTION_RING = 200
# Commits whose messages are remembered for the redelivery check. Redeliveries follow a reconnect
# at once and no commit happens while disconnected, so the last few commits are what matters.
RECENT_COMMITS = 64
SESSION_EXPIRY_S = 0xFFFFFFFF  # "never expires": the broker keeps our queue through any outage


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


# zlib releases the GIL for inputs over 5 KiB. On paho's thread that is a hand-off to the writer
# (and a wait of up to 5 ms to get it back) for every bulk message: py-spy showed paho's thread a
# quarter of its time in here during bulk ingest. Pieces this small are hashed without letting go.
_DIGEST_PIECE = 5 * 1024


def payload_digest(payload: bytes) -> int:
    """A digest stable across processes (unlike ``hash``), as a signed 64-bit integer: CRC-32 and
    Adler-32 side by side. It only tells a redelivery (same packet id, dup set) from a different
    message that reuses the id, so speed matters more than cryptographic strength. Computed piece by
    piece, which gives the same value as one call (digests stored by older versions still match)."""
    if len(payload) <= _DIGEST_PIECE:
        crc, adler = zlib.crc32(payload), zlib.adler32(payload)
    else:
        view = memoryview(payload)
        crc, adler = 0, 1
        for start in range(0, len(view), _DIGEST_PIECE):
            piece = view[start:start + _DIGEST_PIECE]
            crc, adler = zlib.crc32(piece, crc), zlib.adler32(piece, adler)
    value = (crc << 32) | adler
    return value - (1 << 64) if value >= 1 << 63 else value


class Handoff:
    """Messages from paho's thread to the writer: a bounded FIFO that is cheaper per message than
    ``queue.Queue`` (which takes a lock and notifies a condition on every put and get; that was 7 %
    of paho's thread at 11,000 messages/s). ``put`` blocks while it holds ``max_messages`` messages
    or ``max_readings`` readings: backpressure, paho stops reading and the broker holds the rest.
    One thread puts and one takes; each of the two reading counters is written by one of them only."""

    def __init__(self, max_messages: int, max_readings: int) -> None:
        self._items: deque[Message] = deque()
        self._max_messages = max_messages
        self._max_readings = max_readings
        self._put_readings = 0  # written by the putting thread only
        self._taken_readings = 0  # written by the taking thread only
        self._ready = threading.Event()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def readings(self) -> int:
        return self._put_readings - self._taken_readings

    def put(self, message: Message) -> None:
        while self._items and (len(self._items) >= self._max_messages
                               or self._put_readings - self._taken_readings >= self._max_readings):
            time.sleep(0.005)  # the writer is behind (or the disk stalls): paho stops reading
        self._put_readings += len(message.readings)
        self._items.append(message)
        if not self._ready.is_set():
            self._ready.set()

    def take(self, timeout: float, max_readings: int) -> list[Message]:
        """What is queued (stopping once ``max_readings`` are taken), waiting up to ``timeout`` for
        the first message."""
        items = self._items
        if not items:
            self._ready.clear()
            if not items:  # a put between the check and the clear has set it again
                self._ready.wait(timeout)
        group: list[Message] = []
        count = 0
        while items and count < max_readings:
            message = items.popleft()
            group.append(message)
            count += len(message.readings)
        self._taken_readings += count
        return group


def _device_level(topic_filter: str) -> int | None:
    levels = topic_filter.split("/")
    return levels.index("+") if "+" in levels else None


class Ingest:
    """The MQTT client and the writer thread. ``start()`` / ``stop()``; thread-safe stats."""

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
        self._queue = Handoff(QUEUE_MAX_MESSAGES, QUEUE_MAX_READINGS)
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self._device_level = _device_level(config.topic_filter)
        self._log = RateLimitedLog(logger)
        self._client = self._make_client()

    def _make_client(self) -> Client:
        cfg = self.config
        if cfg.protocol == "5":
            client = Client(
                CallbackAPIVersion.VERSION2, client_id=cfg.client_id, protocol=mqtt.MQTTv5, manual_ack=True
            )
        elif cfg.protocol == "3.1.1":
            client = Client(
                CallbackAPIVersion.VERSION2, client_id=cfg.client_id, protocol=mqtt.MQTTv311,
                clean_session=False, manual_ack=True,
            )
        else:
            raise ValueError(f"mqtt protocol must be '5' or '3.1.1', got {cfg.protocol!r}")
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._writer = threading.Thread(target=self._write_loop, name="edge-writer", daemon=True)
        self._writer.start()
        cfg = self.config
        if cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            props.ReceiveMaximum = cfg.receive_maximum
            self._client.connect_async(cfg.host, cfg.port, cfg.keepalive, clean_start=False, properties=props)
        else:
            self._client.connect_async(cfg.host, cfg.port, cfg.keepalive)
        self._client.loop_start()
        logger.info("mqtt: connecting to %s:%d as %s (MQTT %s), filter %s",
                    cfg.host, cfg.port, cfg.client_id, cfg.protocol, cfg.topic_filter)

    def stop(self) -> None:
        """Disconnect (the session stays on the broker), then let the writer finish the queue."""
        self.connected = False  # an expected disconnect: no warning
        self._client.disconnect()
        self._client.loop_stop()
        self._stop.set()
        if self._writer is not None:
            self._writer.join(timeout=10)

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- paho network thread ---------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                    properties: object) -> None:
        if getattr(reason, "is_failure", False):
            logger.error("mqtt: broker refused the connection: %s", reason)
            return
        self.connected = True
        metrics.MQTT_CONNECTED.set(1)
        session = getattr(flags, "session_present", False)
        logger.info("mqtt: connected (session present: %s); subscribing %s at QoS 1",
                    session, self.config.topic_filter)
        client.subscribe(self.config.topic_filter, qos=1)

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                       properties: object) -> None:
        if self.connected:
            logger.warning("mqtt: disconnected (%s); paho reconnects", reason)
        self.connected = False
        metrics.MQTT_CONNECTED.set(0)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            payload = bytes(msg.payload)
            topic = msg.topic
            device = None
            if self._device_level is not None:
                levels = topic.split("/")
                if len(levels) > self._device_level:
                    device = levels[self._device_level]
            readings, rejects = parse(payload, device, time.time_ns() // 1000)
            digest = payload_digest(payload) if msg.qos else 0
            message = Message(msg.mid, msg.qos, bool(msg.dup), digest, topic, readings, rejects,
                              payload[:256] if rejects else b"")
        except Exception:  # never let one message kill paho's thread
            logger.exception("mqtt: unexpected error decoding a message on %s", msg.topic)
            message = Message(msg.mid, msg.qos, bool(msg.dup), 0, msg.topic, Readings(),
                              [Rejected("not_json", "decoder error")], b"")
        self._queue.put(message)  # blocks when full: backpressure to the broker

    # -- writer thread ---------------------------------------------------------------------
    def _write_loop(self) -> None:
        buffer = self.buffer
        while True:
            group = self._queue.take(0.25, GROUP_MAX_READINGS)
            if not group:
                if self._stop.is_set():
                    break
                self._housekeeping()
                continue
            self._commit_with_retry(group)
            self._housekeeping()
        buffer.housekeeping(force=True)

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
        mids = []
        for m in group:
            if m.qos == 1:
                mids.append(m.mid)
            elif m.qos == 2:  # not delivered on a QoS-1 subscription; acked the ordinary way if it were
                self._client.ack(m.mid, m.qos)
        self._client.ack_all(mids)
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
