"""The edge's durable reading buffer: one DuckDB file, bounded in rows and bytes.

Lifecycle of a reading: **write** (group commit; its sequence number is assigned inside the
transaction that stores it) → **PUBACK** to the broker (only after that commit) → **send** on the
uplink → **ack** (the hub's watermark passed its sequence number) → **delete** (in bulk, once it is
older than the retention window, or earlier when the buffer is full).

Invariants
- Sequence numbers strictly increase and are never reused: numbering resumes after the highest
  ``seq`` in ``readings``, or after ``meta.last_seq``, which is written before any delete.
- An unacked reading is deleted only by the bound policy (buffer full: acked readings go first,
  then the oldest unacked ones), and every such drop is counted in ``meta.dropped_unacked``; an
  admin's purge (``purge_before``) may delete unacked ones too, counted in ``meta.purged_unacked``.
- The first reading of each message carries the message's MQTT packet id and payload digest
  (``mid``, ``digest``; NULL on the other rows), written by the same statement as the readings.
  After a crash between commit and PUBACK the broker redelivers those messages with ``dup`` set; a
  match among the last messages stored is acked without being stored again (see ARCHITECTURE.md,
  "Edge → device acknowledgement"). A message whose readings were all rejected stores nothing, so
  storing nothing again on its redelivery is already right.
- A group commit is therefore one INSERT, atomic on its own: each DuckDB statement costs a fraction
  of a millisecond of CPU from Python, and at moderate rates commits are the edge's largest cost.
- Only the writer thread mutates the file (``commit``, ``enforce_bounds``, ``apply_retention``,
  ``persist``); any thread may read through its own cursor.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from edge.errors import BufferError
from edge.payload import Readings, SeriesKey
from edgehub.duck import memory_bytes, one

logger = logging.getLogger(__name__)

# Deleting down to 90 % of a bound, not to 100 %, turns a full buffer into one bulk delete per
# few hundred thousand readings instead of one per commit.
BOUND_HYSTERESIS = 0.9
# How often (seconds) the writer measures the file and applies retention; both cost a query.
HOUSEKEEPING_INTERVAL_S = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    series_id INTEGER PRIMARY KEY, device_id VARCHAR NOT NULL, sensor_type VARCHAR NOT NULL,
    unit VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS readings (seq BIGINT NOT NULL, series_id INTEGER NOT NULL,
    ts_us BIGINT NOT NULL, value DOUBLE NOT NULL, mid INTEGER, digest BIGINT);
CREATE TABLE IF NOT EXISTS meta (key VARCHAR NOT NULL, value BIGINT NOT NULL);
"""
_META_KEYS = ("last_seq", "acked_seq", "dropped_unacked", "dropped_acked", "purged_unacked")
# Messages checked for redelivery after a restart: every packet id MQTT can have in flight.
RECOVER_MESSAGES = 65_535


@dataclass(frozen=True)
class BufferConfig:
    path: Path
    max_rows: int = 50_000_000
    max_bytes: int = 4 * 1024**3
    retention_s: float = 24 * 3600.0
    # DuckDB's own cache. It keeps the blocks it writes up to this limit (docs/DESIGN.md, "Memory");
    # the backlog lives on disk and is read back in ranges, so a larger cache only holds more of it.
    memory_limit: str = os.environ.get("EDGEHUB_BUFFER_MEMORY_LIMIT", "24MB")
    threads: int = 2


@dataclass(slots=True)
class Chunk:
    """Readings in sequence order, one numpy array per column."""

    seqs: np.ndarray
    series_ids: np.ndarray
    ts_us: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.seqs)

    @property
    def first_seq(self) -> int:
        return int(self.seqs[0])

    @property
    def last_seq(self) -> int:
        return int(self.seqs[-1])


@dataclass(frozen=True, slots=True)
class Committed:
    """What one group commit wrote."""

    first_seq: int
    last_seq: int
    commit_id: int

    @property
    def count(self) -> int:
        return self.last_seq - self.first_seq + 1 if self.last_seq >= self.first_seq else 0


