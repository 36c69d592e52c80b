"""The edge process: ingest thread, writer thread, and an asyncio loop for the uplink."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import start_http_server

from edge import metrics
from edge.admin import AdminConfig, AdminServer
from edge.buffer import Buffer, BufferConfig
from edge.ingest import Ingest, IngestConfig
from edge.tracked import TrackedCache
from edge.uplink import Uplink, UplinkConfig

logger = logging.getLogger(__name__)

GAUGE_INTERVAL_S = 1.0


@dataclass(frozen=True)
class EdgeConfig:
    edge_id: str
    data_dir: Path
    ingest: IngestConfig
    uplink: UplinkConfig
    buffer: BufferConfig
    admin_port: int = 50052
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    admin_host: str = "127.0.0.1"  # any other address needs admin_token and TLS (edge.admin.check_exposure)
    admin_token: str | None = None
    admin_tls_cert: Path | None = None
    admin_tls_key: Path | None = None

    @property
    def admin(self) -> AdminConfig:
        return AdminConfig(host=self.admin_host, port=self.admin_port, token=self.admin_token,
                           tls_cert=self.admin_tls_cert, tls_key=self.admin_tls_key)


async def _update_gauges(buffer: Buffer) -> None:
    counted = {"acked": buffer.dropped_acked, "unacked": buffer.dropped_unacked}
    loop = asyncio.get_running_loop()
    while True:
        if buffer.has_gaps:
            await loop.run_in_executor(None, buffer.count_backlog)
        oldest = await loop.run_in_executor(None, buffer.oldest_unacked_ts_us) if buffer.backlog else None
        metrics.BACKLOG_AGE.set(max(0.0, time.time() - oldest / 1e6) if oldest is not None else 0.0)
        metrics.BACKLOG.set(buffer.backlog)
        metrics.BUFFER_ROWS.set(buffer.rows)
        metrics.BUFFER_BYTES.set(buffer.bytes_used)
        metrics.DB_MEMORY.set(buffer.db_memory)
        # The writer thread counts drops in the buffer; move the difference into the counter here.
        for kind, now in (("acked", buffer.dropped_acked), ("unacked", buffer.dropped_unacked)):
            if now > counted[kind]:
                metrics.DROPPED.labels(kind).inc(now - counted[kind])
                counted[kind] = now
        await asyncio.sleep(GAUGE_INTERVAL_S)


async def run(cfg: EdgeConfig) -> None:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    if cfg.metrics_port is not None:
        start_http_server(cfg.metrics_port, addr=cfg.metrics_host)
        logger.info("metrics on http://%s:%d/metrics", cfg.metrics_host, cfg.metrics_port)
    with Buffer(cfg.buffer) as buffer:
        tracked = TrackedCache(cfg.data_dir / "tracked.json")
        uplink = Uplink(cfg.uplink, buffer, tracked)
        ingest = Ingest(cfg.ingest, buffer, listeners=[uplink.notify])
        admin = AdminServer(cfg.admin, cfg.edge_id, buffer, ingest, uplink, tracked)
        await admin.start()  # before ingest: its tail listener must be in place when commits begin
        main = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: main.cancel() if main else None)
        ingest.start()
        gauges = asyncio.create_task(_update_gauges(buffer))
        try:
            await uplink.run()
        except asyncio.CancelledError:
            logger.info("edge %s stopping", cfg.edge_id)
        finally:
            gauges.cancel()
            ingest.stop()
            await admin.stop()
    logger.info("edge %s stopped", cfg.edge_id)
