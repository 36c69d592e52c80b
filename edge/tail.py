"""Live readings for ``edgectl tail``: a fan-out of committed readings to ``Tail`` clients.

``TailHub.listener`` is an ingest commit listener. On the writer thread it does nothing but hand the
commit to the event loop, and only while someone tails. On the loop each ``TailClient`` gets the
readings that match its filter in a bounded queue: a client too slow for it misses readings rather
than holding memory or the writer back, and the count it missed is told with its next batch
(``skipped``) and added to ``TailHub.dropped``, which ``edgectl status`` shows.
"""

from __future__ import annotations

import asyncio
import logging

from edge.buffer import Committed
from edge.payload import Reading, Readings
from edgehub.logs import RateLimitedLog

logger = logging.getLogger(__name__)

TAIL_QUEUE_BATCHES = 256  # commits a tail client may lag behind before it misses readings
TAIL_BATCH_MAX = 5_000  # readings of one commit shown to a tail client; no terminal shows more

TailItem = tuple[list[tuple[int, Reading]], int]  # (seq, reading) pairs, readings skipped just before


class TailClient:
    """One ``Tail`` call: its filter and a bounded queue of committed readings."""

    def __init__(self, device_id: str, sensor_type: str) -> None:
        self.device_id, self.sensor_type = device_id, sensor_type
        self.queue: asyncio.Queue[TailItem] = asyncio.Queue(TAIL_QUEUE_BATCHES)
        self.skipped = 0

    def offer(self, first_seq: int, readings: Readings) -> int:
        """Queue the matching readings of one commit; return how many this client missed."""
        dev, sensor = self.device_id, self.sensor_type
        if dev or sensor:
            picked = [(first_seq + i, r) for i, r in enumerate(readings)
                      if (not dev or r[0][0] == dev) and (not sensor or r[0][1] == sensor)]
            missed = max(0, len(picked) - TAIL_BATCH_MAX)
            picked = picked[missed:]
        else:
            missed = max(0, len(readings) - TAIL_BATCH_MAX)
            picked = [(first_seq + i, readings[i]) for i in range(missed, len(readings))]
        self.skipped += missed
        if not picked:
            return missed
        try:
            self.queue.put_nowait((picked, self.skipped))
            self.skipped = 0
        except asyncio.QueueFull:
            self.skipped += len(picked)
            missed += len(picked)
        return missed


class TailHub:
    """Fans committed readings out to ``Tail`` clients; ``listener`` is an ingest commit listener."""

    def __init__(self) -> None:
        self.clients: set[TailClient] = set()
        self.dropped = 0  # readings tail clients missed, all clients together
        self._loop: asyncio.AbstractEventLoop | None = None
        self._log = RateLimitedLog(logger)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def listener(self, committed: Committed, readings: Readings) -> None:
        """On the writer thread: nothing but a hand-off to the loop, and only while someone tails."""
        if self.clients and self._loop is not None:
            self._loop.call_soon_threadsafe(self._fan_out, committed.first_seq, readings)

    def _fan_out(self, first_seq: int, readings: Readings) -> None:
        for client in list(self.clients):
            missed = client.offer(first_seq, readings)
            if missed:
                self.dropped += missed
                self._log.warning("tail", "admin: a tail client is too slow; it missed %d readings", missed)

    def subscribe(self, device_id: str = "", sensor_type: str = "") -> TailClient:
        client = TailClient(device_id, sensor_type)
        self.clients.add(client)
        return client

    def unsubscribe(self, client: TailClient) -> None:
        self.clients.discard(client)