class Buffer:
    """The DuckDB buffer. Use as a context manager: ``with Buffer(cfg) as buf: ...``."""

    def __init__(self, config: BufferConfig) -> None:
        self.config = config
        self._db: duckdb.DuckDBPyConnection | None = None
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._series: dict[SeriesKey, int] = {}
        self._keys: list[SeriesKey] = []
        self._series_lock = threading.Lock()
        # Serialises the mutating methods: the writer thread's commits and housekeeping, and an
        # admin's purge from another thread. Uncontended in normal operation.
        self._write_lock = threading.RLock()
        self.purged_unacked = 0
        self.last_seq = 0
        self._persisted_last_seq = 0
        self.seq_floor = 0  # raised by the uplink when the hub's watermark is ahead (a wiped buffer)
        self.acked_seq = 0
        self._persisted_acked = 0
        self.rows = 0
        self.bytes_used = 0
        self.db_memory = 0  # bytes DuckDB holds in memory (its block cache), bounded by memory_limit
        self.dropped_unacked = 0
        self.dropped_acked = 0
        # Unacked readings deleted by the bound policy or a purge leave gaps above the hub's
        # watermark: until it passes the highest of them, last_seq - acked_seq overstates the
        # backlog, so ``count_backlog`` counts it (after such a delete and on every gauge tick).
        self._gaps_until = 0
        self._counted = (0, 0)  # (last_seq, readings stored above the watermark) when last counted
        self.commit_id = 0
        self.recovered: set[tuple[int, int]] = set()
        self._keep_recovered = True
        self._last_housekeeping = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Buffer:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        path = Path(self.config.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = duckdb.connect(
                str(path),
                config={"memory_limit": self.config.memory_limit, "threads": self.config.threads},
            )
        except duckdb.Error as exc:
            raise BufferError(f"cannot open buffer {path}: {exc}") from exc
        con = self._db
        con.execute(_SCHEMA)
        have = {k for (k,) in con.execute("SELECT key FROM meta").fetchall()}
        for key in _META_KEYS:
            if key not in have:
                con.execute("INSERT INTO meta VALUES (?, 0)", [key])
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        last = one(con.execute("SELECT coalesce(max(seq), 0) FROM readings"))
        self.last_seq = max(int(last[0]) if last else 0, meta["last_seq"])
        self._persisted_last_seq = meta["last_seq"]
        self.acked_seq = self._persisted_acked = meta["acked_seq"]
        # A persisted watermark may be ahead of last_seq (learned from the hub after a wipe).
        self.seq_floor = self.acked_seq
        self.dropped_unacked = meta["dropped_unacked"]
        self.dropped_acked = meta["dropped_acked"]
        self.purged_unacked = meta["purged_unacked"]
        self.commit_id = 1
        for sid, dev, sensor, unit in con.execute(
            "SELECT series_id, device_id, sensor_type, unit FROM series ORDER BY series_id"
        ).fetchall():
            self._series[(dev, sensor, unit)] = sid
            self._keys.append((dev, sensor, unit))
        row = one(con.execute("SELECT count(*) FROM readings"))
        self.rows = row[0] if row else 0
        if self.count_backlog() != max(0, self.last_seq - self.acked_seq):
            self._gaps_until = self.last_seq  # deleted before this start; counted until acked past
        self.recovered = {(m, d) for m, d in con.execute(
            "SELECT mid, digest FROM readings WHERE mid IS NOT NULL ORDER BY seq DESC LIMIT ?",
            [RECOVER_MESSAGES]).fetchall()}
        self._measure_bytes()
        logger.info(
            "buffer %s opened: %d readings, last_seq=%d, acked_seq=%d, %d messages awaiting PUBACK check",
            path, self.rows, self.last_seq, self.acked_seq, len(self.recovered),
        )

    def close(self) -> None:
        if self._db is not None:
            with self._write_lock:
                self._persist_acked(self._cursor())
                self._persist_last_seq(self._cursor())
            for cur in self._cursors:
                cur.close()
            self._cursors.clear()
            self._local = threading.local()
            try:
                self._db.execute("CHECKPOINT")
            except duckdb.Error:
                logger.exception("checkpoint on close failed")
            self._db.close()
            self._db = None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor, for read-only work such as exports (progress and interrupt are per cursor)."""
        return self._cursor()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of this thread (DuckDB connections must not be shared between threads)."""
        cur = getattr(self._local, "cur", None)
        if cur is None:
            if self._db is None:
                raise BufferError("buffer is not open")
            cur = self._db.cursor()
            self._local.cur = cur
            self._cursors.append(cur)
        return cur

    # -- writer thread ---------------------------------------------------------------------
    def commit(self, readings: Readings, marks: Iterable[tuple[int, int, int]] = (),
               fresh: bool = True) -> Committed:
        """Store ``readings`` in one statement; ``marks`` are (index of a message's first reading, packet
        id, digest) for each message that brought readings. Returns the sequence range assigned.
        ``fresh`` says a message without ``dup`` was among them: the broker finished redelivering."""
        with self._write_lock:
            return self._commit(readings, list(marks), fresh)

    def _commit(self, readings: Readings, marks: list[tuple[int, int, int]], fresh: bool) -> Committed:
        cur = self._cursor()
        n = len(readings)
        base = max(self.last_seq, self.seq_floor)
        first = base + 1
        last = base + n
        commit_id = self.commit_id
        if n:
            keys = readings.keys
            series = self._series
            sids = list(map(series.get, keys))
            if None in sids:
                # A new series is inserted on its own first; if the reading insert then fails, it just waits.
                sids = [series[k] if k in series else self._add_series(cur, k) for k in keys]
            mids = np.zeros(n, dtype=np.int32)  # 0: not a message's first reading (MQTT packet ids are 1-65535)
            digests = np.zeros(n, dtype=np.int64)
            for index, mid, digest in marks:
                mids[index], digests[index] = mid, digest
            batch = {  # noqa: F841 - read by name in the INSERT below (DuckDB's scan of a dict of numpy arrays)
                "seq": np.arange(first, last + 1, dtype=np.int64),
                "series_id": np.array(sids, dtype=np.int32),
                "ts_us": np.array(readings.ts_us, dtype=np.int64),
                "value": np.array(readings.values, dtype=np.float64),
                "mid": mids,
                "digest": digests,
            }
            cur.execute("INSERT INTO readings SELECT seq, series_id, ts_us, value, nullif(mid, 0), "
                        "CASE WHEN mid = 0 THEN NULL ELSE digest END FROM batch")
        # A fresh (non-dup) message means the broker finished redelivering what it had before a restart.
        if fresh and self._keep_recovered:
            self._keep_recovered = False
            self.recovered.clear()
        self.last_seq = last if n else self.last_seq
        self.rows += n
        self.commit_id += 1
        return Committed(first, last, commit_id)

    def _add_series(self, cur: duckdb.DuckDBPyConnection, key: SeriesKey) -> int:
        with self._series_lock:
            sid = len(self._keys) + 1
            cur.execute("INSERT INTO series VALUES (?, ?, ?, ?)", [sid, *key])
            self._series[key] = sid
            self._keys.append(key)
        return sid

    def _reload_series(self, cur: duckdb.DuckDBPyConnection) -> None:
        with self._series_lock:
            self._series.clear()
            self._keys.clear()
            for sid, dev, sensor, unit in cur.execute(
                "SELECT series_id, device_id, sensor_type, unit FROM series ORDER BY series_id"
            ).fetchall():
                self._series[(dev, sensor, unit)] = sid
                self._keys.append((dev, sensor, unit))

    def _persist_acked(self, cur: duckdb.DuckDBPyConnection) -> None:
        acked = self.acked_seq
        if acked != self._persisted_acked:
            cur.execute("UPDATE meta SET value = ? WHERE key = 'acked_seq'", [acked])
            self._persisted_acked = acked

    def _persist_last_seq(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Before rows are deleted: numbering must not restart if the newest rows go too."""
        if self.last_seq != self._persisted_last_seq:
            cur.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", [self.last_seq])
            self._persisted_last_seq = self.last_seq

    def housekeeping(self, now_us: int | None = None, force: bool = False) -> None:
        """Persist the ack watermark, apply retention and the bounds; cheap when called often."""
        now = time.monotonic()
        if not force and now - self._last_housekeeping < HOUSEKEEPING_INTERVAL_S:
            return
        self._last_housekeeping = now
        with self._write_lock:
            cur = self._cursor()
            self._persist_acked(cur)
            self.apply_retention(now_us if now_us is not None else time.time_ns() // 1000)
            self._measure_bytes()
            self.enforce_bounds()

    def apply_retention(self, now_us: int) -> int:
        """Delete acked readings older than the retention window, in one statement."""
        cutoff = now_us - int(self.config.retention_s * 1_000_000)
        cur = self._cursor()
        self._persist_last_seq(cur)
        deleted = _deleted(cur.execute("DELETE FROM readings WHERE seq <= ? AND ts_us < ?", [self.acked_seq, cutoff]))
        if deleted:
            self.rows -= deleted
            logger.info("retention: deleted %d acked readings older than %.0f s", deleted,
                        self.config.retention_s)
        return deleted

    def enforce_bounds(self) -> int:
        """When over a bound, delete acked readings first, then the oldest unacked ones."""
        cfg = self.config
        excess_rows = self.rows - cfg.max_rows
        excess_bytes = self.bytes_used - cfg.max_bytes
        if excess_rows <= 0 and excess_bytes <= 0:
            return 0
        per_row = self.bytes_used / self.rows if self.rows else 32.0
        target_rows = min(
            int(cfg.max_rows * BOUND_HYSTERESIS),
            int(cfg.max_bytes * BOUND_HYSTERESIS / max(per_row, 1.0)),
        )
        to_free = self.rows - target_rows
        if to_free <= 0:
            return 0
        cur = self._cursor()
        self._persist_last_seq(cur)
        row = one(cur.execute(
            "SELECT max(seq) FROM (SELECT seq FROM readings ORDER BY seq LIMIT ?)", [to_free]))
        cutoff = row[0] if row and row[0] is not None else 0
        acked_cut = min(cutoff, self.acked_seq)
        cur.execute("BEGIN TRANSACTION")
        acked_n = _deleted(cur.execute("DELETE FROM readings WHERE seq <= ?", [acked_cut]))
        unacked_n = 0
        if cutoff > acked_cut:
            unacked_n = _deleted(cur.execute("DELETE FROM readings WHERE seq <= ?", [cutoff]))
        self.dropped_acked += acked_n
        self.dropped_unacked += unacked_n
        cur.execute("UPDATE meta SET value = ? WHERE key = 'dropped_acked'", [self.dropped_acked])
        cur.execute("UPDATE meta SET value = ? WHERE key = 'dropped_unacked'", [self.dropped_unacked])
        cur.execute("COMMIT")
        cur.execute("CHECKPOINT")
        self.rows -= acked_n + unacked_n
        if unacked_n:
            self._unacked_deleted_up_to(cutoff)
        self._measure_bytes()
        level = logging.WARNING if unacked_n else logging.INFO
        logger.log(level, "buffer full: deleted %d acked and %d UNACKED readings (up to seq %d)",
                   acked_n, unacked_n, cutoff)
        return acked_n + unacked_n

    def purge_before(self, before_us: int) -> tuple[int, int]:
        """Delete every reading with a timestamp before ``before_us``, acked or not (an admin's
        decision: the unacked ones will never reach the hub). Returns (acked, unacked) deleted."""
        with self._write_lock:
            cur = self._cursor()
            self._persist_last_seq(cur)
            cur.execute("BEGIN TRANSACTION")
            try:
                acked = _deleted(cur.execute("DELETE FROM readings WHERE ts_us < ? AND seq <= ?",
                                             [before_us, self.acked_seq]))
                top = one(cur.execute("SELECT max(seq) FROM readings WHERE ts_us < ?", [before_us]))
                unacked = _deleted(cur.execute("DELETE FROM readings WHERE ts_us < ?", [before_us]))
                cur.execute("UPDATE meta SET value = ? WHERE key = 'purged_unacked'",
                            [self.purged_unacked + unacked])
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                raise
            self.rows -= acked + unacked
            self.purged_unacked += unacked
            if unacked and top and top[0] is not None:
                self._unacked_deleted_up_to(int(top[0]))
            self._measure_bytes()
        logger.warning("admin purge before %d: deleted %d acked and %d unacked readings", before_us, acked, unacked)
        return acked, unacked

    def _measure_bytes(self) -> None:
        cur = self._cursor()
        row = one(cur.execute("SELECT block_size * used_blocks FROM pragma_database_size()"))
        self.bytes_used = int(row[0]) if row and row[0] is not None else 0
        self.db_memory = memory_bytes(cur)

    # -- any thread ------------------------------------------------------------------------
    def read_after(self, after_seq: int, limit: int) -> Chunk | None:
        """Up to ``limit`` readings with seq > ``after_seq``, in order; None when there are none."""
        cur = self._cursor()
        while after_seq < self.last_seq:
            cols = cur.execute(
                "SELECT seq, series_id, ts_us, value FROM readings WHERE seq > ? AND seq <= ? ORDER BY seq",
                [after_seq, after_seq + limit],
            ).fetchnumpy()
            if len(cols["seq"]):
                return Chunk(
                    np.asarray(cols["seq"], dtype=np.int64),
                    np.asarray(cols["series_id"], dtype=np.int32),
                    np.asarray(cols["ts_us"], dtype=np.int64),
                    np.asarray(cols["value"], dtype=np.float64),
                )
            # A gap (readings dropped when the buffer was full): jump to the next stored one.
            row = one(cur.execute("SELECT min(seq) FROM readings WHERE seq > ?", [after_seq]))
            if not row or row[0] is None:
                return None
            after_seq = row[0] - 1
        return None

    def series_key(self, series_id: int) -> SeriesKey:
        return self._keys[series_id - 1]

    def series_keys(self) -> list[SeriesKey]:
        """Keys by ``series_id - 1``; append-only, so a reader may index it without the lock."""
        return self._keys

    def mark_acked(self, watermark: int) -> None:
        """The hub has committed everything up to ``watermark`` (persisted by the writer)."""
        if watermark > max(self.last_seq, self.seq_floor):
            # The hub saw sequence numbers this buffer never wrote: the file was wiped or replaced.
            # New readings must number above the watermark, or the hub would drop them as duplicates.
            logger.warning("hub watermark %d is ahead of this buffer (last_seq %d): numbering "
                           "new readings after it", watermark, self.last_seq)
            self.seq_floor = watermark
        if watermark > self.acked_seq:
            self.acked_seq = watermark

    @property
    def backlog(self) -> int:
        """Readings stored that the hub has not acknowledged."""
        span = max(0, self.last_seq - self.acked_seq)
        if not self.has_gaps:
            return span
        last, stored = self._counted
        # Commits since the count add to it; acks since then show at the next count (a gauge tick).
        return min(span, stored + self.last_seq - last)

    @property
    def has_gaps(self) -> bool:
        """Whether deleted unacked readings lie above the hub's watermark (see ``count_backlog``)."""
        return self.acked_seq < self._gaps_until

    def _unacked_deleted_up_to(self, seq: int) -> None:
        """Unacked readings up to ``seq`` are gone: count the backlog until the watermark passes it."""
        self._gaps_until = max(self._gaps_until, seq)
        self.count_backlog()

    def count_backlog(self) -> int:
        """Count the readings stored above the hub's watermark (any thread)."""
        acked, last = self.acked_seq, self.last_seq
        row = one(self._cursor().execute(
            "SELECT count(*) FROM readings WHERE seq > ? AND seq <= ?", [acked, last]))
        stored = int(row[0]) if row else 0
        self._counted = (last, stored)
        return stored

    def oldest_unacked_ts_us(self) -> int | None:
        row = one(self._cursor().execute(
            "SELECT ts_us FROM readings WHERE seq > ? ORDER BY seq LIMIT 1", [self.acked_seq]))
        return int(row[0]) if row else None

    def query(self, sql: str, params: list[object] | None = None) -> list[tuple]:
        """Run a read-only query on this thread's cursor (admin tools, tests)."""
        return self._cursor().execute(sql, params or []).fetchall()


def _deleted(cur: duckdb.DuckDBPyConnection) -> int:
    """The row count a DELETE reports (not RETURNING rows: fetching millions of them exhausts memory)."""
    row = one(cur)
    return int(row[0]) if row else 0
