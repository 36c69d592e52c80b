"""The hub side of ``HubLink.Connect``: one session per connected edge.

A session authenticates the edge (``authorization: Bearer <token>`` and ``x-edge-id`` metadata),
answers Hello with Welcome (the edge's watermark), sends the tracked-variable snapshot, then for
each batch: commit readings + watermark in one transaction, and only then Ack. Batches arrive in
order on one stream and are committed in order, so the cumulative ack is simply the new watermark.
A malformed batch is parked (kept on the hub, not stored) and acked, so it never blocks the edge.
Every frame the hub sends goes through one outgoing queue, because a gRPC stream takes one writer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from edgehub import __version__, columns
from edgehub.duck import one
from hub import auth, metrics
from hub.store import Store
from protos import link_pb2, link_pb2_grpc

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # announced to edges; a 20,000-sample batch is ~0.6 MB
OUTGOING_QUEUE = 256  # frames to one edge (acks, tracked deltas); acks are tiny, deltas rare
GROUP_COMMIT_SAMPLES = 100_000  # one transaction takes queued batches up to this many samples
RATE_WINDOW_S = 10.0


@dataclass
class EdgeSession:
    edge_id: str
    peer: str
    connected_at: float = field(default_factory=time.time)
    backlog: int = 0
    oldest_unacked_us: int = 0  # from the edge's heartbeat; 0 when it has no backlog
    edge_last_seq: int = 0
    tracked_version: int = 0
    stored_total: int = 0
    live_total: int = 0
    outgoing: asyncio.Queue[link_pb2.HubFrame] = field(default_factory=lambda: asyncio.Queue(OUTGOING_QUEUE))
    _rate: deque[tuple[float, int]] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None

    def record(self, stored: int) -> None:
        now = time.monotonic()
        self.stored_total += stored
        self._rate.append((now, stored))
        while self._rate and self._rate[0][0] < now - RATE_WINDOW_S:
            self._rate.popleft()

    def readings_per_s(self) -> float:
        now = time.monotonic()
        while self._rate and self._rate[0][0] < now - RATE_WINDOW_S:
            self._rate.popleft()
        span = min(RATE_WINDOW_S, max(1.0, time.time() - self.connected_at))
        return sum(n for _, n in self._rate) / span


# Called with (edge_id, columns, stored) after a commit (only the newly stored samples) or for a
# live-lane frame (stored=False).
SampleListener = Callable[[str, columns.Columns, bool], None]


class LinkService(link_pb2_grpc.HubLinkServicer):
    def __init__(self, store: Store) -> None:
        self.store = store
        self.sessions: dict[str, EdgeSession] = {}
        self.listeners: list[SampleListener] = []

    def tracked_snapshot(self, edge_id: str) -> link_pb2.TrackedSnapshot:
        cur = self.store.cursor()
        cur.execute("BEGIN TRANSACTION")  # the rows and the version from one snapshot
        try:
            rows = cur.execute(
                "SELECT t.device_id, t.sensor_type, t.widget_id, t.dashboard_uuid, t.max_samples "
                "FROM tracked_variables t JOIN devices d USING (device_id) WHERE d.edge_id = ? "
                "ORDER BY t.widget_id", [edge_id],
            ).fetchall()
            found = one(cur.execute("SELECT version FROM tracked_versions WHERE edge_id = ?", [edge_id]))
        finally:
            cur.execute("COMMIT")
        version = int(found[0]) if found else 0
        return link_pb2.TrackedSnapshot(
            version=version,
            variables=[
                link_pb2.TrackedVariable(device_id=d, sensor_type=s, widget_id=w, dashboard_uuid=u,
                                         max_samples=m)
                for d, s, w, u, m in rows
            ],
        )

    async def _authenticate(self, context: grpc.aio.ServicerContext) -> str:
        md = {k: v for k, v in context.invocation_metadata() or ()}
        edge_id = str(md.get("x-edge-id", ""))
        bearer = str(md.get("authorization", ""))
        token = bearer.removeprefix("Bearer ").strip()
        stored = await self.store.read(self.store.edge_token_hash, edge_id) if edge_id else None
        if not edge_id or not token or not auth.token_matches(token, stored):
            metrics.LINK_AUTH_FAILURES.inc()
            logger.warning("link: refused edge %r from %s: unknown edge or wrong token",
                           edge_id, context.peer())
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown edge id or wrong edge token")
        # mTLS (hub run with --client-ca): TLS has checked the chain and the dates; the certificate must
        # also name this edge, so that one edge's certificate cannot carry another edge's token.
        # Without --client-ca the hub asks for no certificate and this check does not apply.
        peer_cert = context.auth_context() or {}
        if peer_cert.get("x509_pem_cert"):
            names = [bytes(n).decode(errors="replace") for n in peer_cert.get("x509_common_name", ())]
            if names != [edge_id]:
                metrics.LINK_AUTH_FAILURES.inc()
                logger.warning("link: refused edge %r from %s: its client certificate is for %s, not this edge",
                               edge_id, context.peer(), ", ".join(map(repr, names)) or "no common name")
                await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                    f"client certificate common name {names} does not match edge id {edge_id!r}")
        return edge_id

    async def Connect(self, request_iterator: object, context: grpc.aio.ServicerContext) -> None:
        edge_id = await self._authenticate(context)
        first = await context.read()
        if first is grpc.aio.EOF or first.WhichOneof("kind") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first frame must be hello")
        if first.hello.edge_id and first.hello.edge_id != edge_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "hello edge_id differs from x-edge-id")
        session = EdgeSession(edge_id, context.peer(), edge_last_seq=first.hello.last_seq)
        previous = self.sessions.get(edge_id)
        if previous is not None and previous.task is not None:
            logger.warning("link: edge %s connected again from %s; closing its older stream", edge_id,
                           session.peer)
            previous.task.cancel()
        session.task = asyncio.current_task()
        self.sessions[edge_id] = session
        metrics.EDGES_CONNECTED.set(len(self.sessions))
        writer = asyncio.create_task(self._write_loop(session, context))
        try:
            watermark = self.store.watermark(edge_id)
            await session.outgoing.put(link_pb2.HubFrame(welcome=link_pb2.Welcome(
                watermark=watermark, max_message_bytes=MAX_MESSAGE_BYTES,
                heartbeat_interval_ms=5000, hub_version=__version__)))
            snapshot = await self.store.read(self.tracked_snapshot, edge_id)
            await session.outgoing.put(link_pb2.HubFrame(tracked_snapshot=snapshot))
            logger.info("link: edge %s connected from %s (watermark %d, edge last_seq %d)",
                        edge_id, session.peer, watermark, first.hello.last_seq)
            await self._read_loop(session, context)
        finally:
            writer.cancel()
            if self.sessions.get(edge_id) is session:
                del self.sessions[edge_id]
            metrics.EDGES_CONNECTED.set(len(self.sessions))
            logger.info("link: edge %s disconnected", edge_id)

    async def _write_loop(self, session: EdgeSession, context: grpc.aio.ServicerContext) -> None:
        while True:
            frame = await session.outgoing.get()
            await context.write(frame)

    async def _read_loop(self, session: EdgeSession, context: grpc.aio.ServicerContext) -> None:
        # Batches are committed in order by their own task, so that reading goes on meanwhile and a
        # live-lane frame behind a few large batches reaches the widgets without waiting for them.
        # The queue needs no bound of its own: the edge never has more than its window in flight.
        pending: asyncio.Queue[link_pb2.SampleBatch | None] = asyncio.Queue()
        committer = asyncio.create_task(self._commit_loop(session, pending))
        try:
            await self._dispatch(session, context, pending, committer)
        finally:
            committer.cancel()

    async def _commit_loop(self, session: EdgeSession, pending: asyncio.Queue[link_pb2.SampleBatch | None]) -> None:
        while (batch := await pending.get()) is not None:
            # Group commit: whatever else queued up while the previous commit ran goes in the same
            # transaction, so many small live batches cost one commit, not one each.
            group = [batch]
            size = batch.count
            while size < GROUP_COMMIT_SAMPLES and not pending.empty():
                nxt = pending.get_nowait()
                if nxt is None:
                    pending.put_nowait(None)
                    break
                group.append(nxt)
                size += nxt.count
            for ack in await self._store_batches(session, group):
                await session.outgoing.put(link_pb2.HubFrame(ack=ack))

    async def _dispatch(self, session: EdgeSession, context: grpc.aio.ServicerContext,
                        pending: asyncio.Queue[link_pb2.SampleBatch | None], committer: asyncio.Task[None]) -> None:
        while True:
            frame = await context.read()
            if frame is grpc.aio.EOF:
                await pending.put(None)
                await committer  # acks for what arrived before the edge half-closed
                return
            if committer.done():
                committer.result()  # re-raise a commit failure: the stream ends, the edge resends
            kind = frame.WhichOneof("kind")
            if kind == "batch":
                pending.put_nowait(frame.batch)
            elif kind == "live":
                self._live(session, frame.live)
            elif kind == "heartbeat":
                session.backlog = frame.heartbeat.backlog
                session.oldest_unacked_us = frame.heartbeat.oldest_unacked_us
                session.edge_last_seq = frame.heartbeat.last_seq
            elif kind == "tracked_ack":
                session.tracked_version = frame.tracked_ack.version

    async def _store_batches(self, session: EdgeSession, batches: list[link_pb2.SampleBatch]) -> list[link_pb2.Ack]:
        """Commit consecutive batches; a malformed one is parked on its own, the others go together.
        Returns the acks to send, in order (cumulative: the last one covers the group)."""
        acks: list[link_pb2.Ack] = []
        good: list[columns.Columns] = []
        for batch in batches:
            try:
                good.append(columns.decode(batch))
            except columns.BatchFormatError as exc:
                acks += await self._commit(session, good)
                good = []
                wm = await self.store.write(self.store.park_batch, session.edge_id, batch.first_seq,
                                            batch.last_seq, str(exc), batch.SerializeToString())
                metrics.PARKED.inc(batch.count)
                acks.append(link_pb2.Ack(watermark=wm, parked=batch.count, parked_reason=str(exc)))
        acks += await self._commit(session, good)
        return acks

    async def _commit(self, session: EdgeSession, group: list[columns.Columns]) -> list[link_pb2.Ack]:
        if not group:
            return []
        started = time.perf_counter()
        results = await self.store.write(self.store.commit_batches, session.edge_id, group)
        metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
        stored = sum(r.stored for r in results)
        duplicates = sum(r.duplicates for r in results)
        metrics.STORED.inc(stored)
        metrics.DUPLICATES.inc(duplicates)
        session.record(stored)
        if duplicates:
            logger.info("link: edge %s resent %d samples at or below watermark; dropped as duplicates",
                        session.edge_id, duplicates)
        for cols, result in zip(group, results, strict=True):
            if result.stored:
                self.notify(session.edge_id, cols.tail(result.duplicates), True)
        last = results[-1]
        return [link_pb2.Ack(watermark=last.watermark, stored=stored, duplicates=duplicates)]

    def _live(self, session: EdgeSession, batch: link_pb2.SampleBatch) -> None:
        try:
            cols = columns.decode(batch)
        except columns.BatchFormatError as exc:
            logger.warning("link: edge %s sent a malformed live frame: %s", session.edge_id, exc)
            return
        session.live_total += len(cols)
        metrics.LIVE_RECEIVED.inc(len(cols))
        self.notify(session.edge_id, cols, False)

    def notify(self, edge_id: str, cols: columns.Columns, stored: bool) -> None:
        """Hand new samples to the listeners (widget buffers, flows); never let one break the link."""
        for listener in self.listeners:
            try:
                listener(edge_id, cols, stored)
            except Exception:
                logger.exception("sample listener %r failed", listener)

    async def push_tracked_delta(self, edge_id: str, delta: link_pb2.TrackedDelta) -> bool:
        """Send a tracked delta to a connected edge; False when it is not connected."""
        session = self.sessions.get(edge_id)
        if session is None:
            return False
        await session.outgoing.put(link_pb2.HubFrame(tracked_delta=delta))
        return True


def edge_status(service: LinkService, rows: list[dict]) -> list[dict]:
    """Merge the stored edge rows with the live session state."""
    out = []
    for row in rows:
        session = service.sessions.get(row["edge_id"])
        out.append({
            "edge_id": row["edge_id"],
            "connected": session is not None,
            "acked_seq": row["acked_seq"],
            "last_seen": row["last_seen"].isoformat() + "Z" if row["last_seen"] else None,
            "readings_per_s": round(session.readings_per_s(), 1) if session else 0.0,
            "backlog": session.backlog if session else None,
            # How far behind the hub is: age of the oldest reading the edge still holds unacked.
            "lag_s": (max(0.0, time.time() - session.oldest_unacked_us / 1e6) if session.oldest_unacked_us else 0.0)
            if session else None,
            "peer": session.peer if session else None,
        })
    return out
