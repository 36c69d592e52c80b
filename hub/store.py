"""The hub's storage: one DuckDB file behind a small interface.

Tables: ``users``, ``edges`` (token hash, per-edge watermark ``acked_seq``), ``devices``
(auto-registered on a device's first reading), ``series`` (one row per device, sensor type and
unit, with its last value), ``sensor_data`` (every stored reading), ``parked_batches`` (malformed
batches set aside, never a poison pill), ``tracked_variables`` with ``tracked_versions`` (one
counter per edge for the tracked sync), ``flows``, ``dashboards`` and ``meta``. Flows, dashboards
and tracked variables are handled in ``hub.dashboards``.

Invariant: a batch's readings and its edge's new watermark are committed in one transaction,
and only readings above the old watermark are stored, so a batch sent twice (after any crash or
reconnect) is stored once. The watermark is carried by the rows themselves (``edge_id``,
``edge_seq``), so the common commit is one INSERT statement, atomic on its own: at start-up an edge's
watermark is the larger of ``edges.acked_seq`` (written lazily, and by parking) and its highest
stored ``edge_seq``. Only the writer thread (``Store.write``) mutates; reads run on other
threads through their own cursors (``Store.read``), so a slow query never blocks ingest.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import pyarrow as pa

from edgehub.columns import Columns
from edgehub.duck import memory_bytes, one

logger = logging.getLogger(__name__)
T = TypeVar("T")

READ_THREADS = 2  # concurrent API queries; DuckDB parallelises each query itself as well
# Series' last values, devices' last_seen and the edges' watermarks are written to DuckDB this often
# (and at close); the API reads them from memory in between. Each write is a few UPDATEs, and DuckDB
# keeps native memory from every UPDATE for a long while: written every second, the hub's RSS grew
# 0.8 MiB a minute in a 10-minute soak; not written at all, it stayed flat (docs/PERFORMANCE.md).
# What a crash loses in between is recomputed at start-up from the rows above each edge's stored
# watermark (``_recover_latest``).
LAST_VALUE_FLUSH_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    username VARCHAR PRIMARY KEY, password_hash VARCHAR NOT NULL, is_admin BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS edges (
    edge_id VARCHAR PRIMARY KEY, token_hash VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
    acked_seq BIGINT NOT NULL DEFAULT 0, last_seen TIMESTAMP);
CREATE TABLE IF NOT EXISTS devices (
    device_id VARCHAR PRIMARY KEY, name VARCHAR, edge_id VARCHAR, first_seen TIMESTAMP NOT NULL,
    last_seen TIMESTAMP, token_hash VARCHAR);
CREATE TABLE IF NOT EXISTS series (
    series_id INTEGER PRIMARY KEY, device_id VARCHAR NOT NULL, sensor_type VARCHAR NOT NULL,
    unit VARCHAR NOT NULL, last_ts TIMESTAMP, last_value DOUBLE);
CREATE TABLE IF NOT EXISTS sensor_data (
    series_id INTEGER NOT NULL, ts TIMESTAMP NOT NULL, value DOUBLE NOT NULL, edge_seq BIGINT NOT NULL,
    edge_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS parked_batches (
    edge_id VARCHAR NOT NULL, first_seq BIGINT, last_seq BIGINT, reason VARCHAR NOT NULL,
    raw BLOB NOT NULL, parked_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS tracked_variables (
    device_id VARCHAR NOT NULL, sensor_type VARCHAR NOT NULL, widget_id VARCHAR NOT NULL,
    dashboard_uuid VARCHAR NOT NULL, max_samples INTEGER NOT NULL DEFAULT 50,
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    PRIMARY KEY (widget_id, device_id, sensor_type));
CREATE TABLE IF NOT EXISTS tracked_versions (edge_id VARCHAR PRIMARY KEY, version BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS flows (
    flow_uuid VARCHAR PRIMARY KEY, owner VARCHAR NOT NULL, name VARCHAR NOT NULL, doc VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS dashboards (
    dashboard_uuid VARCHAR PRIMARY KEY, owner VARCHAR NOT NULL, name VARCHAR NOT NULL,
    widgets VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
"""


