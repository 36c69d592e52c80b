"""DuckDB helpers shared by the edge and the hub."""

from __future__ import annotations

from typing import Any

import duckdb


def one(result: duckdb.DuckDBPyConnection) -> Any:
    """The first row of a query's result, or None; the result is read to its end.

    Never ``fetchone()`` on a cursor that then sits idle: the unfinished result keeps its read
    transaction open, and once any other cursor has committed an UPDATE or DELETE after it, DuckDB
    cannot checkpoint ("there are other write transactions active"), neither on its own nor on
    request. Measured on the edge: a gauge's ``fetchone()`` every second plus the writer's meta
    UPDATEs kept a 3,000,000-reading buffer entirely in a 116 MB WAL with 73 MB spilled to a temp
    folder, and with a 32 MB memory limit commits then failed ("failed to pin block").
    """
    rows = result.fetchall()
    return rows[0] if rows else None


def memory_bytes(cur: duckdb.DuckDBPyConnection) -> int:
    """Bytes DuckDB holds in memory for its database (cached blocks, query state): bounded by its
    ``memory_limit``, exported by both tiers as ``*_db_memory_bytes``."""
    row = one(cur.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"))
    return int(row[0]) if row else 0
