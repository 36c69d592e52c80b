"""hub/flows.py: the math of every internal node, graph evaluation, validation and device node ids."""

from __future__ import annotations

from typing import Any

import pytest

from hub.errors import BadRequest
from hub.flows import FlowGraph, Node, Output, device_of_node, validate

T0_US = 1_752_045_302_000_000  # 2025-07-09T07:15:02Z
SEC_US = 1_000_000
DEVICE = "95b2524b-fa0e-4717-b4ba-9ae9aff3365d"
DEVICE_NODE = f"{DEVICE}-1729325249000"  # the seed's {device_uuid}-{timestamp}


def _feed(node: Node, values: list[float], unit: str = "°C", step_s: float = 1.0) -> list[Output | None]:
    """Feed values one second apart (by default) starting at T0."""
    return [node.feed(T0_US + int(i * step_s * SEC_US), x, unit) for i, x in enumerate(values)]


def _values(outputs: list[Output | None]) -> list[float | None]:
    return [o.value if o is not None else None for o in outputs]


def _device(node_id: str = DEVICE_NODE, variable: str = "humidity") -> dict[str, Any]:
    return {"id": node_id, "type": "device", "position": {"x": 0, "y": 0}, "data": {"sensor_variable": variable}}


def _node(node_id: str, kind: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "position": {"x": 100, "y": 0}, "data": data}


def _wire(source: str, target: str) -> dict[str, str]:
    return {"source": source, "target": target}


# -- scale ----------------------------------------------------------------------------------
def test_scale_is_a_times_x_plus_b() -> None:
    node = Node("s", "scale", {"a": 1.8, "b": 32})
    (out,) = _feed(node, [25.0])
    assert out == Output(T0_US, 1.8 * 25.0 + 32, "°C")


def test_scale_defaults_to_identity() -> None:
    assert _values(_feed(Node("s", "scale", {}), [-3.5, 7.0])) == [-3.5, 7.0]


# -- moving average -------------------------------------------------------------------------
def test_moving_average_evicts_the_oldest_input() -> None:
    node = Node("m", "moving_average", {"n": 3})
    assert _values(_feed(node, [3.0, 6.0, 9.0, 12.0, 0.0])) == [3.0, 4.5, 6.0, 9.0, 7.0]


def test_moving_average_of_one_is_the_input() -> None:
    assert _values(_feed(Node("m", "moving_average", {"n": 1}), [5.0, -1.0, 2.5])) == [5.0, -1.0, 2.5]


def test_moving_average_recovers_once_a_glitch_leaves_the_window() -> None:
    # A single absurd reading (a sensor glitch) must not skew the average after it has left the window.
    node = Node("m", "moving_average", {"n": 2})
    outputs = _values(_feed(node, [1e17, 20.0, 20.0, 20.0]))
    assert outputs[2:] == [20.0, 20.0]


# -- threshold ------------------------------------------------------------------------------
def test_threshold_is_one_above_and_zero_at_or_below_with_alerts_on_crossings() -> None:
    node = Node("t", "threshold", {"threshold": 30})
    outs = _feed(node, [25.0, 30.0, 31.0, 35.0, 30.0, 29.0])
    assert _values(outs) == [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    assert [o.alert for o in outs if o is not None] == [
        None, None, "crossed above 30 °C", None, "crossed at or below 30 °C", None,
    ]
    assert {o.unit for o in outs if o is not None} == {""}


def test_threshold_first_sample_never_alerts() -> None:
    (out,) = _feed(Node("t", "threshold", {"threshold": 30}), [99.0])
    assert out == Output(T0_US, 1.0, "", None)


def test_threshold_alert_without_a_unit_has_no_trailing_space() -> None:
    outs = _feed(Node("t", "threshold", {"threshold": 0.5}), [0.0, 1.0], unit="")
    assert outs[1] is not None and outs[1].alert == "crossed above 0.5"


def test_threshold_hysteresis_ignores_chatter_around_the_threshold() -> None:
    node = Node("t", "threshold", {"threshold": 30, "hysteresis": -2})  # the sign is ignored
    outs = _feed(node, [29.0, 31.0, 32.0, 32.5, 31.0, 28.5, 27.9, 29.0, 31.9, 32.1])
    # Goes up only above 32, down only at or below 28.
    assert _values(outs) == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    alerts = [(i, o.alert) for i, o in enumerate(outs) if o is not None and o.alert]
    assert alerts == [(3, "crossed above 30 °C"), (6, "crossed at or below 30 °C"), (9, "crossed above 30 °C")]


# -- rate of change -------------------------------------------------------------------------
def test_rate_of_change_is_per_second() -> None:
    node = Node("r", "rate_of_change", {})
    outs = _feed(node, [10.0, 12.0, 11.0], step_s=0.5)
    assert outs[0] is None  # nothing to compare the first sample with
    assert outs[1] == Output(T0_US + SEC_US // 2, 4.0, "°C/s")
    assert outs[2] == Output(T0_US + SEC_US, -2.0, "°C/s")


def test_rate_of_change_without_a_unit_is_per_second() -> None:
    outs = _feed(Node("r", "rate_of_change", {}), [0.0, 3.0], unit="")
    assert outs[1] is not None and (outs[1].value, outs[1].unit) == (3.0, "1/s")


@pytest.mark.parametrize("dt_us", [0, -SEC_US])
def test_rate_of_change_is_none_when_time_does_not_increase(dt_us: int) -> None:
    node = Node("r", "rate_of_change", {})
    assert node.feed(T0_US, 1.0, "") is None
    assert node.feed(T0_US + dt_us, 5.0, "") is None


# -- min / max / mean over a time window ----------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("min", [5.0, 1.0, 1.0, 3.0, 2.0]),
        ("max", [5.0, 5.0, 3.0, 4.0, 4.0]),
        ("mean", [5.0, 3.0, 2.0, 3.5, 3.0]),
    ],
)
def test_window_aggregates_evict_inputs_older_than_window_s(kind: str, expected: list[float]) -> None:
    # Window of 2 s: at each time t it holds the inputs of (t - 2 s, t].
    node = Node("w", kind, {"window_s": 2})
    outs = _feed(node, [5.0, 1.0, 3.0, 4.0, 2.0])
    assert _values(outs) == expected
    assert {o.unit for o in outs if o is not None} == {"°C"}


