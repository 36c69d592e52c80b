"""Soak benchmark (issue 2): hub RSS over a long run at a steady rate, with live widgets attached.

``python -m bench.soak [--minutes 10] [--rate 2000]``

Broker, hub and edge run for real; the simulator publishes ``--rate`` readings/s over 20 devices,
two dashboards track 8 series, and two WebSocket clients read them. The hub's RSS is sampled every
30 s (VmRSS from /proc); it should stay flat once warm: ingest keeps no per-reading state in memory.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

from bench.site import running_site
from firmware.sim import SENSORS, device_ids
from tests.support import Hub, sim, wait_for

SAMPLE_EVERY_S = 30.0


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def read_socket(url: str, stop: threading.Event, counter: list[int]) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(url) as ws:
        while not stop.is_set():
            try:
                ws.recv(timeout=1)
                counter[0] += 1
            except TimeoutError:
                continue
            except ConnectionClosed:
                return


def sample(hub: Hub, elapsed: float) -> tuple[float, float, float, float]:
    """(seconds, hub RSS MiB, DuckDB's own memory MiB, readings stored)."""
    db = hub.metric("edgehub_hub_db_memory_bytes") / 2**20
    return elapsed, rss_mib(hub.pid), db, hub.edge("soak")["acked_seq"]


def run(minutes: float, rate: float) -> dict[str, Any]:
    stop = threading.Event()
    with running_site("soak", "soak") as site:
        work, broker, hub, procs = site.work, site.broker, site.hub, site.procs
        readers: list[threading.Thread] = []

        def end_readers() -> None:  # before the hub goes
            stop.set()
            for reader in readers:
                reader.join(timeout=5)

        site.cleanup.append(end_readers)
        devices = 20
        seconds = minutes * 60
        publisher = sim(broker.url, work, devices=devices, count=int(rate * (seconds + 120)), rate=rate / devices,
                        seed="soak", waveform="real")
        procs.append(publisher)
        ids = device_ids(devices, "soak")
        wait_for(lambda: len(hub.request("GET", "/api/devices/")[1]) == devices, 60, what="devices at the hub")
        widgets = [{"id": f"flow-widget-soak-{i}", "type": "time_series", "title": s, "max_samples": 50,
                    "dataSource": {"kind": "device", "device_id": ids[i], "sensor_type": s}}
                   for i, (s, _) in enumerate(SENSORS * 2)]
        status, _ = hub.request("POST", "/api/dashboard-templates/", {"name": "soak", "widgets": widgets})
        assert status == 201
        counters: list[list[int]] = []
        for w in widgets[:2]:
            counter = [0]
            counters.append(counter)
            url = f"ws://127.0.0.1:{hub.http_port}/ws/widgets/{w['id']}/?token={hub.token()}"
            readers.append(threading.Thread(target=read_socket, args=(url, stop, counter), daemon=True))
            readers[-1].start()
        samples: list[tuple[float, float, float, float]] = []
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            samples.append(sample(hub, elapsed))
            time.sleep(min(SAMPLE_EVERY_S, max(0.0, seconds - elapsed)))
        samples.append(sample(hub, time.monotonic() - started))
        return {"samples": samples, "rate": rate, "minutes": minutes, "ws_messages": sum(c[0] for c in counters)}


def table(r: dict[str, Any]) -> str:
    samples = r["samples"]
    warm = [s for s in samples if s[0] >= 60] or samples
    first, last = warm[0], samples[-1]
    stored = last[3] - samples[0][3]
    lines = [
        "| t (s) | hub RSS (MiB) | DuckDB cache (MiB) | RSS − DuckDB (MiB) | readings stored |",
        "|---:|---:|---:|---:|---:|",
        *(f"| {t:.0f} | {rss:.1f} | {db:.1f} | {rss - db:.1f} | {n:,.0f} |" for t, rss, db, n in samples),
        "",
        f"{r['minutes']:.0f} min at {r['rate']:,.0f} readings/s: {stored:,.0f} readings stored "
        f"({stored / max(1.0, last[0]):,.0f}/s), {r['ws_messages']:,} WebSocket messages read. "
        f"After warm-up (t ≥ 60 s): hub RSS {first[1]:.1f} → {last[1]:.1f} MiB (×{last[1] / first[1]:.2f}); "
        f"DuckDB's cache {first[2]:.1f} → {last[2]:.1f} MiB; RSS without it {first[1] - first[2]:.1f} → "
        f"{last[1] - last[2]:.1f} MiB (×{(last[1] - last[2]) / (first[1] - first[2]):.2f}).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=2000.0)
    args = parser.parse_args(argv)
    print(table(run(args.minutes, args.rate)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
