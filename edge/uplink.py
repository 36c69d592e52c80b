"""The uplink: one gRPC bidirectional stream to the hub (``HubLink.Connect``).

States: CONNECTING → SYNCING (hello/welcome, tracked snapshot) → STREAMING (caught up: small
batches as readings are committed) or DRAINING (backlog: large batches plus the live lane) →
back to CONNECTING on any error, after a jittered backoff. PAUSED holds sending while the
stream stays up (planned link maintenance); CLOSED is final.

Sending: batches go out in sequence order with up to ``window`` in flight. The hub acks
cumulatively after its commit; an ack frees credit and moves the buffer's ack watermark. On
reconnect the edge resumes after the watermark in the hub's Welcome, never after what it sent,
so a batch lost with the link is sent again and the hub drops any part it already stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np

from edge import metrics
from edge.buffer import Buffer, Committed
from edge.errors import AuthError, ConfigError, UplinkError
from edge.payload import Readings
from edge.tracked import TrackedCache
from edgehub import __version__, columns
from edgehub.logs import RateLimitedLog
from protos import link_pb2, link_pb2_grpc

logger = logging.getLogger(__name__)

# A batch this small goes out as soon as it is committed (live); a backlog goes in big batches.
LIVE_BATCH = 2_000
CATCHUP_BATCH = 20_000
WINDOW = 6  # batches in flight: enough to hide one hub commit plus the round trip
HEARTBEAT_S = 5.0
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 1.0  # dashboards must be live again within about a second of the hub returning
AUTH_BACKOFF_S = 5.0  # a refused token will not fix itself quickly; do not hammer the hub
LIVE_QUEUE_MAX = 64  # live-lane frames waiting to be sent; beyond this they are dropped (best effort)
READY_MAX = 64  # commits encoded in memory for the sender; beyond this it reads from DuckDB
# Commits up to this size are encoded on the writer thread for the low-latency path; larger ones
# are read back from DuckDB in one vectorised query instead of costing the writer per reading.
MEMORY_BATCH_MAX = 256
GRPC_KEEPALIVE_MS = 10_000


class LinkState(enum.Enum):
    CONNECTING = "connecting"
    SYNCING = "syncing"
    STREAMING = "streaming"
    DRAINING = "draining"
    PAUSED = "paused"
    CLOSED = "closed"


@dataclass(frozen=True)
class UplinkConfig:
    hub: str
    edge_id: str
    token: str
    hub_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_server_name: str | None = None
    window: int = WINDOW


@dataclass(slots=True)
class _InFlight:
    last_seq: int
    count: int
    sent_at: float


class Backoff:
    """Exponential backoff with jitter, reset after a session that got as far as streaming."""

    def __init__(self, first: float = BACKOFF_FIRST_S, cap: float = BACKOFF_MAX_S) -> None:
        self.first, self.cap, self.attempt = first, cap, 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.first * (2**self.attempt))
        self.attempt += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0


class Uplink:
    def __init__(self, config: UplinkConfig, buffer: Buffer, tracked: TrackedCache) -> None:
        self.config = config
        self.buffer = buffer
        self.tracked = tracked
        self.state = LinkState.CONNECTING
        self.state_since = time.time()
        self.last_error: str | None = None
        self.paused = False
        self.sent_seq = 0
        self.acked_total = 0
        self.live_dropped = 0
        self.max_message_bytes = 4 * 1024 * 1024
        self._loop: asyncio.AbstractEventLoop | None = None
        self._new_data: asyncio.Event | None = None
        self._credit: asyncio.Event | None = None
        self._resume: asyncio.Event | None = None
        self._live: asyncio.Queue[link_pb2.SampleBatch] | None = None
        self._live_ready: asyncio.Event | None = None
        self._inflight: deque[_InFlight] = deque()
        # Batches the writer encoded from memory while the uplink was caught up (newest last).
        self._ready: deque[link_pb2.SampleBatch] = deque(maxlen=READY_MAX)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uplink-read")
        self._log = RateLimitedLog(logger, interval=10.0)  # one line per 10 s while the hub is away
        self._set_state(LinkState.CONNECTING)

    # -- called from other threads ---------------------------------------------------------
    def notify(self, committed: Committed, readings: Readings) -> None:
        """The writer committed new readings (writer thread)."""
        loop = self._loop
        if loop is None:
            return
        if self.state is LinkState.DRAINING and self.tracked.series:
            frame = self._live_frame(committed, readings)
            if frame is not None:
                loop.call_soon_threadsafe(self._offer_live, frame)
        elif self.state is LinkState.STREAMING and len(readings) <= MEMORY_BATCH_MAX:
            # Caught up: encode the commit here so the sender skips reading it back from DuckDB.
            frame = self._encode(committed, readings, range(len(readings)))
            loop.call_soon_threadsafe(self._ready.append, frame)
        loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self._new_data is not None:
            self._new_data.set()

    def _live_frame(self, committed: Committed, readings: Readings) -> link_pb2.SampleBatch | None:
        pairs = self.tracked.series
        picked = [i for i, k in enumerate(readings.keys) if (k[0], k[1]) in pairs]
        return self._encode(committed, readings, picked) if picked else None

    @staticmethod
    def _encode(committed: Committed, readings: Readings, picked: Sequence[int]) -> link_pb2.SampleBatch:
        keys = [readings.keys[i] for i in picked]
        uniq = {k: n for n, k in enumerate(dict.fromkeys(keys))}
        return columns.encode(
            np.array([uniq[k] for k in keys], dtype=np.int64),
            committed.first_seq + np.asarray(picked, dtype=np.int64),
            np.array([readings.ts_us[i] for i in picked], dtype=np.int64),
            np.array([readings.values[i] for i in picked], dtype=np.float64),
            list(uniq),
            key_base=0,
        )

    def _offer_live(self, frame: link_pb2.SampleBatch) -> None:
        if self._live is None:
            return
        try:
            self._live.put_nowait(frame)
            if self._live_ready is not None:
                self._live_ready.set()
        except asyncio.QueueFull:
            self.live_dropped += frame.count
            logger.debug("live lane queue full; dropped %d samples", frame.count)

    # -- control ---------------------------------------------------------------------------
    def pause(self) -> None:
        self.paused = True
        if self._resume is not None:
            self._resume.clear()
        if self.state in (LinkState.STREAMING, LinkState.DRAINING):
            self._set_state(LinkState.PAUSED)
        logger.info("uplink: paused by admin; ingest continues into the buffer")

    def resume(self) -> None:
        self.paused = False
        if self._resume is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._resume.set)
        logger.info("uplink: resumed")

    def _set_state(self, state: LinkState) -> None:
        if state is not self.state:
            self.state = state
            self.state_since = time.time()
        for s in LinkState:
            metrics.UPLINK_STATE.labels(s.value).set(1 if s is state else 0)

    # -- main loop -------------------------------------------------------------------------
    async def run(self) -> None:
        """Keep a session to the hub up until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._new_data = asyncio.Event()
        self._credit = asyncio.Event()
        self._resume = asyncio.Event()
        if not self.paused:
            self._resume.set()
        self._live = asyncio.Queue(LIVE_QUEUE_MAX)
        self._live_ready = asyncio.Event()
        backoff = Backoff()
        try:
            while True:
                self._set_state(LinkState.CONNECTING)
                try:
                    await self._session(backoff)
                    delay = backoff.next_delay()
                except AuthError as exc:
                    self.last_error = str(exc)
                    logger.error("uplink: hub refused this edge: %s (retrying in %.0f s)", exc, AUTH_BACKOFF_S)
                    delay = AUTH_BACKOFF_S
                except UplinkError as exc:
                    self.last_error = str(exc)
                    delay = backoff.next_delay()
                    self._log.warning("reconnect", "uplink: %s; reconnecting in %.2f s", exc, delay)
                except ConfigError:
                    raise  # bad TLS settings: fail at start-up, do not retry
                except Exception as exc:  # never let a surprise in the link stop ingest: log and reconnect
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    delay = backoff.next_delay()
                    logger.exception("uplink: unexpected error; reconnecting in %.2f s", delay)
                await asyncio.sleep(delay)
        finally:
            self._set_state(LinkState.CLOSED)
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _channel(self) -> grpc.aio.Channel:
        cfg = self.config
        options: list[tuple[str, int | str]] = [
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.keepalive_time_ms", GRPC_KEEPALIVE_MS),
            ("grpc.keepalive_timeout_ms", 5_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1_000),
        ]
        if cfg.hub_ca is None:
            if cfg.tls_cert or cfg.tls_key or cfg.tls_server_name:  # never plaintext when TLS was asked for
                raise ConfigError("--tls-cert, --tls-key and --tls-server-name need --hub-ca (TLS to the hub)")
            return grpc.aio.insecure_channel(cfg.hub, options=options)
        if bool(cfg.tls_cert) != bool(cfg.tls_key):
            raise ConfigError("--tls-cert and --tls-key go together (the client certificate for mTLS)")
        if cfg.tls_server_name:  # the name the hub's certificate must carry, when it is not the --hub host
            options.append(("grpc.ssl_target_name_override", cfg.tls_server_name))
        try:
            root = Path(cfg.hub_ca).read_bytes()
            key = Path(cfg.tls_key).read_bytes() if cfg.tls_key else None
            chain = Path(cfg.tls_cert).read_bytes() if cfg.tls_cert else None
            if cfg.tls_cert and cfg.tls_key:  # a mismatched pair fails here, not as a vague handshake error
                ssl.create_default_context().load_cert_chain(cfg.tls_cert, cfg.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"TLS files for the hub link: {exc}") from None
        creds = grpc.ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=chain)
        return grpc.aio.secure_channel(cfg.hub, creds, options=options)

    async def _session(self, backoff: Backoff) -> None:
        cfg = self.config
        metadata = (("authorization", f"Bearer {cfg.token}"), ("x-edge-id", cfg.edge_id))
        async with self._channel() as channel:
            call = link_pb2_grpc.HubLinkStub(channel).Connect(metadata=metadata)
            try:
                await self._handshake(call)
                backoff.reset()
                self.last_error = None
                write_lock = asyncio.Lock()
                tasks = [
                    asyncio.create_task(self._receive(call, write_lock), name="uplink-receive"),
                    asyncio.create_task(self._send(call, write_lock), name="uplink-send"),
                    asyncio.create_task(self._heartbeat(call, write_lock), name="uplink-heartbeat"),
                ]
                try:
                    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for t in tasks:
                        t.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                for t in done:
                    exc = t.exception()
                    if exc is not None:
                        raise exc
                raise UplinkError("hub closed the stream")
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    raise AuthError(f"{code.name}: {exc.details()}") from exc
                hint = ""
                tls_closed = code is grpc.StatusCode.UNAVAILABLE and "ssl" not in str(exc.details()).lower()
                if cfg.hub_ca is not None and tls_closed:
                    # A hub that rejects our client certificate just closes the socket; say where to look.
                    hint = " (with TLS this often means the hub refused this edge's certificate: see the hub's log)"
                raise UplinkError(f"{code.name}: {exc.details()}{hint}") from exc
            except (asyncio.InvalidStateError, grpc.RpcError) as exc:
                # A write racing the end of the call ("RPC already finished"): the stream is gone.
                raise UplinkError(f"stream ended: {exc}") from exc
            finally:
                call.cancel()
                self._inflight.clear()

    async def _handshake(self, call: grpc.aio.StreamStreamCall) -> None:
        hello = link_pb2.Hello(
            edge_id=self.config.edge_id,
            software_version=__version__,
            last_seq=self.buffer.last_seq,
            tracked_version=self.tracked.version,
        )
        await call.write(link_pb2.EdgeFrame(hello=hello))
        frame = await call.read()
        if frame is grpc.aio.EOF or frame.WhichOneof("kind") != "welcome":
            raise UplinkError("hub did not answer hello with welcome")
        welcome = frame.welcome
        self._set_state(LinkState.SYNCING)
        self.max_message_bytes = welcome.max_message_bytes or self.max_message_bytes
        self.buffer.mark_acked(welcome.watermark)
        self.sent_seq = max(welcome.watermark, self.buffer.acked_seq)
        logger.info("uplink: connected to %s; hub watermark %d, buffer last_seq %d (backlog %d)",
                    self.config.hub, welcome.watermark, self.buffer.last_seq, self.buffer.backlog)

    async def _receive(self, call: grpc.aio.StreamStreamCall, write_lock: asyncio.Lock) -> None:
        assert self._credit is not None
        while True:
            frame = await call.read()
            if frame is grpc.aio.EOF:
                raise UplinkError("hub ended the stream")
            kind = frame.WhichOneof("kind")
            if kind == "ack":
                self._on_ack(frame.ack)
            elif kind == "tracked_snapshot":
                self.tracked.apply_snapshot(frame.tracked_snapshot)
                async with write_lock:
                    await call.write(link_pb2.EdgeFrame(
                        tracked_ack=link_pb2.TrackedAck(version=self.tracked.version)))
            elif kind == "tracked_delta":
                if not self.tracked.apply_delta(frame.tracked_delta):
                    raise UplinkError("tracked delta out of order; reconnecting for a snapshot")
                async with write_lock:
                    await call.write(link_pb2.EdgeFrame(
                        tracked_ack=link_pb2.TrackedAck(version=self.tracked.version)))

    def _on_ack(self, ack: link_pb2.Ack) -> None:
        assert self._credit is not None
        now = time.perf_counter()
        released = 0
        while self._inflight and self._inflight[0].last_seq <= ack.watermark:
            item = self._inflight.popleft()
            released += item.count
            metrics.ACK_SECONDS.observe(now - item.sent_at)
        self.buffer.mark_acked(ack.watermark)
        self.acked_total += released
        metrics.ACKED.inc(released)
        if ack.parked:
            logger.error("uplink: hub parked %d samples (%s); they are kept on the hub, not stored",
                         ack.parked, ack.parked_reason)
        self._credit.set()

    async def _send(self, call: grpc.aio.StreamStreamCall, write_lock: asyncio.Lock) -> None:
        assert self._new_data is not None and self._credit is not None
        assert self._resume is not None and self._live is not None and self._live_ready is not None
        loop = asyncio.get_running_loop()
        max_samples = max(1_000, (self.max_message_bytes - 256 * 1024) // columns.BYTES_PER_SAMPLE)
        while True:
            if self.paused:
                self._set_state(LinkState.PAUSED)
                await self._resume.wait()
            self._live_ready.clear()
            while not self._live.empty():
                frame = self._live.get_nowait()
                async with write_lock:
                    await call.write(link_pb2.EdgeFrame(live=frame))
                metrics.LIVE_SENT.inc(frame.count)
            if len(self._inflight) >= self.config.window:
                # Wait for credit, but let a live-lane frame out at once: it is what makes the
                # dashboards live while the backlog drains.
                self._credit.clear()
                await _first_of(self._credit, self._live_ready)
                continue
            backlog = self.buffer.last_seq - self.sent_seq
            if backlog <= 0:
                self._set_state(LinkState.STREAMING)
                self._new_data.clear()
                if self.buffer.last_seq - self.sent_seq <= 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._new_data.wait(), HEARTBEAT_S)
                continue
            draining = backlog > LIVE_BATCH
            self._set_state(LinkState.DRAINING if draining else LinkState.STREAMING)
            limit = min(CATCHUP_BATCH if draining else LIVE_BATCH, max_samples)
            batch = self._ready_batch()
            if batch is None:
                batch = await loop.run_in_executor(self._executor, self._read_batch, self.sent_seq, limit)
            if batch is None:
                # Everything after sent_seq was dropped by the bound policy.
                self.sent_seq = self.buffer.last_seq
                continue
            async with write_lock:
                await call.write(link_pb2.EdgeFrame(batch=batch))
            self._inflight.append(_InFlight(batch.last_seq, batch.count, time.perf_counter()))
            self.sent_seq = batch.last_seq
            metrics.SENT.inc(batch.count)
            metrics.BATCH_SIZE.observe(batch.count)

    def _ready_batch(self) -> link_pb2.SampleBatch | None:
        """The next batch from memory, when the writer encoded exactly the range that comes next."""
        ready = self._ready
        while ready and ready[0].last_seq <= self.sent_seq:
            ready.popleft()  # already sent from DuckDB
        if ready and ready[0].first_seq == self.sent_seq + 1:
            return ready.popleft()
        ready.clear()  # a gap: DuckDB has the truth
        return None

    def _read_batch(self, after_seq: int, limit: int) -> link_pb2.SampleBatch | None:
        chunk = self.buffer.read_after(after_seq, limit)
        if chunk is None:
            return None
        return columns.encode(chunk.series_ids, chunk.seqs, chunk.ts_us, chunk.values,
                              self.buffer.series_keys())

    async def _heartbeat(self, call: grpc.aio.StreamStreamCall, write_lock: asyncio.Lock) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            buf = self.buffer
            oldest = await asyncio.get_running_loop().run_in_executor(
                self._executor, buf.oldest_unacked_ts_us) if buf.backlog else None
            beat = link_pb2.Heartbeat(
                sent_at_us=time.time_ns() // 1000, backlog=buf.backlog, last_seq=buf.last_seq,
                oldest_unacked_us=oldest or 0,
            )
            async with write_lock:
                await call.write(link_pb2.EdgeFrame(heartbeat=beat))


async def _first_of(*events: asyncio.Event) -> None:
    """Return as soon as one of ``events`` is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
