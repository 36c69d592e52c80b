"""Live widget buffers: the seed's WidgetSample, kept in memory and rebuilt from storage.

For each tracked (device, sensor) pair every new reading is appended to the buffer of each widget
that tracks it, trimmed to its ``max_samples``, and pushed to the widget's WebSockets. Internal flow
nodes are evaluated on the durable lane and their outputs feed node widgets the same way.

Buffers hold the newest ``max_samples`` samples ordered by timestamp and de-duplicated by
(timestamp, sequence number), because one reading can arrive twice: first on the edge's live lane
while it drains a backlog, later on the durable lane. They survive a hub restart by being rebuilt
from ``sensor_data`` (device widgets) or by replaying recent readings through the flow (node
widgets), so a new or restarted widget shows data at once instead of "Connecting...".
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from edgehub.columns import Columns
from hub import metrics
from hub.fanout import Fanout
from hub.flows import FlowGraph
from hub.store import Store, iso_us

logger = logging.getLogger(__name__)

NODE_HISTORY = 1000  # outputs kept per internal node for GET .../output/?limit=
FLOW_REPLAY = 500  # readings per source series replayed through a flow when it is (re)loaded


class Ring:
    """The newest ``maxlen`` samples, ordered by (timestamp, seq), each at most once."""

    __slots__ = ("items", "keys", "maxlen")

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self.items: list[tuple[int, int, float, str]] = []
        self.keys: set[tuple[int, int]] = set()

    def add(self, ts_us: int, seq: int, value: float, unit: str) -> bool:
        key = (ts_us, seq)
        if key in self.keys:
            return False
        items = self.items
        if len(items) >= self.maxlen and key <= (items[0][0], items[0][1]):
            return False  # older than everything kept
        bisect.insort(items, (ts_us, seq, value, unit))
        self.keys.add(key)
        if len(items) > self.maxlen:
            old = items.pop(0)
            self.keys.discard((old[0], old[1]))
        return True

    def samples(self) -> list[dict[str, Any]]:
        return [sample(ts, v, u) for ts, _, v, u in self.items]


def sample(ts_us: int, value: float, unit: str) -> dict[str, Any]:
    """The seed's sample shape, exactly."""
    return {"timestamp": iso_us(ts_us), "value": value, "unit": unit}


def group(widget_id: str) -> str:
    return f"widget:{widget_id}"


@dataclass
class NodeState:
    ring: Ring = field(default_factory=lambda: Ring(NODE_HISTORY))
    alerts: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0