def test_window_aggregate_after_a_long_gap_sees_only_the_new_input() -> None:
    node = Node("w", "max", {"window_s": 60})
    node.feed(T0_US, 100.0, "")
    out = node.feed(T0_US + 61 * SEC_US, 1.0, "")
    assert out is not None and out.value == 1.0


# -- graph evaluation -----------------------------------------------------------------------
def _chain() -> FlowGraph:
    """device (humidity) -> scale (x10) -> moving_average (n=2)."""
    return validate("flow-1", {
        "nodes": [_device(), _node("scale-1", "scale", a=10, b=1), _node("avg-1", "moving_average", n=2)],
        "wires": [_wire(DEVICE_NODE, "scale-1"), _wire("scale-1", "avg-1")],
    })


def test_evaluate_chains_device_scale_moving_average() -> None:
    graph = _chain()
    first = list(graph.evaluate(DEVICE, "humidity", T0_US, 1.0, "%"))
    assert first == [("scale-1", Output(T0_US, 11.0, "%")), ("avg-1", Output(T0_US, 11.0, "%"))]
    second = dict(graph.evaluate(DEVICE, "humidity", T0_US + SEC_US, 2.0, "%"))
    assert second == {"scale-1": Output(T0_US + SEC_US, 21.0, "%"), "avg-1": Output(T0_US + SEC_US, 16.0, "%")}


def test_evaluate_ignores_other_series() -> None:
    graph = _chain()
    assert list(graph.evaluate(DEVICE, "temperature", T0_US, 1.0, "°C")) == []
    assert list(graph.evaluate("another-device", "humidity", T0_US, 1.0, "%")) == []


def test_evaluate_stops_a_branch_when_a_node_has_no_output() -> None:
    graph = validate("flow-1", {
        "nodes": [_device(), _node("roc", "rate_of_change"), _node("scale-1", "scale", a=2)],
        "wires": [_wire(DEVICE_NODE, "roc"), _wire("roc", "scale-1")],
    })
    assert list(graph.evaluate(DEVICE, "humidity", T0_US, 1.0, "%")) == []
    assert list(graph.evaluate(DEVICE, "humidity", T0_US + 2 * SEC_US, 5.0, "%")) == [
        ("roc", Output(T0_US + 2 * SEC_US, 2.0, "%/s")),
        ("scale-1", Output(T0_US + 2 * SEC_US, 4.0, "%/s")),
    ]


def test_evaluate_fans_out_to_every_downstream_node() -> None:
    graph = validate("flow-1", {
        "nodes": [_device(), _node("a", "scale", a=2), _node("b", "scale", b=-1)],
        "wires": [_wire(DEVICE_NODE, "a"), _wire(DEVICE_NODE, "b")],
    })
    assert dict(graph.evaluate(DEVICE, "humidity", T0_US, 4.0, "%")) == {
        "a": Output(T0_US, 8.0, "%"), "b": Output(T0_US, 3.0, "%"),
    }


