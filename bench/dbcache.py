"""Where a long-running hub's or edge's memory goes as its DuckDB file grows.

``python -m bench.dbcache [--tier hub|edge] [--rows 8000000] [--batch 2000] [--memory-limit 64MB]``

Appends batches through the product's own ``Store.commit_batch`` (hub) or ``Buffer.commit`` (edge)
to a fresh file in one process and prints, every tenth of the run, the process RSS, the memory
DuckDB reports for itself (``duckdb_memory()``: its block cache and query state) and the file
size. DuckDB keeps the blocks it writes cached until its ``memory_limit``; the run shows RSS
growing with the file until the cache reaches that limit and staying flat afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.soak import rss_mib

KEYS = [(f"dev-{i:03d}", s, u) for i in range(50)
        for s, u in (("temperature", "°C"), ("humidity", "%"), ("pressure", "hPa"), ("vibration", "mm/s"))]
T0_US = 1_750_000_000_000_000
# (append(first_row, n), DuckDB's memory in bytes, close)
Appender = tuple[Callable[[int, int], None], Callable[[], int], Callable[[], None]]


def hub_appender(tmp: Path, memory_limit: str) -> Appender:
    from edgehub.columns import Columns
    from hub.store import Store

    store = Store(tmp / "hub.duckdb", memory_limit).open()
    store.create_edge("cache", "x")

    def append(first: int, n: int) -> None:
        seqs = np.arange(first, first + n, dtype=np.int64)
        values = 20.0 + (seqs % 1000) / 100  # distinct values: the file grows as with real readings
        store.commit_batch("cache", Columns(KEYS, (seqs % len(KEYS)).astype(np.uint32), seqs, T0_US + seqs * 1000,
                                            values))

    return append, store.db_memory, store.close


def edge_appender(tmp: Path, memory_limit: str) -> Appender:
    from edge.buffer import Buffer, BufferConfig
    from edge.payload import Readings

    buf = Buffer(BufferConfig(path=tmp / "buffer.duckdb", memory_limit=memory_limit))
    buf.open()

    def append(first: int, n: int) -> None:
        idx = range(first, first + n)
        buf.commit(Readings([KEYS[i % len(KEYS)] for i in idx], [T0_US + i * 1000 for i in idx],
                            [20.0 + (i % 1000) / 100 for i in idx]), [(0, first % 65535 + 1, first)])

    def db_memory() -> int:
        buf.housekeeping(force=True)
        return buf.db_memory

    return append, db_memory, buf.close


def file_mib(tmp: Path) -> float:
    return sum(p.stat().st_size for p in tmp.iterdir()) / 2**20


def run(tier: str, rows: int, batch: int, memory_limit: str) -> list[tuple[int, float, float, float]]:
    tmp = Path(tempfile.mkdtemp(prefix=f"edgehub-dbcache-{tier}-", dir="/tmp"))
    make = hub_appender if tier == "hub" else edge_appender
    append, db_memory, close = make(tmp, memory_limit)
    out: list[tuple[int, float, float, float]] = []
    try:
        step = max(batch, rows // 10 // batch * batch)
        done = 0
        append(1, batch)
        done += batch
        out.append((done, rss_mib_self(), db_memory() / 2**20, file_mib(tmp)))
        while done < rows:
            n = min(batch, rows - done)
            append(done + 1, n)
            done += n
            if done % step == 0 or done == rows:
                out.append((done, rss_mib_self(), db_memory() / 2**20, file_mib(tmp)))
                print(f"  {done:>12,} rows  RSS {out[-1][1]:7.1f} MiB  DuckDB {out[-1][2]:6.1f} MiB", file=sys.stderr)
    finally:
        close()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def rss_mib_self() -> float:
    return rss_mib(os.getpid())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.dbcache", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tier", choices=("hub", "edge"), default="hub")
    ap.add_argument("--rows", type=int, default=8_000_000)
    ap.add_argument("--batch", type=int, default=2_000)
    ap.add_argument("--memory-limit", default="64MB", help="DuckDB memory_limit of the store or buffer")
    args = ap.parse_args(argv)
    started = time.monotonic()
    rows = run(args.tier, args.rows, args.batch, args.memory_limit)
    print(f"{args.tier}: {args.rows:,} rows in batches of {args.batch:,}, DuckDB memory_limit {args.memory_limit}, "
          f"{time.monotonic() - started:.0f} s")
    print("| rows | RSS (MiB) | DuckDB memory (MiB) | RSS − DuckDB (MiB) | file (MiB) |")
    print("|---:|---:|---:|---:|---:|")
    for n, rss, db, size in rows:
        print(f"| {n:,} | {rss:.1f} | {db:.1f} | {rss - db:.1f} | {size:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