class StoreError(Exception):
    """A storage operation failed."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    watermark: int
    stored: int
    duplicates: int
    devices: tuple[str, ...] = ()


def _utc(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC).replace(tzinfo=None)


class Store:
    def __init__(self, path: Path, memory_limit: str = "256MB") -> None:
        self.path = Path(path)
        self.memory_limit = memory_limit
        self._db: duckdb.DuckDBPyConnection | None = None
        self._local = threading.local()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._readers = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="store-read")
        self._series: dict[tuple[str, str, str], int] = {}
        self._devices: dict[str, str | None] = {}  # device_id -> edge_id it last came through
        self._watermarks: dict[str, int] = {}
        # Last value per series since the last flush (series_id -> (ts_us, value)); see _flush_latest.
        self._latest: dict[int, tuple[int, float]] = {}
        self._latest_lock = threading.Lock()
        self._last_flush = 0.0
        self._persisted_wm: dict[str, int] = {}
        self._edge_seen: dict[str, datetime] = {}  # when each edge's last batch was stored

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> Store:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = duckdb.connect(str(self.path), config={"memory_limit": self.memory_limit})
        except duckdb.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        con = self._db
        con.execute(_SCHEMA)
        for sid, dev, sensor, unit in con.execute(
            "SELECT series_id, device_id, sensor_type, unit FROM series"
        ).fetchall():
            self._series[(dev, sensor, unit)] = sid
        self._devices = dict(con.execute("SELECT device_id, edge_id FROM devices").fetchall())
        self._watermarks = dict(con.execute(
            "SELECT e.edge_id, greatest(e.acked_seq, coalesce(d.seq, 0)) FROM edges e LEFT JOIN "
            "(SELECT edge_id, max(edge_seq) AS seq FROM sensor_data GROUP BY edge_id) d USING (edge_id)").fetchall())
        self._persisted_wm = dict(con.execute("SELECT edge_id, acked_seq FROM edges").fetchall())
        self._recover_latest(con)
        logger.info("store %s opened: %d edges, %d devices, %d series", self.path,
                    len(self._watermarks), len(self._devices), len(self._series))
        return self

    def _recover_latest(self, con: duckdb.DuckDBPyConnection) -> None:
        """After a crash, the last values of rows stored since the last flush were only in memory:
        the rows above an edge's stored watermark are exactly those, so take the newest of them."""
        if all(wm <= self._persisted_wm.get(e, 0) for e, wm in self._watermarks.items()):
            return
        rows = con.execute(
            "SELECT d.series_id, max(epoch_us(d.ts)), arg_max(d.value, d.ts) FROM sensor_data d "
            "JOIN edges e USING (edge_id) WHERE d.edge_seq > e.acked_seq GROUP BY d.series_id").fetchall()
        self._latest = {int(sid): (int(ts), float(v)) for sid, ts, v in rows}
        logger.info("last values of %d series recovered from the readings stored after the last flush", len(rows))
        self.flush()

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        if self._db is not None:
            self.flush()
            self._db.execute("CHECKPOINT")
            self._db.close()
            self._db = None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cur", None)
        if cur is None:
            if self._db is None:
                raise StoreError("store is not open")
            cur = self._db.cursor()
            self._local.cur = cur
        return cur

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the single writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on a reader thread."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    def db_memory(self) -> int:
        """Bytes DuckDB holds in memory for this database (blocks cached, query state)."""
        return memory_bytes(self.cursor())

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        return self.cursor().execute(sql, params or []).fetchall()

    def query_dicts(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.cursor().execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # -- meta ------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", [key])
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.cursor().execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    # -- users and edges (writer thread for mutations) -------------------------------------
    def create_user(self, username: str, password_hash: str, is_admin: bool) -> bool:
        """False when the user exists already."""
        if self.query("SELECT 1 FROM users WHERE username = ?", [username]):
            return False
        self.cursor().execute("INSERT INTO users VALUES (?, ?, ?, now())", [username, password_hash, is_admin])
        return True

    def get_user(self, username: str) -> dict[str, Any] | None:
        rows = self.query_dicts("SELECT username, password_hash, is_admin FROM users WHERE username = ?",
                                [username])
        return rows[0] if rows else None

    def create_edge(self, edge_id: str, token_hash: str) -> bool:
        if edge_id in self._watermarks:
            return False
        self.cursor().execute(
            "INSERT INTO edges (edge_id, token_hash, created_at, acked_seq) VALUES (?, ?, now(), 0)",
            [edge_id, token_hash],
        )
        self._watermarks[edge_id] = 0
        return True

    def edge_token_hash(self, edge_id: str) -> str | None:
        rows = self.query("SELECT token_hash FROM edges WHERE edge_id = ?", [edge_id])
        return rows[0][0] if rows else None

    def watermark(self, edge_id: str) -> int:
        return self._watermarks.get(edge_id, 0)

    def list_edges(self) -> list[dict[str, Any]]:
        rows = self.query_dicts(
            "SELECT edge_id, created_at, acked_seq, last_seen FROM edges WHERE NOT starts_with(edge_id, '@') "
            "ORDER BY edge_id")
        for row in rows:  # the live values; the columns are written every LAST_VALUE_FLUSH_S
            row["acked_seq"] = self._watermarks.get(row["edge_id"], row["acked_seq"])
            row["last_seen"] = self._edge_seen.get(row["edge_id"], row["last_seen"])
        return rows

    # -- ingest (writer thread) ------------------------------------------------------------
    def commit_batch(self, edge_id: str, cols: Columns) -> BatchResult:
        """Store the part of ``cols`` above the edge's watermark and advance it, atomically."""
        return self.commit_batches(edge_id, [cols])[-1]

    def commit_batches(self, edge_id: str, batches: list[Columns]) -> list[BatchResult]:
        """Group commit: several consecutive batches of one edge in one INSERT (atomic by itself).
        Each result says what its batch stored; the last one's watermark covers them all."""
        wm = self._watermarks.get(edge_id, 0)
        results: list[BatchResult] = []
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        cur = self.cursor()
        new_keys = {k for cols in batches for k in cols.keys if k not in self._series}
        if new_keys:
            self._register_series(cur, new_keys, edge_id)  # before the readings; harmless if we crash here
        for cols in batches:
            n = len(cols)
            start = int(np.searchsorted(cols.seqs, wm, side="right"))
            if start >= n:
                results.append(BatchResult(wm, 0, n))
                continue
            self._follow_moved_devices(cur, cols, edge_id)
            hub_ids = np.array([self._series[key] for key in cols.keys], dtype=np.int32)
            parts.append((hub_ids[cols.series_index[start:]], cols.ts_us[start:], cols.values[start:],
                          cols.seqs[start:]))
            wm = int(cols.seqs[-1])
            results.append(BatchResult(wm, n - start, start, tuple(sorted({k[0] for k in cols.keys}))))
        if parts:
            sids = np.concatenate([p[0] for p in parts])
            ts = np.concatenate([p[1] for p in parts])
            values = np.concatenate([p[2] for p in parts])
            seqs = np.concatenate([p[3] for p in parts])
            # One statement: the last row carries the new watermark (a batch's last_seq is its last row).
            self._insert(cur, sids, ts, values, seqs, edge_id)
            self._note_latest(sids, ts, values)
            if time.monotonic() - self._last_flush >= LAST_VALUE_FLUSH_S:
                self._flush_latest(cur)
        self._watermarks[edge_id] = wm
        self._edge_seen[edge_id] = datetime.now(UTC).replace(tzinfo=None)
        return results

    @staticmethod
    def _arrow_rows(sids: np.ndarray, ts: np.ndarray, values: np.ndarray, seqs: np.ndarray, edge_id: str) -> pa.Table:
        return pa.table({
            "series_id": pa.array(sids),
            "ts": pa.array(ts, pa.int64()).cast(pa.timestamp("us")),
            "value": pa.array(values),
            "edge_seq": pa.array(seqs),
            "edge_id": pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(seqs), dtype=np.int32)),
                                                      pa.array([edge_id])),
        })

    def _insert(self, cur: duckdb.DuckDBPyConnection, sids: np.ndarray, ts: np.ndarray, values: np.ndarray,
                seqs: np.ndarray, edge_id: str) -> None:
        arrow_rows = self._arrow_rows(sids, ts, values, seqs, edge_id)  # noqa: F841 - DuckDB replacement scan
        cur.execute("INSERT INTO sensor_data SELECT * FROM arrow_rows")

    def _follow_moved_devices(self, cur: duckdb.DuckDBPyConnection, cols: Columns, edge_id: str) -> None:
        """A device that now reports through another edge: the tracked sync must follow it."""
        for device_id in {k[0] for k in cols.keys}:
            if self._devices.get(device_id) != edge_id:
                cur.execute("UPDATE devices SET edge_id = ? WHERE device_id = ?", [edge_id, device_id])
                self._devices[device_id] = edge_id
                logger.info("device %s now reports through edge %s", device_id, edge_id)

    def _note_latest(self, sids: np.ndarray, ts: np.ndarray, values: np.ndarray) -> None:
        latest = self._latest_per_series(sids, ts, values)
        with self._latest_lock:
            for sid, t, v in zip(latest["series_id"].to_pylist(), latest["ts_us"].to_pylist(),
                                 latest["value"].to_pylist(), strict=True):
                known = self._latest.get(sid)
                if known is None or t >= known[0]:
                    self._latest[sid] = (t, v)

    def _flush_latest(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Write the last value of each series (and devices' last_seen) that changed since the last flush,
        and the edges' watermarks: a few statements every LAST_VALUE_FLUSH_S instead of on every commit."""
        with self._latest_lock:
            dirty, self._latest = self._latest, {}
        self._last_flush = time.monotonic()
        for edge_id, wm in self._watermarks.items():
            if self._persisted_wm.get(edge_id) != wm:
                cur.execute("UPDATE edges SET acked_seq = ?, last_seen = coalesce(?, now()) WHERE edge_id = ?",
                            [wm, self._edge_seen.get(edge_id), edge_id])
                self._persisted_wm[edge_id] = wm
        if not dirty:
            return
        arrow_latest = pa.table({  # noqa: F841 - read by name below (DuckDB replacement scan)
            "series_id": pa.array(list(dirty), pa.int32()),
            "ts": pa.array([t for t, _ in dirty.values()], pa.int64()).cast(pa.timestamp("us")),
            "value": pa.array([v for _, v in dirty.values()], pa.float64()),
        })
        cur.execute(
            "UPDATE series SET last_ts = l.ts, last_value = l.value FROM arrow_latest l "
            "WHERE series.series_id = l.series_id AND (series.last_ts IS NULL OR l.ts >= series.last_ts)"
        )
        cur.execute(
            "UPDATE devices SET last_seen = m.ts FROM (SELECT s.device_id, max(l.ts) AS ts FROM arrow_latest l "
            "JOIN series s USING (series_id) GROUP BY s.device_id) m "
            "WHERE devices.device_id = m.device_id AND (devices.last_seen IS NULL OR m.ts > devices.last_seen)"
        )

    def flush(self) -> None:
        """Write pending last values now (writer thread)."""
        cur = self.cursor()
        cur.execute("BEGIN TRANSACTION")
        self._flush_latest(cur)
        cur.execute("COMMIT")

    @staticmethod
    def _latest_per_series(sids: np.ndarray, ts: np.ndarray, values: np.ndarray) -> pa.Table:
        order = np.lexsort((ts, sids))
        s_sorted = sids[order]
        last = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
        pick = order[last]
        return pa.table({
            "series_id": pa.array(sids[pick]),
            "ts_us": pa.array(ts[pick], pa.int64()),
            "value": pa.array(values[pick]),
        })

    def _register_series(self, cur: duckdb.DuckDBPyConnection, keys: set[tuple[str, str, str]],
                         edge_id: str) -> None:
        """Add new series (and devices, on their first reading) with one insert each, not one per row:
        a first batch from a site can bring thousands of them."""
        if not keys:
            return
        new_devices = sorted({k[0] for k in keys} - self._devices.keys())
        if new_devices:
            arrow_new_devices = pa.table({  # noqa: F841 - read by name below (DuckDB replacement scan)
                "device_id": pa.array(new_devices), "edge_id": pa.array([edge_id] * len(new_devices))})
            cur.execute("INSERT INTO devices (device_id, name, edge_id, first_seen) "
                        "SELECT device_id, device_id, edge_id, now() FROM arrow_new_devices")
            for device_id in new_devices:
                self._devices[device_id] = edge_id
            logger.info("%d devices registered (first readings via edge %s): %s", len(new_devices), edge_id,
                        ", ".join(new_devices[:5]) + (" ..." if len(new_devices) > 5 else ""))
        row = one(cur.execute("SELECT coalesce(max(series_id), 0) FROM series"))
        first = int(row[0]) + 1 if row else 1
        ordered = sorted(keys)
        arrow_new_series = pa.table({  # noqa: F841 - read by name below (DuckDB replacement scan)
            "series_id": pa.array(range(first, first + len(ordered)), pa.int32()),
            "device_id": pa.array([k[0] for k in ordered]),
            "sensor_type": pa.array([k[1] for k in ordered]),
            "unit": pa.array([k[2] for k in ordered]),
        })
        cur.execute("INSERT INTO series (series_id, device_id, sensor_type, unit) SELECT * FROM arrow_new_series")
        for i, key in enumerate(ordered):
            self._series[key] = first + i

    def _reload_keys(self, cur: duckdb.DuckDBPyConnection) -> None:
        self._series = {(d, s, u): i for i, d, s, u in cur.execute(
            "SELECT series_id, device_id, sensor_type, unit FROM series").fetchall()}
        self._devices = dict(cur.execute("SELECT device_id, edge_id FROM devices").fetchall())

    def park_batch(self, edge_id: str, first_seq: int, last_seq: int, reason: str, raw: bytes) -> int:
        """Set a malformed batch aside and move the watermark past it, so it never blocks the edge."""
        wm = self._watermarks.get(edge_id, 0)
        new_wm = max(wm, last_seq)
        cur = self.cursor()
        cur.execute("BEGIN TRANSACTION")
        # The new watermark passes rows whose last values may be in memory only: write them first,
        # or a crash would leave them out of _recover_latest.
        self._flush_latest(cur)
        cur.execute("INSERT INTO parked_batches VALUES (?, ?, ?, ?, ?, now())",
                    [edge_id, first_seq, last_seq, reason, raw])
        cur.execute("UPDATE edges SET acked_seq = ?, last_seen = now() WHERE edge_id = ?", [new_wm, edge_id])
        cur.execute("COMMIT")
        self._watermarks[edge_id] = new_wm
        self._persisted_wm[edge_id] = new_wm
        logger.error("parked batch %d-%d from edge %s: %s", first_seq, last_seq, edge_id, reason)
        return new_wm

    # -- queries (reader threads) ----------------------------------------------------------
    def list_devices(self) -> list[dict[str, Any]]:
        devices = self.query_dicts(
            "SELECT device_id, name, edge_id, first_seen, last_seen, token_hash IS NOT NULL AS direct "
            "FROM devices ORDER BY name, device_id")
        sensors: dict[str, list[dict[str, Any]]] = {}
        with self._latest_lock:
            pending = dict(self._latest)
        seen: dict[str, datetime] = {}
        for row in self.query_dicts(
            "SELECT series_id, device_id, sensor_type, unit, last_ts, last_value FROM series "
            "ORDER BY sensor_type, unit"
        ):
            fresh = pending.get(row.pop("series_id"))
            if fresh is not None and (row["last_ts"] is None or _utc(fresh[0]) >= row["last_ts"]):
                row["last_ts"], row["last_value"] = _utc(fresh[0]), fresh[1]
            if row["last_ts"] is not None and (row["device_id"] not in seen or row["last_ts"] > seen[row["device_id"]]):
                seen[row["device_id"]] = row["last_ts"]
            sensors.setdefault(row.pop("device_id"), []).append(row)
        for d in devices:
            d["sensors"] = sensors.get(d["device_id"], [])
            newest = seen.get(d["device_id"])
            if newest is not None and (d["last_seen"] is None or newest > d["last_seen"]):
                d["last_seen"] = newest
        return devices

    def device_exists(self, device_id: str) -> bool:
        return bool(self.query("SELECT 1 FROM devices WHERE device_id = ?", [device_id]))

    def readings(
        self,
        device_id: str,
        sensor_type: str | None = None,
        from_us: int | None = None,
        to_us: int | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Readings oldest first. With ``from``: the first ``limit`` from there on; without it:
        the newest ``limit`` (before ``to``), still oldest first."""
        where = ["s.device_id = ?"]
        params: list[Any] = [device_id]
        if sensor_type:
            where.append("s.sensor_type = ?")
            params.append(sensor_type)
        if from_us is not None:
            where.append("d.ts >= ?")
            params.append(_utc(from_us))
        if to_us is not None:
            where.append("d.ts <= ?")
            params.append(_utc(to_us))
        order = "ASC" if from_us is not None else "DESC"
        sql = (
            "SELECT epoch_us(d.ts) AS ts_us, d.value, s.unit, s.sensor_type FROM sensor_data d "
            f"JOIN series s USING (series_id) WHERE {' AND '.join(where)} "
            f"ORDER BY d.ts {order}, d.edge_seq {order} LIMIT ?"
        )
        rows = self.query(sql, [*params, limit])
        if order == "DESC":
            rows.reverse()
        return [
            {"timestamp": iso_us(ts), "value": v, "unit": u, "sensor_type": st} for ts, v, u, st in rows
        ]

    def series_tail(self, device_id: str, sensor_type: str, n: int) -> list[tuple[int, int, float, str]]:
        """The newest ``n`` readings of a device's sensor as (ts_us, seq, value, unit), oldest first."""
        rows = self.query(
            "SELECT epoch_us(d.ts), d.edge_seq, d.value, s.unit FROM sensor_data d JOIN series s USING (series_id) "
            "WHERE s.device_id = ? AND s.sensor_type = ? ORDER BY d.ts DESC, d.edge_seq DESC LIMIT ?",
            [device_id, sensor_type, n])
        rows.reverse()
        return [(int(t), int(q), float(v), str(u)) for t, q, v, u in rows]

    def readings_bucketed(self, device_id: str, sensor_type: str, from_us: int | None, to_us: int | None,
                          max_points: int) -> list[dict[str, Any]]:
        """At most ``max_points`` points over the range: raw readings when they fit, else equal time
        buckets with min, max and mean (for zoomed-out charts)."""
        where = "s.device_id = ? AND s.sensor_type = ?"
        params: list[Any] = [device_id, sensor_type]
        if from_us is not None:
            where += " AND d.ts >= ?"
            params.append(_utc(from_us))
        if to_us is not None:
            where += " AND d.ts <= ?"
            params.append(_utc(to_us))
        base = f"FROM sensor_data d JOIN series s USING (series_id) WHERE {where}"
        row = self.query(f"SELECT count(*), min(epoch_us(d.ts)), max(epoch_us(d.ts)) {base}", params)[0]
        count, lo, hi = int(row[0]), row[1], row[2]
        if count == 0:
            return []
        if count <= max_points:
            rows = self.query(f"SELECT epoch_us(d.ts), d.value, s.unit {base} ORDER BY d.ts, d.edge_seq", params)
            return [{"timestamp": iso_us(t), "value": v, "min": v, "max": v, "count": 1, "unit": u,
                     "sensor_type": sensor_type} for t, v, u in rows]
        start = from_us if from_us is not None else int(lo)
        end = to_us if to_us is not None else int(hi)
        width = max(1, -(-(end - start + 1) // max_points))  # ceil, so buckets <= max_points
        rows = self.query(
            f"SELECT (epoch_us(d.ts) - ?) // ? AS b, min(d.value), max(d.value), avg(d.value), count(*), "
            f"any_value(s.unit) {base} GROUP BY b ORDER BY b", [start, width, *params])
        return [{"timestamp": iso_us(start + int(b) * width), "value": mean, "min": mn, "max": mx,
                 "count": int(n), "unit": u, "sensor_type": sensor_type} for b, mn, mx, mean, n, u in rows]

    def create_device(self, device_id: str, name: str, token_hash: str) -> bool:
        if device_id in self._devices:
            return False
        self.cursor().execute(
            "INSERT INTO devices (device_id, name, edge_id, first_seen, token_hash) VALUES (?, ?, NULL, now(), ?)",
            [device_id, name, token_hash])
        self._devices[device_id] = None
        return True

    def rename_device(self, device_id: str, name: str) -> bool:
        if device_id not in self._devices:
            return False
        self.cursor().execute("UPDATE devices SET name = ? WHERE device_id = ?", [name, device_id])
        return True

    def device_for_token(self, token_hash: str) -> str | None:
        rows = self.query("SELECT device_id FROM devices WHERE token_hash = ?", [token_hash])
        return str(rows[0][0]) if rows else None

    def ensure_edge(self, edge_id: str) -> None:
        """A pseudo-edge (direct device ingest) that no token can open: it only carries a watermark."""
        if edge_id not in self._watermarks:
            self.cursor().execute(
                "INSERT INTO edges (edge_id, token_hash, created_at, acked_seq) VALUES (?, '!', now(), 0)", [edge_id])
            self._watermarks[edge_id] = 0

    def count_readings(self) -> int:
        row = self.query("SELECT count(*) FROM sensor_data")
        return int(row[0][0])


def iso_us(ts_us: int) -> str:
    """Epoch microseconds -> ``2025-07-09T07:15:02Z`` (fraction only when there is one)."""
    secs, us = divmod(int(ts_us), 1_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if us:
        frac = f"{us:06d}".rstrip("0")
        return f"{base}.{frac}Z"
    return f"{base}Z"