def test_device_node_data_device_id_names_the_series() -> None:
    graph = validate("flow-1", {
        "nodes": [{"id": "dev-node", "type": "device", "data": {"device_id": "dev-1", "sensor_variable": "rpm"}},
                  _node("s", "scale", a=3)],
        "wires": [_wire("dev-node", "s")],
    })
    assert graph.sources == {("dev-1", "rpm"): ["dev-node"]}
    assert list(graph.evaluate("dev-1", "rpm", T0_US, 2.0, "")) == [("s", Output(T0_US, 6.0, ""))]


def test_device_node_without_a_variable_emits_nothing() -> None:
    graph = validate("flow-1", {"nodes": [{"id": DEVICE_NODE, "type": "device"}], "wires": []})
    assert graph.sources == {}
    assert graph.node_types == {DEVICE_NODE: "device"}


# -- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "a flow needs nodes and wires"),
        ({"nodes": {}, "wires": []}, "nodes and wires must be lists"),
        ({"nodes": [{"type": "scale"}]}, "each node needs a string id"),
        ({"nodes": [_node("x", "median")]}, r"node x: type must be one of device, scale, .*got 'median'"),
        ({"nodes": [_node("x", "scale"), _node("x", "mean")]}, "node id x appears twice"),
        ({"nodes": [{"id": "x", "type": "scale", "data": [1]}]}, "node x: data must be an object"),
        ({"nodes": [{"id": "x", "type": "scale", "position": {"x": "1", "y": 0}}]}, "node x: position must be"),
        ({"nodes": [_node("x", "scale")], "wires": [_wire("x", "ghost")]}, "each wire needs a source node"),
        ({"nodes": [_node("x", "scale")], "wires": [_wire("ghost", "x")]}, "each wire needs a source node"),
        ({"nodes": [_device(), _node("x", "scale")], "wires": [_wire("x", DEVICE_NODE)]},
         "an internal target node"),
        ({"nodes": [_node("x", "scale")], "wires": [_wire("x", "x")]}, "the wires form a loop through node x"),
        ({"nodes": [_node("x", "scale"), _node("y", "mean"), _node("z", "max")],
          "wires": [_wire("x", "y"), _wire("y", "z"), _wire("z", "x")]}, "the wires form a loop"),
        ({"nodes": [_node("m", "moving_average", n=0)]}, r"node m: data.n must be an integer 1-10000"),
        ({"nodes": [_node("m", "moving_average", n=2.5)]}, r"data.n must be an integer"),
        ({"nodes": [_node("m", "moving_average", n=10_001)]}, r"data.n must be an integer"),
        ({"nodes": [_node("w", "mean", window_s=0)]}, r"node w: data.window_s must be > 0 and at most 7 days"),
        ({"nodes": [_node("w", "min", window_s=-5)]}, r"data.window_s must be > 0"),
        ({"nodes": [_node("w", "max", window_s=8 * 24 * 3600)]}, r"at most 7 days"),
        ({"nodes": [_node("s", "scale", a="2")]}, r"node s: data.a must be a finite number"),
        ({"nodes": [_node("s", "scale", b=True)]}, r"data.b must be a finite number"),
        ({"nodes": [_node("s", "scale", a=float("nan"))]}, r"data.a must be a finite number"),
        ({"nodes": [_node("t", "threshold")]}, r"node t: data.threshold must be a finite number"),
    ],
)
def test_validate_rejects(doc: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        validate("flow-1", doc)


def test_validate_rejects_too_many_nodes() -> None:
    nodes = [_node(f"n{i}", "scale") for i in range(501)]
    with pytest.raises(BadRequest, match="at most 500 nodes"):
        validate("flow-1", {"nodes": nodes, "wires": []})


def test_unknown_internal_node_type_names_the_choices() -> None:
    with pytest.raises(BadRequest, match="node x: unknown type 'median'; expected one of device, scale"):
        Node("x", "median", {})


def test_validate_accepts_a_diamond_and_an_empty_flow() -> None:
    graph = validate("flow-1", {
        "nodes": [_device(), _node("a", "scale"), _node("b", "scale"), _node("c", "mean", window_s=10)],
        "wires": [_wire(DEVICE_NODE, "a"), _wire(DEVICE_NODE, "b"), _wire("a", "c"), _wire("b", "c")],
    })
    assert set(graph.nodes) == {"a", "b", "c"}
    assert graph.downstream[DEVICE_NODE] == ["a", "b"]
    assert validate("flow-2", {}).node_types == {}


# -- device node ids ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("node_id", "device"),
    [
        (DEVICE_NODE, DEVICE),
        (f"{DEVICE}-1729325249000-2", DEVICE),
        (DEVICE, DEVICE),
        ("scale-1729325249000", None),
        ("node", None),
    ],
)
def test_device_of_node(node_id: str, device: str | None) -> None:
    assert device_of_node(node_id) == device
