"""Logging set-up for the entry points; modules only call ``logging.getLogger(__name__)``."""

from __future__ import annotations

import logging
import os
import time


def configure(level: str | None = None) -> None:
    chosen = (level or os.environ.get("EDGEHUB_LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(
        level=chosen,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
    )
    logging.getLogger("grpc").setLevel(logging.WARNING)


class RateLimitedLog:
    """Log at most one line per ``interval`` seconds per key, reporting how many were suppressed."""

    def __init__(self, logger: logging.Logger, interval: float = 5.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        skipped = self._suppressed.pop(key, 0)
        self._last[key] = now
        if skipped:
            self._logger.warning(msg + " (%d similar suppressed)", *args, skipped)
        else:
            self._logger.warning(msg, *args)
