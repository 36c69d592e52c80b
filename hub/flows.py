"""Flow documents and the evaluation of their internal nodes as samples stream in.

A flow is ``{"nodes": [{"id", "type", "position": {"x", "y"}, "data": {...}}], "wires":
[{"source": node_id, "target": node_id}]}``. A ``device`` node's id is ``{device_uuid}-{timestamp}``
and its ``data.sensor_variable`` picks the series it emits. Internal nodes transform what their
input wire carries:

| type | data | output |
|---|---|---|
| ``scale`` | ``a``, ``b`` | a·x + b |
| ``moving_average`` | ``n`` | mean of the last n inputs |
| ``threshold`` | ``threshold``, optional ``hysteresis`` | 1 above, 0 at or below; an alert on each crossing |
| ``rate_of_change`` | — | (x − x_prev) / seconds between them |
| ``min`` / ``max`` / ``mean`` | ``window_s`` | over the inputs of the last window_s seconds |

Evaluation is plain Python on the hub's event loop, fed by the durable lane in sequence order,
so node state (a moving average's window) sees every reading once and in order.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hub.errors import BadRequest

INTERNAL_TYPES = ("scale", "moving_average", "threshold", "rate_of_change", "min", "max", "mean")
NODE_TYPES = ("device", *INTERNAL_TYPES)
MAX_NODES = 500
MAX_WINDOW_N = 10_000
MAX_WINDOW_S = 7 * 24 * 3600.0


@dataclass(slots=True)
class Output:
    ts_us: int
    value: float
    unit: str
    alert: str | None = None


def _number(data: dict[str, Any], key: str, node_id: str, default: float | None = None) -> float:
    raw = data.get(key, default)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise BadRequest(f"node {node_id}: data.{key} must be a finite number")
    return float(raw)


class Node:
    """One internal node with its state."""

    def __init__(self, node_id: str, kind: str, data: dict[str, Any]) -> None:
        self.id, self.kind = node_id, kind
        if kind == "scale":
            self.a = _number(data, "a", node_id, 1.0)
            self.b = _number(data, "b", node_id, 0.0)
        elif kind == "moving_average":
            n = _number(data, "n", node_id, 10)
            if not 1 <= n <= MAX_WINDOW_N or n != int(n):
                raise BadRequest(f"node {node_id}: data.n must be an integer 1-{MAX_WINDOW_N}")
            self.window: deque[float] = deque(maxlen=int(n))
        elif kind == "threshold":
            self.threshold = _number(data, "threshold", node_id)
            self.hysteresis = abs(_number(data, "hysteresis", node_id, 0.0))
            self.above: bool | None = None
        elif kind == "rate_of_change":
            self.prev: tuple[int, float] | None = None
        elif kind in ("min", "max", "mean"):
            self.window_us = int(_number(data, "window_s", node_id, 60.0) * 1_000_000)
            if not 0 < self.window_us <= MAX_WINDOW_S * 1_000_000:
                raise BadRequest(f"node {node_id}: data.window_s must be > 0 and at most 7 days")
            self.timed: deque[tuple[int, float]] = deque()
        else:
            raise BadRequest(f"node {node_id}: unknown type {kind!r}; expected one of {', '.join(NODE_TYPES)}")

    def feed(self, ts_us: int, x: float, unit: str) -> Output | None:
        kind = self.kind
        if kind == "scale":
            return Output(ts_us, self.a * x + self.b, unit)
        if kind == "moving_average":
            # fsum over the window, not a running total: one huge glitch must not leave a lasting error.
            self.window.append(x)
            return Output(ts_us, math.fsum(self.window) / len(self.window), unit)
        if kind == "threshold":
            was = self.above
            if was is None:
                now_above = x > self.threshold
            elif was:
                now_above = x > self.threshold - self.hysteresis
            else:
                now_above = x > self.threshold + self.hysteresis
            self.above = now_above
            alert = None
            if was is not None and now_above != was:
                word = "above" if now_above else "at or below"
                alert = f"crossed {word} {self.threshold:g} {unit}".rstrip()
            return Output(ts_us, 1.0 if now_above else 0.0, "", alert)
        if kind == "rate_of_change":
            prev, self.prev = self.prev, (ts_us, x)
            if prev is None or ts_us <= prev[0]:
                return None
            return Output(ts_us, (x - prev[1]) / ((ts_us - prev[0]) / 1e6), f"{unit}/s" if unit else "1/s")
        # min / max / mean over a time window
        timed = self.timed
        timed.append((ts_us, x))
        while timed and timed[0][0] <= ts_us - self.window_us:
            timed.popleft()
        values = [v for _, v in timed]
        agg = min(values) if kind == "min" else max(values) if kind == "max" else sum(values) / len(values)
        return Output(ts_us, agg, unit)


@dataclass
class FlowGraph:
    """A validated flow: which series feed which nodes, in wire order."""

    flow_uuid: str
    nodes: dict[str, Node] = field(default_factory=dict)
    node_types: dict[str, str] = field(default_factory=dict)
    downstream: dict[str, list[str]] = field(default_factory=dict)
    # (device_id, sensor_type) -> device node ids that emit that series
    sources: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def evaluate(self, device_id: str, sensor_type: str, ts_us: int, value: float,
                 unit: str) -> Iterator[tuple[str, Output]]:
        """Feed one reading; yield (node_id, output) for every internal node that produced one."""
        for source in self.sources.get((device_id, sensor_type), ()):
            stack = [(target, Output(ts_us, value, unit)) for target in self.downstream.get(source, ())]
            while stack:
                node_id, incoming = stack.pop()
                out = self.nodes[node_id].feed(incoming.ts_us, incoming.value, incoming.unit)
                if out is None:
                    continue
                yield node_id, out
                stack.extend((t, out) for t in self.downstream.get(node_id, ()))


def device_of_node(node_id: str) -> str | None:
    """The seed's rule: a device node id is ``{uuid}-{timestamp}``; the UUID is its first 5 parts."""
    parts = node_id.split("-")
    if len(parts) >= 5:
        return "-".join(parts[:5])
    return None


