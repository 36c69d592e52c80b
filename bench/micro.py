"""Component costs, measured in this process with the product's own classes: where the time of a
reading goes on the edge and on the hub, independent of the broker and the link.

- ``payload.parse`` of a single-reading and of a 100-reading message (paho's network thread),
- the redelivery digest of a message (``ingest.payload_digest``, same thread),
- ``Buffer.commit`` (edge writer thread) and ``Store.commit_batch`` (hub writer thread) of
  1, 100 and 10,000 readings: the fixed cost of one transaction and the cost per reading.

Each figure is the median of several calls on fresh DuckDB files under /tmp. A component whose
interface changed is reported as unavailable instead of failing the run.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.loadgen import Spec, payload_pool

SIZES = (1, 100, 10_000)


def _median_ms(fn: Callable[[int], Any], calls: int) -> float:
    times = []
    for i in range(calls):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def _readings(n: int, offset: int) -> Any:
    from edge.payload import Readings

    devices = [f"dev-{i:03d}" for i in range(50)]
    sensors = (("temperature", "°C"), ("humidity", "%"), ("pressure", "hPa"), ("vibration", "mm/s"))
    base = 1_750_000_000_000_000 + offset * 1_000_000
    return Readings.of(((devices[i % 50], *sensors[i % 4]), base + i, 20.0 + (i % 100) / 10) for i in range(n))


def parse_costs() -> dict[str, float]:
    from edge.ingest import payload_digest
    from edge.payload import parse

    out: dict[str, float] = {}
    for per in (1, 100):
        pool = payload_pool(Spec("127.0.0.1", 1, 200, per))
        payloads = [p for _, p in pool]
        device = None  # topic device check is a string compare; skip it
        n = len(payloads)
        out[f"parse_{per}_us"] = _median_ms(
            lambda i, p=payloads, n=n, d=device: parse(p[i % n], d, 0), 400) * 1000  # type: ignore[misc]
        out[f"digest_{per}_us"] = _median_ms(
            lambda i, p=payloads, n=n: payload_digest(p[i % n]), 400) * 1000  # type: ignore[misc]
    return out


def buffer_costs(tmp: Path) -> dict[str, float]:
    from edge.buffer import Buffer, BufferConfig

    out: dict[str, float] = {}
    with Buffer(BufferConfig(path=tmp / "edge" / "buffer.duckdb")) as buf:
        t = time.perf_counter()
        buf.commit(_readings(200, 0), [], True)  # 200 new series; afterwards they exist, as in steady state
        out["buffer_new_series_200_ms"] = (time.perf_counter() - t) * 1000
        for n in SIZES:
            calls = 40 if n < 10_000 else 15
            batches = [_readings(n, k) for k in range(calls)]
            # one message per 100 readings, each marked on its first reading (packet id, digest)
            acks = [[(j * 100, (k + j) % 65535 + 1, k) for j in range(max(1, n // 100))] for k in range(calls)]
            out[f"buffer_commit_{n}_ms"] = _median_ms(
                lambda i, b=batches, a=acks: buf.commit(b[i], a[i], True), calls)  # type: ignore[misc]
    return out


def store_costs(tmp: Path) -> dict[str, float]:
    from edgehub.columns import Columns
    from hub.store import Store

    out: dict[str, float] = {}
    store = Store(tmp / "hub" / "hub.duckdb").open()
    try:
        store.create_edge("micro", "x")
        keys = [(f"dev-{i:03d}", s, u) for i in range(50)
                for s, u in (("temperature", "°C"), ("humidity", "%"), ("pressure", "hPa"), ("vibration", "mm/s"))]
        seq = 0

        def cols(n: int) -> Columns:
            nonlocal seq
            seqs = np.arange(seq + 1, seq + n + 1, dtype=np.int64)
            seq += n
            return Columns(keys, (np.arange(n) % len(keys)).astype(np.uint32), seqs,
                           1_750_000_000_000_000 + seqs, np.full(n, 21.5))

        t = time.perf_counter()
        store.commit_batch("micro", cols(len(keys)))  # 50 new devices, 200 new series; then steady state
        out["store_new_series_200_ms"] = (time.perf_counter() - t) * 1000
        for n in SIZES:
            calls = 40 if n < 10_000 else 15
            batches = [cols(n) for _ in range(calls)]
            out[f"store_commit_{n}_ms"] = _median_ms(
                lambda i, b=batches: store.commit_batch("micro", b[i]), calls)  # type: ignore[misc]
    finally:
        store.close()
    return out


def component_costs() -> tuple[dict[str, float], list[str]]:
    values: dict[str, float] = {}
    problems: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="edgehub-bench-micro-", dir="/tmp"))
    try:
        for name, fn in (("parse", parse_costs), ("buffer", lambda: buffer_costs(tmp)),
                         ("store", lambda: store_costs(tmp))):
            try:
                values.update(fn())
            except Exception as exc:  # an interface changed under us: report, do not fail the run
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return values, problems


def table(values: dict[str, float]) -> str:
    def f(key: str, digits: int = 2) -> str:
        v = values.get(key)
        return "—" if v is None else f"{v:,.{digits}f}"

    def per_reading_us(prefix: str) -> str:
        lo, hi = values.get(f"{prefix}_100_ms"), values.get(f"{prefix}_10000_ms")
        return "—" if lo is None or hi is None else f"{(hi - lo) / 9_900 * 1000:.2f}"

    rows = [
        ("edge: payload.parse, single-reading message", f"{f('parse_1_us', 1)} µs", ""),
        ("edge: payload.parse, 100-reading message", f"{f('parse_100_us', 1)} µs",
         f"{f('parse_100_us', 1)} µs / 100 readings"),
        ("edge: redelivery digest (CRC-32 + Adler-32), 100-reading message", f"{f('digest_100_us', 1)} µs", ""),
        ("edge: Buffer.commit of 1 / 100 / 10,000 readings",
         f"{f('buffer_commit_1_ms')} / {f('buffer_commit_100_ms')} / {f('buffer_commit_10000_ms')} ms",
         f"{per_reading_us('buffer_commit')} µs per extra reading"),
        ("hub: Store.commit_batch of 1 / 100 / 10,000 readings",
         f"{f('store_commit_1_ms')} / {f('store_commit_100_ms')} / {f('store_commit_10000_ms')} ms",
         f"{per_reading_us('store_commit')} µs per extra reading"),
        ("edge: first Buffer.commit with 200 new series (50 devices)", f"{f('buffer_new_series_200_ms')} ms",
         "once per new series"),
        ("hub: first Store.commit_batch with 200 new series (50 devices)", f"{f('store_new_series_200_ms')} ms",
         "once per new series"),
    ]
    head = ("component (median, in-process)", "cost", "note")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join(lines)
