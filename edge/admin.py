"""The edge's admin service (``EdgeAdmin`` in ``protos/admin.proto``), the server side of edgectl.

It shares the edge's event loop with the uplink. Anything that touches DuckDB (series statistics,
exports, purges, the age of the oldest unacked reading) runs on a small thread pool with the
buffer's per-thread cursors, so a long export never stalls the uplink; the queries and the exporter
are in ``edge/export.py``. Live readings for ``Tail`` come from the fan-out in ``edge/tail.py``.

Exposure: loopback by default. Any other address needs TLS and an admin token (``check_exposure``);
with a token set, every call without ``authorization: Bearer <token>`` is UNAUTHENTICATED, except
gRPC health checks, which carry no data and are what a supervisor probes.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from edge.buffer import Buffer
from edge.errors import ConfigError
from edge.export import Exporter, count_before, series_stats
from edge.ingest import Ingest
from edge.rates import RateMeter, RejectionTally, device_of
from edge.tail import TailHub, TailItem
from edge.tracked import TrackedCache
from edge.uplink import LinkState, Uplink
from edgehub import __version__
from protos import admin_pb2, admin_pb2_grpc

logger = logging.getLogger(__name__)

T = TypeVar("T")

# DuckDB work for admin calls: one long export, plus room for status and devices beside it.
ADMIN_THREADS = 3
DEVICE_RATE_WINDOW_S = 60.0  # per-device readings/s: a minute smooths devices that send every few seconds
SERVICE_NAME = admin_pb2.DESCRIPTOR.services_by_name["EdgeAdmin"].full_name
LINK_UP = frozenset({LinkState.STREAMING, LinkState.DRAINING, LinkState.PAUSED})  # a session to the hub
UNAUTHENTICATED_OK = frozenset({f"/{health.SERVICE_NAME}/Check", f"/{health.SERVICE_NAME}/Watch"})


@dataclass(frozen=True)
class AdminConfig:
    host: str = "127.0.0.1"
    port: int = 50052
    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(cfg: AdminConfig) -> None:
    """Refuse an admin port reachable from the network without TLS and a token."""
    if (cfg.tls_cert is None) != (cfg.tls_key is None):
        raise ConfigError("--admin-tls-cert and --admin-tls-key go together")
    if not is_loopback(cfg.host) and not (cfg.token and cfg.tls_cert):
        raise ConfigError(
            f"--admin-host {cfg.host} is not a loopback address: it needs --admin-token (or EDGEHUB_ADMIN_TOKEN) "
            "and --admin-tls-cert/--admin-tls-key, or the edge's admin would be open to the network"
        )


def ts(us: int | None) -> Timestamp | None:
    """A protobuf Timestamp from microseconds since the epoch (None stays unset)."""
    if us is None:
        return None
    out = Timestamp()
    out.FromMicroseconds(int(us))
    return out


def now_ts() -> Timestamp | None:
    return ts(time.time_ns() // 1000)


def tail_batch(item: TailItem) -> admin_pb2.TailBatch:
    pairs, skipped = item
    return admin_pb2.TailBatch(
        readings=[admin_pb2.TailReading(device_id=k[0], sensor_type=k[1], unit=k[2], ts=ts(t), value=v, seq=seq)
                  for seq, (k, t, v) in pairs],
        skipped=skipped,
    )


class EdgeAdmin(admin_pb2_grpc.EdgeAdminServicer):
    """The servicer: reads the components' state, hands DuckDB work to ``run``."""

    def __init__(self, edge_id: str, buffer: Buffer, ingest: Ingest, uplink: Uplink, tracked: TrackedCache,
                 run: Callable[..., Any], meter: RateMeter, tail: TailHub, exporter: Exporter,
                 rejections: RejectionTally) -> None:
        self.edge_id, self.buffer, self.ingest, self.uplink, self.tracked = edge_id, buffer, ingest, uplink, tracked
        self.run, self.meter, self.tail, self.exporter, self.rejections = run, meter, tail, exporter, rejections
        self.started_at = time.time()
        self.down_since: float | None = self.started_at  # no session to the hub yet
        meter.ticks.append(self.watch_link)

    def watch_link(self) -> None:
        """Keep when the link went down: the uplink's own ``state_since`` restarts with every retry."""
        if self.uplink.state in LINK_UP:
            self.down_since = None
        elif self.down_since is None:
            self.down_since = min(self.uplink.state_since, time.time())

    async def _duck(self, context: Any, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Run DuckDB work on the admin threads; a DuckDB error becomes INTERNAL with its first line."""
        try:
            return await self.run(fn, *args)
        except duckdb.Error as exc:
            logger.error("admin: %s failed: %s", what, exc)
            await context.abort(grpc.StatusCode.INTERNAL, f"{what} failed in DuckDB: {str(exc).splitlines()[0]}")
            raise  # not reached: abort raises

    async def _totals(self) -> admin_pb2.BufferTotals:
        buf = self.buffer
        oldest = await self.run(buf.oldest_unacked_ts_us) if buf.backlog else None
        return admin_pb2.BufferTotals(
            path=str(buf.config.path), rows=buf.rows, bytes=buf.bytes_used, max_rows=buf.config.max_rows,
            max_bytes=buf.config.max_bytes, last_seq=buf.last_seq, acked_seq=buf.acked_seq, backlog=buf.backlog,
            oldest_unacked=ts(oldest), retention_s=buf.config.retention_s,
        )

    async def Status(self, request: admin_pb2.StatusRequest, context: Any) -> admin_pb2.StatusReply:
        up, ing, buf, meter = self.uplink, self.ingest, self.buffer, self.meter
        now = time.time()
        self.watch_link()
        down = ts(int(self.down_since * 1e6)) if self.down_since is not None else None
        return admin_pb2.StatusReply(
            edge_id=self.edge_id, software_version=__version__, started_at=ts(int(self.started_at * 1e6)),
            uptime_s=now - self.started_at,
            link=admin_pb2.LinkStatus(
                hub=up.config.hub, state=up.state.value, state_since=ts(int(up.state_since * 1e6)),
                last_error=up.last_error or "", paused=up.paused, sent_seq=up.sent_seq, acked_total=up.acked_total,
                down_since=down,
            ),
            mqtt=admin_pb2.MqttStatus(
                broker=f"{ing.config.host}:{ing.config.port}", topic_filter=ing.config.topic_filter,
                connected=ing.connected, queued=ing.queued, messages=ing.stats.messages,
                readings=ing.stats.readings,
            ),
            buffer=await self._totals(),
            rates=admin_pb2.Rates(
                ingest_10s=meter.rate("ingest", 10), ingest_5m=meter.rate("ingest", 300),
                uplink_10s=meter.rate("uplink", 10), uplink_5m=meter.rate("uplink", 300),
            ),
            rejected=dict(ing.stats.rejected),
            dropped={
                "buffer_full_acked": buf.dropped_acked, "buffer_full_unacked": buf.dropped_unacked,
                "purged_unacked": buf.purged_unacked, "live_lane": up.live_dropped, "tail": self.tail.dropped,
            },
            redelivered_skipped=ing.stats.redelivered_skipped,
            tracked_version=self.tracked.version, tracked_variables=len(self.tracked.entries()),
            now=ts(int(now * 1e6)),
        )

    async def Devices(self, request: admin_pb2.DevicesRequest, context: Any) -> admin_pb2.DevicesReply:
        base = self.meter.value_at("seq", DEVICE_RATE_WINDOW_S)
        since_seq, age = base if base is not None else (self.buffer.last_seq, 0.0)
        stats = await self._duck(context, "device statistics", series_stats, self.buffer, since_seq)
        self.rejections.tick()
        devices: dict[str, admin_pb2.Device] = {}
        for sid, (device_id, sensor_type, unit) in enumerate(self.buffer.series_keys(), start=1):
            dev = devices.setdefault(device_id, admin_pb2.Device(device_id=device_id))
            s = stats.get(sid)
            sensor = admin_pb2.Sensor(sensor_type=sensor_type, unit=unit)
            if s is not None:
                sensor.rows = s.rows
                sensor.last_ts.CopyFrom(ts(s.last_ts_us))
                sensor.last_value, sensor.last_seq = s.last_value, s.last_seq
                sensor.readings_per_s = s.recent / age if age > 0 else 0.0
                if not dev.HasField("last_ts") or s.last_ts_us > dev.last_ts.ToMicroseconds():
                    dev.last_ts.CopyFrom(ts(s.last_ts_us))
                dev.readings_per_s += sensor.readings_per_s
            dev.sensors.append(sensor)
        for device_id, n in self.rejections.by_device.items():
            devices.setdefault(device_id, admin_pb2.Device(device_id=device_id)).rejected = n
        return admin_pb2.DevicesReply(
            devices=[devices[k] for k in sorted(devices)], rejected_unattributed=self.rejections.unattributed(),
            now=now_ts(),
        )

    async def Tracked(self, request: admin_pb2.TrackedRequest, context: Any) -> admin_pb2.TrackedReply:
        version, entries = self.tracked.version, self.tracked.entries()
        return admin_pb2.TrackedReply(version=version, variables=[admin_pb2.TrackedVariable(**e) for e in entries])

    async def BufferStats(self, request: admin_pb2.BufferStatsRequest, context: Any) -> admin_pb2.BufferStatsReply:
        stats = await self._duck(context, "buffer statistics", series_stats, self.buffer, self.buffer.last_seq)
        keys = self.buffer.series_keys()
        series = [
            admin_pb2.SeriesStats(device_id=keys[sid - 1][0], sensor_type=keys[sid - 1][1], unit=keys[sid - 1][2],
                                  rows=s.rows, unacked=s.unacked, oldest=ts(s.oldest_us), newest=ts(s.newest_us))
            for sid, s in sorted(stats.items(), key=lambda kv: keys[kv[0] - 1])
        ]
        return admin_pb2.BufferStatsReply(totals=await self._totals(), series=series, now=now_ts())

    async def ExportBuffer(self, request: admin_pb2.ExportRequest,
                           context: Any) -> AsyncIterator[admin_pb2.ExportFrame]:
        if self.exporter.busy:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "another export is running; try again later")
        try:
            async for frame in self.exporter.export(request):
                yield frame
        except duckdb.Error as exc:
            logger.error("admin: export failed: %s", exc)
            await context.abort(grpc.StatusCode.INTERNAL, f"export failed in DuckDB: {str(exc).splitlines()[0]}")

    async def PurgeBuffer(self, request: admin_pb2.PurgeRequest, context: Any) -> admin_pb2.PurgeReply:
        if not request.HasField("before"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "purge needs `before`")
        before_us = request.before.ToMicroseconds()
        if request.dry_run:
            acked, unacked = await self._duck(context, "purge preview", count_before, self.buffer, before_us)
        else:
            acked, unacked = await self._duck(context, "purge", self.buffer.purge_before, before_us)
        return admin_pb2.PurgeReply(acked=acked, unacked=unacked, dry_run=request.dry_run)

    async def Tail(self, request: admin_pb2.TailRequest, context: Any) -> AsyncIterator[admin_pb2.TailBatch]:
        sub = self.tail.subscribe(request.device_id, request.sensor_type)
        try:
            yield admin_pb2.TailBatch()  # the subscription is in place: readings committed from now on follow
            while True:
                yield tail_batch(await sub.queue.get())
        finally:
            self.tail.unsubscribe(sub)

    async def SetUplink(self, request: admin_pb2.SetUplinkRequest, context: Any) -> admin_pb2.UplinkReply:
        if request.paused:
            self.uplink.pause()
        else:
            self.uplink.resume()
        return admin_pb2.UplinkReply(paused=self.uplink.paused, state=self.uplink.state.value,
                                     backlog=self.buffer.backlog)

    async def Rejections(self, request: admin_pb2.RejectionsRequest, context: Any) -> admin_pb2.RejectionsReply:
        stats = self.ingest.stats
        ring = list(stats.recent_rejections)
        newest = ring[::-1][: request.limit or None]
        topic_filter = self.ingest.config.topic_filter
        return admin_pb2.RejectionsReply(
            rejections=[
                admin_pb2.Rejection(at=ts(int(r.at * 1e6)), topic=r.topic, device_id=device_of(r.topic, topic_filter),
                                    reason=r.reason, detail=r.detail, payload=r.payload)
                for r in newest
            ],
            totals=dict(stats.rejected), ring_size=stats.recent_rejections.maxlen or 0,
            now=now_ts(),
        )


class TokenAuth(grpc.aio.ServerInterceptor):
    """UNAUTHENTICATED for any call without ``authorization: Bearer <token>`` (health checks excepted)."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        if handler is None or details.method in UNAUTHENTICATED_OK:
            return handler
        given = dict(details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(str(given).encode(), self._expected):
            return handler
        logger.warning("admin: refused %s: %s admin token", details.method, "wrong" if given else "no")

        async def deny(request: Any, context: Any) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong admin token")

        kinds = {
            "unary_unary": grpc.unary_unary_rpc_method_handler, "unary_stream": grpc.unary_stream_rpc_method_handler,
            "stream_unary": grpc.stream_unary_rpc_method_handler,
            "stream_stream": grpc.stream_stream_rpc_method_handler,
        }
        kind = next(k for k in kinds if getattr(handler, k) is not None)
        return kinds[kind](deny, request_deserializer=handler.request_deserializer,
                           response_serializer=handler.response_serializer)


class AdminServer:
    """The admin gRPC server with health checking and reflection; ``await start()``, ``await stop()``."""

    def __init__(self, config: AdminConfig, edge_id: str, buffer: Buffer, ingest: Ingest, uplink: Uplink,
                 tracked: TrackedCache) -> None:
        check_exposure(config)
        self.config = config
        self.ingest = ingest
        self._executor = ThreadPoolExecutor(ADMIN_THREADS, thread_name_prefix="edge-admin")
        self.meter = RateMeter({"ingest": lambda: ingest.stats.readings, "uplink": lambda: uplink.acked_total,
                                "seq": lambda: buffer.last_seq})
        rejections = RejectionTally(ingest)
        self.meter.ticks.append(rejections.tick)
        self.tail = TailHub()
        self.exporter = Exporter(buffer, self._run, Path(buffer.config.path).parent / "exports")
        self.servicer = EdgeAdmin(edge_id, buffer, ingest, uplink, tracked, self._run, self.meter, self.tail,
                                  self.exporter, rejections)
        self.health = health.aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self._sampler: asyncio.Task[None] | None = None
        self.port = config.port

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def start(self) -> None:
        """Bind, start serving, and subscribe the tail to the ingest's commits (before ingest starts)."""
        cfg = self.config
        interceptors = [TokenAuth(cfg.token)] if cfg.token else []
        server = grpc.aio.server(interceptors=interceptors)
        admin_pb2_grpc.add_EdgeAdminServicer_to_server(self.servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        host = f"[{cfg.host}]" if ":" in cfg.host and not cfg.host.startswith("[") else cfg.host
        address = f"{host}:{cfg.port}"
        try:
            if cfg.tls_cert and cfg.tls_key:
                creds = grpc.ssl_server_credentials([(Path(cfg.tls_key).read_bytes(), Path(cfg.tls_cert).read_bytes())])
                self.port = server.add_secure_port(address, creds)
            else:
                self.port = server.add_insecure_port(address)
        except (RuntimeError, OSError) as exc:
            raise ConfigError(f"admin: cannot listen on {address}: {exc}") from exc
        await server.start()
        self._server = server
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.tail.attach(asyncio.get_running_loop())
        self.ingest.listeners.append(self.tail.listener)
        self.exporter.clean()
        self._sampler = asyncio.create_task(self.meter.run(), name="admin-rates")
        logger.info("admin: EdgeAdmin on %s:%d (%s%s)", cfg.host, self.port, "TLS" if cfg.tls_cert else "plaintext",
                    ", token required" if cfg.token else "")

    async def stop(self, grace: float = 1.0) -> None:
        """Stop serving; running exports are interrupted and the DuckDB threads joined."""
        if self._sampler is not None:
            self._sampler.cancel()
        if self.tail.listener in self.ingest.listeners:
            self.ingest.listeners.remove(self.tail.listener)
        if self._server is not None:
            await self.health.enter_graceful_shutdown()
            await self._server.stop(grace)
            self._server = None
        self.exporter.interrupt()
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown)