def validate(flow_uuid: str, doc: Any) -> FlowGraph:
    """Check a flow document and build its graph (raises BadRequest naming the problem)."""
    if not isinstance(doc, dict):
        raise BadRequest("a flow needs nodes and wires")
    nodes, wires = doc.get("nodes", []), doc.get("wires", [])
    if not isinstance(nodes, list) or not isinstance(wires, list):
        raise BadRequest("nodes and wires must be lists")
    if len(nodes) > MAX_NODES:
        raise BadRequest(f"a flow has at most {MAX_NODES} nodes")
    graph = FlowGraph(flow_uuid)
    for n in nodes:
        if not isinstance(n, dict) or not isinstance(n.get("id"), str) or not n["id"]:
            raise BadRequest("each node needs a string id")
        node_id, kind, data = n["id"], n.get("type"), n.get("data") or {}
        if node_id in graph.node_types:
            raise BadRequest(f"node id {node_id} appears twice")
        if kind not in NODE_TYPES:
            raise BadRequest(f"node {node_id}: type must be one of {', '.join(NODE_TYPES)}, got {kind!r}")
        if not isinstance(data, dict):
            raise BadRequest(f"node {node_id}: data must be an object")
        pos = n.get("position", {"x": 0, "y": 0})
        if not isinstance(pos, dict) or not all(isinstance(pos.get(k), int | float) for k in ("x", "y")):
            raise BadRequest(f"node {node_id}: position must be {{x, y}} numbers")
        graph.node_types[node_id] = kind
        graph.downstream[node_id] = []
        if kind == "device":
            device = data.get("device_id") or device_of_node(node_id)
            variable = data.get("sensor_variable")
            if device and isinstance(variable, str) and variable:
                graph.sources.setdefault((device, variable), []).append(node_id)
        else:
            graph.nodes[node_id] = Node(node_id, kind, data)
    for w in wires:
        if not isinstance(w, dict) or w.get("source") not in graph.node_types or w.get("target") not in graph.nodes:
            raise BadRequest("each wire needs a source node and an internal target node of this flow")
        graph.downstream[w["source"]].append(w["target"])
    _check_acyclic(graph)
    return graph


def _check_acyclic(graph: FlowGraph) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str) -> None:
        state[node] = 1
        for nxt in graph.downstream.get(node, ()):
            if state.get(nxt) == 1:
                raise BadRequest(f"the wires form a loop through node {nxt}")
            if nxt not in state:
                visit(nxt)
        state[node] = 2

    for node in graph.node_types:
        if node not in state:
            visit(node)
