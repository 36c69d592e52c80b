"""A running site for the benchmarks beside ``bench.run``: mosquitto, hub and one edge on free
loopback ports in a temp dir, stopped by pid however the benchmark ends."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from tests.support import Edge, Hub, Mosquitto, Proc


class Site(NamedTuple):
    work: Path
    broker: Mosquitto
    hub: Hub
    edge: Edge
    procs: list[Proc]  # more processes to stop at the end (simulators)
    cleanup: list[Callable[[], None]]  # run before the processes stop (e.g. end client threads)


@contextmanager
def running_site(name: str, edge_id: str) -> Iterator[Site]:
    work = Path(tempfile.mkdtemp(prefix=f"edgehub-{name}-"))
    procs: list[Proc] = []
    cleanup: list[Callable[[], None]] = []
    try:
        broker = Mosquitto(work / "broker").start()
        procs.append(broker)
        hub = Hub(work).start()
        procs.append(hub)
        edge = Edge(work, edge_id, hub.address, hub.register_edge(edge_id), broker.url).start()
        procs.append(edge)
        edge.wait_subscribed()
        yield Site(work, broker, hub, edge, procs, cleanup)
    finally:
        for fn in cleanup:
            fn()
        for proc in reversed(procs):
            proc.stop()
