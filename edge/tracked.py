"""The edge's cache of tracked variables: which (device, sensor) series feed a dashboard widget.

The hub sends a snapshot when the edge connects and versioned deltas after it. The cache is
persisted to a small JSON file (written to a temporary file, fsynced, then renamed), so an edge that
restarts while the link is down still knows what is tracked and keeps its live lane right.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from protos import link_pb2

logger = logging.getLogger(__name__)

Key = tuple[str, str, str]  # (widget_id, device_id, sensor_type)


def _key(var: link_pb2.TrackedVariable | dict) -> Key:
    if isinstance(var, dict):
        return (var["widget_id"], var["device_id"], var["sensor_type"])
    return (var.widget_id, var.device_id, var.sensor_type)


def _as_dict(var: link_pb2.TrackedVariable) -> dict:
    return {
        "device_id": var.device_id,
        "sensor_type": var.sensor_type,
        "widget_id": var.widget_id,
        "dashboard_uuid": var.dashboard_uuid,
        "max_samples": var.max_samples,
    }


class TrackedCache:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.version = 0
        self._entries: dict[Key, dict] = {}
        self._lock = threading.Lock()
        # (device_id, sensor_type) pairs with at least one widget: the live lane's filter.
        self.series: frozenset[tuple[str, str]] = frozenset()
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            doc = json.loads(self.path.read_text())
            self.version = int(doc["version"])
            self._entries = {_key(v): v for v in doc["variables"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("tracked cache %s unreadable (%s); waiting for the hub's snapshot", self.path, exc)
            self.version, self._entries = 0, {}
        self._reindex()

    def _reindex(self) -> None:
        self.series = frozenset((v["device_id"], v["sensor_type"]) for v in self._entries.values())

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        data = json.dumps({"version": self.version, "variables": list(self._entries.values())})
        with open(tmp, "w") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def apply_snapshot(self, snap: link_pb2.TrackedSnapshot) -> None:
        with self._lock:
            self._entries = {_key(v): _as_dict(v) for v in snap.variables}
            self.version = snap.version
            self._reindex()
            self._save()
        logger.info("tracked: snapshot v%d, %d variables", snap.version, len(self._entries))

    def apply_delta(self, delta: link_pb2.TrackedDelta) -> bool:
        """Apply a delta; False when it does not follow our version (the caller resyncs)."""
        with self._lock:
            if delta.version != self.version + 1:
                logger.warning("tracked: delta v%d does not follow v%d", delta.version, self.version)
                return False
            for var in delta.removes:
                self._entries.pop(_key(var), None)
            for var in delta.upserts:
                self._entries[_key(var)] = _as_dict(var)
            self.version = delta.version
            self._reindex()
            self._save()
        logger.info("tracked: delta v%d (+%d -%d)", delta.version, len(delta.upserts), len(delta.removes))
        return True

    def entries(self) -> list[dict]:
        with self._lock:
            return sorted(self._entries.values(), key=lambda v: (v["device_id"], v["sensor_type"], v["widget_id"]))
