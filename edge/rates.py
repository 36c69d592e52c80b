"""Counters of the edge sampled over time: rates over sliding windows, rejections per device.

A ``RateMeter`` keeps ``(time, value)`` samples of a few named counters (readings ingested,
readings the hub acked, the buffer's last sequence number) in a bounded ring covering the longest
window asked for. A rate is the difference between the counter now and the oldest sample inside the
window, divided by the time between them; before a full window has passed it covers what there is.
Memory is fixed: one small tuple per counter per second, for ``horizon_s`` seconds.

A ``RejectionTally`` attributes rejections to devices from the ingest's bounded ring of recent
rejections, sampled on every tick of the meter.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable

from edge.ingest import Ingest

SAMPLE_INTERVAL_S = 1.0  # fine enough for a 10 s window, cheap enough to run forever
HORIZON_S = 300.0  # the longest window edgectl shows (5 min)


class RateMeter:
    """Sample ``sources`` (name → counter getter) and answer rates over windows up to ``horizon_s``."""

    def __init__(
        self,
        sources: dict[str, Callable[[], int]],
        horizon_s: float = HORIZON_S,
        interval_s: float = SAMPLE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources = dict(sources)
        self.interval_s = interval_s
        self._clock = clock
        # One sample more than the horizon holds, so a full window always has a sample at its start.
        self._samples: deque[tuple[float, dict[str, int]]] = deque(maxlen=int(horizon_s / interval_s) + 2)
        self.ticks: list[Callable[[], None]] = []  # also run on every sample (on the event loop)

    def sample(self) -> None:
        """Record every counter now."""
        self._samples.append((self._clock(), {name: get() for name, get in self.sources.items()}))
        for tick in self.ticks:
            tick()

    async def run(self) -> None:
        """Sample every ``interval_s`` until cancelled."""
        while True:
            self.sample()
            await asyncio.sleep(self.interval_s)

    def value_at(self, name: str, window_s: float) -> tuple[int, float] | None:
        """The oldest sample of ``name`` no older than ``window_s``, and its age in seconds."""
        now = self._clock()
        for at, values in self._samples:
            if now - at <= window_s + self.interval_s / 2:
                return values[name], now - at
        return None

    def rate(self, name: str, window_s: float) -> float:
        """Increase of ``name`` per second over the last ``window_s`` seconds (0.0 without history)."""
        base = self.value_at(name, window_s)
        if base is None:
            return 0.0
        value, age = base
        if age <= 0:
            return 0.0
        return max(0.0, (self.sources[name]() - value) / age)


def device_of(topic: str, topic_filter: str) -> str:
    """The device id in ``topic`` at the filter's ``+`` level ('' when there is none)."""
    levels = topic_filter.split("/")
    if "+" not in levels:
        return ""
    parts = topic.split("/")
    i = levels.index("+")
    return parts[i] if len(parts) > i else ""


class RejectionTally:
    """Rejections per device since the edge started, attributed from the ingest's ring of recent ones.

    ``tick`` runs on the event loop every second; rejections the ring evicted before a tick saw them
    (more than its size in a second) stay unattributed, so per-device counts never claim too much."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        self.by_device: Counter[str] = Counter()
        self._last: object = None

    def tick(self) -> None:
        ring = list(self.ingest.stats.recent_rejections)  # one C-level copy: safe beside the writer thread
        start = 0
        for i in range(len(ring) - 1, -1, -1):
            if ring[i] is self._last:
                start = i + 1
                break
        topic_filter = self.ingest.config.topic_filter
        for rej in ring[start:]:
            device = device_of(rej.topic, topic_filter)
            if device:
                self.by_device[device] += 1
        if ring:
            self._last = ring[-1]

    def unattributed(self) -> int:
        return max(0, sum(self.ingest.stats.rejected.values()) - sum(self.by_device.values()))