class LiveWidgets:
    """Widget buffers, flow graphs and node outputs; all methods run on the event loop."""

    def __init__(self, store: Store, fanout: Fanout) -> None:
        self.store = store
        self.fanout = fanout
        self.rings: dict[str, Ring] = {}
        self.by_series: dict[tuple[str, str], set[str]] = {}
        self.widget_series: dict[str, tuple[str, str]] = {}
        self.graphs: dict[str, FlowGraph] = {}
        self.flow_inputs: dict[tuple[str, str], set[str]] = {}
        self.nodes: dict[tuple[str, str], NodeState] = {}
        self.node_widgets: dict[tuple[str, str], set[str]] = {}
        self.widget_node: dict[str, tuple[str, str]] = {}

    # -- widgets ---------------------------------------------------------------------------
    def add_device_widget(self, widget_id: str, device_id: str, sensor_type: str, max_samples: int) -> Ring:
        """Start a device widget's buffer; it takes live samples at once, before :meth:`prime` fills
        it from storage, so that a reading committed while the stored tail is being read is kept."""
        self._forget(widget_id)
        ring = Ring(max_samples)
        self.rings[widget_id] = ring
        self.widget_series[widget_id] = (device_id, sensor_type)
        self.by_series.setdefault((device_id, sensor_type), set()).add(widget_id)
        return ring

    def prime(self, widget_id: str, ring: Ring, rows: Iterable[tuple[int, int, float, str]]) -> None:
        """Merge stored samples into a buffer started by :meth:`add_device_widget` (duplicates of
        samples that arrived live meanwhile are skipped), unless the widget was replaced since."""
        if self.rings.get(widget_id) is ring:
            for ts, seq, value, unit in rows:
                ring.add(ts, seq, value, unit)

    def add_node_widget(self, widget_id: str, flow_uuid: str, node_id: str, max_samples: int) -> None:
        self._forget(widget_id)
        ring = Ring(max_samples)
        state = self.nodes.get((flow_uuid, node_id))
        if state is not None:
            for ts, seq, value, unit in state.ring.items[-max_samples:]:
                ring.add(ts, seq, value, unit)
        self.rings[widget_id] = ring
        self.widget_node[widget_id] = (flow_uuid, node_id)
        self.node_widgets.setdefault((flow_uuid, node_id), set()).add(widget_id)

    def remove_widget(self, widget_id: str) -> None:
        """The widget is gone: forget it and end its sockets."""
        if self._forget(widget_id):
            self.fanout.close_group(group(widget_id))

    def _forget(self, widget_id: str) -> bool:
        """Drop a widget's buffer and indexes (its sockets stay: it may be re-added, e.g. resized)."""
        if self.rings.pop(widget_id, None) is None:
            return False
        series = self.widget_series.pop(widget_id, None)
        if series is not None:
            self.by_series.get(series, set()).discard(widget_id)
            if not self.by_series.get(series):
                self.by_series.pop(series, None)
        node = self.widget_node.pop(widget_id, None)
        if node is not None:
            self.node_widgets.get(node, set()).discard(widget_id)
            if not self.node_widgets.get(node):
                self.node_widgets.pop(node, None)
        return True

    def samples(self, widget_id: str) -> list[dict[str, Any]] | None:
        ring = self.rings.get(widget_id)
        return ring.samples() if ring is not None else None

    def _push(self, widget_id: str, ts: int, seq: int, value: float, unit: str) -> None:
        ring = self.rings.get(widget_id)
        if ring is not None and ring.add(ts, seq, value, unit):
            metrics.WIDGET_SAMPLES.inc()
            self.fanout.publish(group(widget_id), orjson.dumps(sample(ts, value, unit)))

    # -- flows -----------------------------------------------------------------------------
    def set_flow(self, graph: FlowGraph, replay: Iterable[tuple[str, str, int, float, str]] = ()) -> None:
        """Install (or replace) a flow's graph and replay recent readings through it."""
        self.remove_flow(graph.flow_uuid)
        self.graphs[graph.flow_uuid] = graph
        for device_sensor in graph.sources:
            self.flow_inputs.setdefault(device_sensor, set()).add(graph.flow_uuid)
        for node_id in graph.nodes:
            self.nodes[(graph.flow_uuid, node_id)] = NodeState()
        for device_id, sensor_type, ts, value, unit in replay:
            for node_id, out in graph.evaluate(device_id, sensor_type, ts, value, unit):
                self._node_output(graph.flow_uuid, node_id, out.ts_us, out.value, out.unit, out.alert, push=False)
        for (flow_uuid, node_id), widgets in self.node_widgets.items():
            if flow_uuid == graph.flow_uuid:
                state = self.nodes.get((flow_uuid, node_id))
                for wid in widgets:
                    old = self.rings.get(wid)
                    if old is not None and state is not None:
                        # A fresh buffer: the replay numbers outputs from 1 again, so merging into the old
                        # one would keep the same readings twice.
                        ring = Ring(old.maxlen)
                        for item in state.ring.items[-ring.maxlen:]:
                            ring.add(*item)
                        self.rings[wid] = ring

    def remove_flow(self, flow_uuid: str) -> None:
        graph = self.graphs.pop(flow_uuid, None)
        if graph is None:
            return
        for device_sensor in graph.sources:
            flows = self.flow_inputs.get(device_sensor)
            if flows is not None:
                flows.discard(flow_uuid)
                if not flows:
                    del self.flow_inputs[device_sensor]
        for node_id in graph.nodes:
            self.nodes.pop((flow_uuid, node_id), None)

    def node_output(self, flow_uuid: str, node_id: str) -> NodeState | None:
        return self.nodes.get((flow_uuid, node_id))

    def _node_output(self, flow_uuid: str, node_id: str, ts: int, value: float, unit: str,
                     alert: str | None, push: bool = True) -> None:
        state = self.nodes[(flow_uuid, node_id)]
        state.seq += 1
        state.ring.add(ts, state.seq, value, unit)
        if alert:
            state.alerts.append({"timestamp": iso_us(ts), "message": alert, "value": value})
            del state.alerts[:-100]
            logger.info("flow %s node %s: %s", flow_uuid, node_id, alert)
        if push:
            for wid in self.node_widgets.get((flow_uuid, node_id), ()):
                self._push(wid, ts, state.seq, value, unit)

    # -- samples from the link (and direct device ingest) -----------------------------------
    def on_samples(self, edge_id: str, cols: Columns, stored: bool) -> None:
        """Route newly stored (or live-lane) samples to widget buffers and flows."""
        for index, (device_id, sensor_type, unit) in enumerate(cols.keys):
            key = (device_id, sensor_type)
            widgets = self.by_series.get(key)
            flows = self.flow_inputs.get(key) if stored else None
            if not widgets and not flows:
                continue
            picked = np.flatnonzero(cols.series_index == index)
            ts = cols.ts_us[picked].tolist()
            seqs = cols.seqs[picked].tolist()
            values = cols.values[picked].tolist()
            if widgets:
                keep = max(self.rings[w].maxlen for w in widgets)  # only the newest can stay
                for i in sorted(range(len(ts)), key=lambda i: (ts[i], seqs[i]))[-keep:]:
                    for wid in widgets:
                        self._push(wid, ts[i], seqs[i], values[i], unit)
            for flow_uuid in flows or ():
                graph = self.graphs[flow_uuid]
                for i in range(len(ts)):
                    for node_id, out in graph.evaluate(device_id, sensor_type, ts[i], values[i], unit):
                        self._node_output(flow_uuid, node_id, out.ts_us, out.value, out.unit, out.alert)
