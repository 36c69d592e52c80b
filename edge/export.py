"""DuckDB work behind the admin's buffer calls: series statistics, the purge preview, and exports.

The DuckDB work here blocks, so the admin runs it on its thread pool (the ``run`` it passes in),
never on the event loop. ``series_stats`` and ``count_before`` are plain queries over the buffer.
``Exporter`` serves ``ExportBuffer``: DuckDB COPYs the selected readings (acked or not, up to the
sequence number that was last when the export started) to a file beside the buffer, reporting its
progress, and the file then streams back in chunks. One export at a time; the file is deleted
however the call ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.buffer import Buffer
from edgehub.duck import one
from protos import admin_pb2

logger = logging.getLogger(__name__)

EXPORT_CHUNK_BYTES = 1024 * 1024  # well below gRPC's 4 MiB message limit
PROGRESS_INTERVAL_S = 0.2  # how often an export reports DuckDB's progress


@dataclass(frozen=True, slots=True)
class SeriesRow:
    rows: int
    unacked: int
    oldest_us: int
    newest_us: int
    last_seq: int
    last_ts_us: int
    last_value: float
    recent: int  # readings with seq above the ``since_seq`` asked for


def series_stats(buffer: Buffer, since_seq: int) -> dict[int, SeriesRow]:
    """Per series id: what the buffer holds of it, its newest reading, and readings after ``since_seq``."""
    rows = buffer.query(
        "SELECT series_id, count(*), count(*) FILTER (WHERE seq > ?), min(ts_us), max(ts_us), max(seq), "
        "arg_max(ts_us, seq), arg_max(value, seq), count(*) FILTER (WHERE seq > ?) FROM readings GROUP BY series_id",
        [buffer.acked_seq, since_seq],
    )
    return {int(r[0]): SeriesRow(*r[1:]) for r in rows}


def count_before(buffer: Buffer, before_us: int) -> tuple[int, int]:
    """(acked, unacked) readings older than ``before_us``: what a purge would delete."""
    row = buffer.query("SELECT count(*) FILTER (WHERE seq <= ?), count(*) FILTER (WHERE seq > ?) "
                       "FROM readings WHERE ts_us < ?", [buffer.acked_seq, buffer.acked_seq, before_us])
    return (int(row[0][0] or 0), int(row[0][1] or 0)) if row else (0, 0)


class Exporter:
    """``ExportBuffer``: DuckDB COPYs the selected readings to a file beside the buffer, which then
    streams back in chunks. One export at a time; the file is deleted however the call ends."""

    def __init__(self, buffer: Buffer, run: Callable[..., Any], folder: Path) -> None:
        self.buffer, self.run, self.folder = buffer, run, folder
        self.busy = False
        self._cursor: Any = None

    def clean(self) -> None:
        """Remove files an export left behind when the edge died during it."""
        for leftover in self.folder.glob("export-*"):
            leftover.unlink(missing_ok=True)

    def interrupt(self) -> None:
        cur = self._cursor
        if cur is not None:
            cur.interrupt()

    def _progress(self) -> float:
        cur = self._cursor
        pct = cur.query_progress() if cur is not None else -1.0
        return pct / 100.0 if pct >= 0 else -1.0

    def _select(self, request: admin_pb2.ExportRequest, csv: bool) -> tuple[str, list[object]]:
        buf = self.buffer
        ts_expr = ("strftime(make_timestamp(r.ts_us), '%Y-%m-%dT%H:%M:%S.%fZ')" if csv
                   else "make_timestamp(r.ts_us) AT TIME ZONE 'UTC'")
        where = ["r.seq <= ?"]  # a fixed end: readings committed during the export stay out
        params: list[object] = [buf.acked_seq, buf.last_seq]
        if request.HasField("since"):
            where.append("r.ts_us >= ?")
            params.append(request.since.ToMicroseconds())
        if request.HasField("until"):
            where.append("r.ts_us < ?")
            params.append(request.until.ToMicroseconds())
        for column in ("device_id", "sensor_type"):
            if getattr(request, column):
                where.append(f"s.{column} = ?")
                params.append(getattr(request, column))
        sql = (f"SELECT s.device_id, s.sensor_type, s.unit, {ts_expr} AS ts, r.value, r.seq, r.seq <= ? AS acked "
               f"FROM readings r JOIN series s USING (series_id) WHERE {' AND '.join(where)} ORDER BY r.seq")
        return sql, params

    def _count(self, select: str, params: list[object]) -> int:
        row = self.buffer.query(f"SELECT count(*) FROM ({select})", params)
        return int(row[0][0]) if row else 0

    def _copy(self, select: str, params: list[object], path: Path, csv: bool) -> int:
        # Buffer.query hides its cursor, and DuckDB reports progress (and takes interrupts) per cursor.
        cur = self.buffer._cursor()
        cur.execute("SET enable_progress_bar = true")
        cur.execute("SET enable_progress_bar_print = false")  # never draw on the edge's own stderr
        self._cursor = cur
        quoted = str(path).replace("'", "''")
        options = "FORMAT csv, HEADER true" if csv else "FORMAT parquet"
        try:
            row = one(cur.execute(f"COPY ({select}) TO '{quoted}' ({options})", params))
        finally:
            self._cursor = None
        return int(row[0]) if row else 0

    async def export(self, request: admin_pb2.ExportRequest) -> AsyncIterator[admin_pb2.ExportFrame]:
        """Progress frames while DuckDB writes, then the file's bytes, then ``done``."""
        self.busy = True
        csv = request.format == admin_pb2.EXPORT_FORMAT_CSV
        path = self.folder / f"export-{uuid.uuid4().hex}.{'csv' if csv else 'parquet'}"
        job: asyncio.Future[int] | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            select, params = self._select(request, csv)
            rows = await self.run(self._count, select, params)
            yield _progress("writing", 0.0, rows)
            job = asyncio.ensure_future(self.run(self._copy, select, params, path, csv))
            while not job.done():
                await asyncio.wait({job}, timeout=PROGRESS_INTERVAL_S)
                yield _progress("writing", 1.0 if job.done() else self._progress(), rows)
            rows = job.result()
            size = path.stat().st_size
            sent = 0
            with open(path, "rb") as fh:
                while chunk := await self.run(fh.read, EXPORT_CHUNK_BYTES):
                    sent += len(chunk)
                    yield admin_pb2.ExportFrame(data=chunk)
                    yield _progress("sending", sent / size, rows, size, sent)
            yield admin_pb2.ExportFrame(done=admin_pb2.ExportDone(rows=rows, bytes=size))
            logger.info("admin: exported %d readings (%d bytes)", rows, size)
        finally:
            if job is not None and not job.done():
                self.interrupt()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await job
            path.unlink(missing_ok=True)
            self.busy = False


def _progress(phase: str, fraction: float, rows: int, total: int = 0, sent: int = 0) -> admin_pb2.ExportFrame:
    return admin_pb2.ExportFrame(progress=admin_pb2.ExportProgress(
        phase=phase, fraction=fraction, rows=rows, bytes_total=total, bytes_sent=sent))
