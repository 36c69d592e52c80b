"""Widget groups: every WebSocket subscribed to a widget gets each new sample of it.

Publishing never waits for a browser. Each subscriber has a bounded queue; when a slow or stalled
browser lets it fill up, the oldest message is dropped (the newest value is what a dashboard needs)
and the drop is counted, so ingestion never slows down because of a browser.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from hub import metrics

logger = logging.getLogger(__name__)

SUBSCRIBER_QUEUE = 256  # messages per socket; a widget of 50 samples needs far fewer to catch up


class Subscriber:
    def __init__(self, group: str, maxlen: int = SUBSCRIBER_QUEUE) -> None:
        self.group = group
        self.queue: deque[bytes] = deque(maxlen=maxlen)
        self.ready = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def offer(self, message: bytes) -> None:
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
            metrics.WS_DROPPED.inc()
        self.queue.append(message)
        self.ready.set()

    async def next_batch(self) -> list[bytes]:
        """Wait for messages; return everything queued (empty when closed)."""
        while not self.queue and not self.closed:
            self.ready.clear()
            await self.ready.wait()
        items = list(self.queue)
        self.queue.clear()
        return items

    def close(self) -> None:
        self.closed = True
        self.ready.set()


class Fanout:
    def __init__(self) -> None:
        self.groups: dict[str, set[Subscriber]] = {}

    def subscribe(self, group: str) -> Subscriber:
        sub = Subscriber(group)
        self.groups.setdefault(group, set()).add(sub)
        metrics.WS_CLIENTS.inc()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        members = self.groups.get(sub.group)
        if members is not None and sub in members:
            members.discard(sub)
            metrics.WS_CLIENTS.dec()
            if not members:
                del self.groups[sub.group]
        if sub.dropped:
            logger.info("websocket on %s dropped %d messages it was too slow to take", sub.group, sub.dropped)

    def publish(self, group: str, message: bytes) -> int:
        members = self.groups.get(group)
        if not members:
            return 0
        for sub in members:
            sub.offer(message)
        metrics.WS_SENT.inc(len(members))
        return len(members)

    def close_group(self, group: str) -> None:
        """The widget is gone: end its sockets."""
        for sub in list(self.groups.get(group, ())):
            sub.close()
