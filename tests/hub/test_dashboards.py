"""hub/dashboards.py over a real store: ownership, create-widget rules and tracked variables that follow widgets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgehub.columns import Columns
from hub.dashboards import Dashboards, TrackedChange, User, new_widget_id
from hub.errors import BadRequest, Forbidden, NotFound
from hub.store import Store

T0_US = 1_752_045_302_000_000  # 2025-07-09T07:15:02Z
SEC_US = 1_000_000
DEVICE = "95b2524b-fa0e-4717-b4ba-9ae9aff3365d"
DEVICE_NODE = f"{DEVICE}-1729325249000"  # the seed's {device_uuid}-{timestamp}
OTHER_DEVICE = "462e41a4-4c65-4568-84e6-b1e1f8156595"
WIDGET_ID = re.compile(r"^flow-widget-\d{8}-\d{6}-[0-9a-f]{8}$")

ALICE = User("alice")
BOB = User("bob")
ROOT = User("root", is_admin=True)

FLOW = {
    "name": "Line 3",
    "nodes": [
        {"id": DEVICE_NODE, "type": "device", "position": {"x": 0, "y": 0}, "data": {"sensor_variable": "humidity"}},
        {"id": "scale-1", "type": "scale", "position": {"x": 200, "y": 0}, "data": {"a": 2, "b": 1}},
    ],
    "wires": [{"source": DEVICE_NODE, "target": "scale-1"}],
}


def _cols(keys: list[tuple[str, str, str]], n: int = 3) -> Columns:
    """n readings of each key, one second apart, seqs 1..n*len(keys)."""
    count = n * len(keys)
    return Columns(
        keys,
        np.repeat(np.arange(len(keys), dtype=np.uint32), n),
        np.arange(1, count + 1, dtype=np.int64),
        np.array([T0_US + (i % n) * SEC_US for i in range(count)], dtype=np.int64),
        np.arange(count, dtype=np.float64),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """DEVICE has reported humidity and temperature through edge-1."""
    s = Store(tmp_path / "hub.duckdb").open()
    s.create_edge("edge-1", "hash")
    s.commit_batch("edge-1", _cols([(DEVICE, "humidity", "%"), (DEVICE, "temperature", "°C")]))
    yield s
    s.close()


@pytest.fixture
def dash(store: Store) -> Dashboards:
    return Dashboards(store)


@pytest.fixture
def flow(dash: Dashboards) -> dict[str, Any]:
    return dash.create_flow(ALICE, FLOW)


@pytest.fixture
def board(dash: Dashboards) -> dict[str, Any]:
    dashboard, change = dash.create_dashboard(ALICE, {"name": "Overview"})
    assert change == TrackedChange()
    return dashboard


def _device_widget(dash: Dashboards, flow: dict[str, Any], board: dict[str, Any],
                   **body: Any) -> tuple[dict[str, Any], dict[str, Any] | None, TrackedChange]:
    body = {"widget_type": "time_series", "sensor_variable": "humidity", "dashboard_uuid": board["uuid"], **body}
    return dash.create_widget(ALICE, flow["flow_uuid"], DEVICE_NODE, body)


def _tracked(store: Store) -> list[tuple[Any, ...]]:
    return store.query("SELECT widget_id, device_id, sensor_type, dashboard_uuid, max_samples "
                       "FROM tracked_variables ORDER BY widget_id")


# -- flows ----------------------------------------------------------------------------------
def test_flow_round_trip(dash: Dashboards, flow: dict[str, Any]) -> None:
    assert flow["owner"] == "alice" and flow["name"] == "Line 3"
    assert (flow["nodes"], flow["wires"]) == (FLOW["nodes"], FLOW["wires"])
    assert flow["created_at"].endswith("Z")
    assert dash.get_flow(ALICE, flow["flow_uuid"]) == flow
    assert dash.list_flows(ALICE) == [flow]


def test_flow_defaults(dash: Dashboards) -> None:
    flow = dash.create_flow(ALICE, {})
    assert (flow["name"], flow["nodes"], flow["wires"]) == ("Untitled flow", [], [])


def test_flow_is_validated(dash: Dashboards) -> None:
    with pytest.raises(BadRequest, match="node x: type must be one of"):
        dash.create_flow(ALICE, {"nodes": [{"id": "x", "type": "median"}]})
    with pytest.raises(BadRequest, match="name must be a non-empty string"):
        dash.create_flow(ALICE, {"name": "  "})
    assert dash.list_flows(ROOT) == []


def test_flows_belong_to_their_owner(dash: Dashboards, flow: dict[str, Any]) -> None:
    flow_uuid = flow["flow_uuid"]
    bob_flow = dash.create_flow(BOB, {"name": "Bob's"})
    assert dash.list_flows(BOB) == [bob_flow]
    assert [f["flow_uuid"] for f in dash.list_flows(ROOT)] == [flow_uuid, bob_flow["flow_uuid"]]
    assert dash.get_flow(ROOT, flow_uuid)["owner"] == "alice"
    for call in (lambda: dash.get_flow(BOB, flow_uuid),
                 lambda: dash.update_flow(BOB, flow_uuid, {"name": "mine"}),
                 lambda: dash.delete_flow(BOB, flow_uuid)):
        with pytest.raises(Forbidden, match="this flow belongs to another user"):
            call()
    assert dash.get_flow(ALICE, flow_uuid)["name"] == "Line 3"


def test_update_flow_keeps_what_the_body_leaves_out(dash: Dashboards, flow: dict[str, Any]) -> None:
    updated = dash.update_flow(ALICE, flow["flow_uuid"], {"name": "Renamed"})
    assert (updated["name"], updated["nodes"]) == ("Renamed", FLOW["nodes"])
    updated = dash.update_flow(ALICE, flow["flow_uuid"], {"nodes": [], "wires": []})
    assert (updated["name"], updated["nodes"]) == ("Renamed", [])
    with pytest.raises(BadRequest, match="each wire needs"):
        dash.update_flow(ALICE, flow["flow_uuid"], {"wires": [{"source": "a", "target": "b"}]})


def test_delete_flow(dash: Dashboards, flow: dict[str, Any]) -> None:
    dash.delete_flow(ROOT, flow["flow_uuid"])  # an admin may
    with pytest.raises(NotFound, match=f"no flow {flow['flow_uuid']}"):
        dash.get_flow(ALICE, flow["flow_uuid"])
    with pytest.raises(NotFound):
        dash.delete_flow(ALICE, flow["flow_uuid"])


# -- dashboards -----------------------------------------------------------------------------
def test_dashboard_round_trip(dash: Dashboards, board: dict[str, Any]) -> None:
    assert board["uuid"] == board["dashboard_uuid"]
    assert (board["owner"], board["name"], board["widgets"]) == ("alice", "Overview", [])
    assert dash.get_dashboard(ALICE, board["uuid"]) == board
    assert dash.list_dashboards(ALICE) == [board]
    assert dash.list_dashboards(BOB) == []
    assert dash.list_dashboards(ROOT) == [board]


def test_dashboards_belong_to_their_owner(dash: Dashboards, board: dict[str, Any]) -> None:
    uuid = board["uuid"]
    for call in (lambda: dash.get_dashboard(BOB, uuid),
                 lambda: dash.update_dashboard(BOB, uuid, {"name": "mine"}),
                 lambda: dash.delete_dashboard(BOB, uuid)):
        with pytest.raises(Forbidden, match="this dashboard belongs to another user"):
            call()
    renamed, change = dash.update_dashboard(ROOT, uuid, {"name": "Renamed by admin"})
    assert (renamed["name"], renamed["owner"], change) == ("Renamed by admin", "alice", TrackedChange())


def test_missing_dashboard_is_not_found(dash: Dashboards) -> None:
    for call in (lambda: dash.get_dashboard(ALICE, "nope"),
                 lambda: dash.update_dashboard(ALICE, "nope", {}),
                 lambda: dash.delete_dashboard(ALICE, "nope")):
        with pytest.raises(NotFound, match="no dashboard nope"):
            call()


# -- create-widget on a device node ---------------------------------------------------------
def test_create_widget_on_a_device_node_tracks_the_variable(
        dash: Dashboards, store: Store, flow: dict[str, Any], board: dict[str, Any]) -> None:
    widget, tracked, change = _device_widget(dash, flow, board)
    widget_id = widget["id"]
    assert WIDGET_ID.match(widget_id)
    assert widget == {
        "id": widget_id, "type": "time_series", "title": "humidity · 95b2524b", "max_samples": 50,
        "dataSource": {"kind": "device", "flow_uuid": flow["flow_uuid"], "node_id": DEVICE_NODE,
                       "device_id": DEVICE, "sensor_type": "humidity"},
        "layout": {"x": 0, "y": 0, "w": 6, "h": 4},
    }
    expected = {"widget_id": widget_id, "device_id": DEVICE, "sensor_type": "humidity",
                "dashboard_uuid": board["uuid"], "max_samples": 50}
    assert tracked == expected
    assert change == TrackedChange(added=[expected], deltas={"edge-1": (1, [expected], [])})
    assert _tracked(store) == [(widget_id, DEVICE, "humidity", board["uuid"], 50)]
    assert dash.get_dashboard(ALICE, board["uuid"])["widgets"] == [widget]
    assert dash.widget(ALICE, board["uuid"], widget_id) == widget
    assert dash.widget_owner(widget_id) == (board["uuid"], "alice", widget)
    assert dash.all_tracked() == [(widget_id, DEVICE, "humidity", 50)]
    (row,) = dash.list_tracked(ALICE, widget_id, None)
    assert {k: v for k, v in row.items() if k != "created_at"} == expected
    assert dash.list_tracked(BOB, None, None) == []


def test_create_widget_honours_max_samples_and_title(dash: Dashboards, flow: dict[str, Any],
                                                     board: dict[str, Any]) -> None:
    widget, tracked, _ = _device_widget(dash, flow, board, max_samples=20, title="Hall", widget_type="gauge")
    assert (widget["title"], widget["type"], widget["max_samples"]) == ("Hall", "gauge", 20)
    assert tracked is not None and tracked["max_samples"] == 20
    second, _, _ = _device_widget(dash, flow, board, sensor_variable="temperature")
    assert second["layout"]["y"] == 4  # below the first
    assert second["id"] != widget["id"]


def test_new_widget_id_format() -> None:
    from datetime import UTC, datetime

    widget_id = new_widget_id(datetime(2025, 10, 19, 8, 7, 29, tzinfo=UTC))
    assert widget_id.startswith("flow-widget-20251019-080729-")
    assert WIDGET_ID.match(widget_id)


def test_device_node_without_sensor_variable_is_refused(dash: Dashboards, store: Store, flow: dict[str, Any],
                                                        board: dict[str, Any]) -> None:
    with pytest.raises(BadRequest, match="sensor_variable is required for a device node"):
        _device_widget(dash, flow, board, sensor_variable=None)
    with pytest.raises(BadRequest, match="sensor_variable"):
        _device_widget(dash, flow, board, sensor_variable="")
    assert _tracked(store) == []
    assert dash.get_dashboard(ALICE, board["uuid"])["widgets"] == []  # nothing half-made


def test_unknown_sensor_variable_lists_the_reported_ones(dash: Dashboards, flow: dict[str, Any],
                                                         board: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as err:
        _device_widget(dash, flow, board, sensor_variable="pressure")
    assert err.value.message == (f"device {DEVICE} has not reported 'pressure'; "
                                 "its variables are: humidity, temperature")


def test_device_that_never_reported_accepts_any_variable(dash: Dashboards, store: Store, flow: dict[str, Any],
                                                         board: dict[str, Any]) -> None:
    store.create_device(OTHER_DEVICE, "ESP32", "token-hash")
    _, tracked, change = dash.create_widget(ALICE, flow["flow_uuid"], f"{OTHER_DEVICE}-1729325249000", {
        "widget_type": "stat", "sensor_variable": "co2", "dashboard_uuid": board["uuid"]})
    assert tracked is not None and (tracked["device_id"], tracked["sensor_type"]) == (OTHER_DEVICE, "co2")
    assert change.deltas == {}  # no edge carries this device yet


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"widget_type": "pie"}, "widget_type must be one of time_series, gauge, stat, table"),
        ({"widget_type": None}, "widget_type must be one of"),
        ({"max_samples": 0}, "max_samples must be an integer 1-10000"),
        ({"max_samples": True}, "max_samples must be an integer"),
        ({"dashboard_uuid": None}, "dashboard_uuid is required"),
        ({"title": 5}, "title must be a string"),
    ],
)
def test_create_widget_rejects_bad_bodies(dash: Dashboards, store: Store, flow: dict[str, Any],
                                          board: dict[str, Any], change: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        _device_widget(dash, flow, board, **change)
    assert _tracked(store) == []


def test_create_widget_on_an_internal_node_tracks_nothing(dash: Dashboards, store: Store, flow: dict[str, Any],
                                                          board: dict[str, Any]) -> None:
    widget, tracked, change = dash.create_widget(ALICE, flow["flow_uuid"], "scale-1",
                                                 {"widget_type": "gauge", "dashboard_uuid": board["uuid"]})
    assert tracked is None
    assert change == TrackedChange()
    assert widget["dataSource"] == {"kind": "node", "flow_uuid": flow["flow_uuid"], "node_id": "scale-1",
                                    "node_type": "scale"}
    assert widget["title"] == "scale · scale-1"
    assert _tracked(store) == []


def test_create_widget_on_a_node_that_is_neither_in_the_flow_nor_a_device(
        dash: Dashboards, flow: dict[str, Any], board: dict[str, Any]) -> None:
    with pytest.raises(NotFound, match=f"no node mean-9 in flow {flow['flow_uuid']}"):
        dash.create_widget(ALICE, flow["flow_uuid"], "mean-9", {"widget_type": "gauge",
                                                                "dashboard_uuid": board["uuid"]})
    unknown_device_node = f"{OTHER_DEVICE}-1729325249000"
    with pytest.raises(NotFound, match=f"no node {unknown_device_node}"):
        dash.create_widget(ALICE, flow["flow_uuid"], unknown_device_node,
                           {"widget_type": "gauge", "sensor_variable": "humidity", "dashboard_uuid": board["uuid"]})


def test_device_node_of_an_unknown_device_in_the_flow(dash: Dashboards, board: dict[str, Any]) -> None:
    node_id = f"{OTHER_DEVICE}-1729325249000"
    flow = dash.create_flow(ALICE, {"nodes": [{"id": node_id, "type": "device",
                                               "data": {"sensor_variable": "humidity"}}]})
    with pytest.raises(BadRequest, match="is unknown to the hub: it has not sent a reading yet"):
        dash.create_widget(ALICE, flow["flow_uuid"], node_id, {"widget_type": "gauge", "sensor_variable": "humidity",
                                                               "dashboard_uuid": board["uuid"]})


def test_create_widget_needs_both_flow_and_dashboard_owned(dash: Dashboards, flow: dict[str, Any],
                                                           board: dict[str, Any]) -> None:
    bob_board, _ = dash.create_dashboard(BOB, {})
    with pytest.raises(Forbidden):
        dash.create_widget(BOB, flow["flow_uuid"], DEVICE_NODE, {
            "widget_type": "gauge", "sensor_variable": "humidity", "dashboard_uuid": bob_board["uuid"]})
    with pytest.raises(Forbidden):
        _device_widget(dash, flow, bob_board)
    with pytest.raises(NotFound, match="no dashboard nope"):
        _device_widget(dash, flow, {"uuid": "nope"})
    with pytest.raises(NotFound, match="no flow nope"):
        dash.create_widget(ALICE, "nope", DEVICE_NODE, {"widget_type": "gauge", "sensor_variable": "humidity",
                                                        "dashboard_uuid": board["uuid"]})


# -- tracked variables follow the widgets ---------------------------------------------------
def test_dropping_a_widget_removes_its_tracked_variable(dash: Dashboards, store: Store, flow: dict[str, Any],
                                                        board: dict[str, Any]) -> None:
    kept, kept_tv, _ = _device_widget(dash, flow, board, sensor_variable="temperature")
    dropped, dropped_tv, change = _device_widget(dash, flow, board)
    assert kept_tv is not None and dropped_tv is not None
    assert change.deltas["edge-1"][0] == 2  # one version per change to the edge's tracked set
    updated, change = dash.update_dashboard(ALICE, board["uuid"], {"widgets": [kept]})
    assert updated["widgets"] == [kept]
    assert change == TrackedChange(removed=[dropped_tv], deltas={"edge-1": (3, [], [dropped_tv])})
    assert _tracked(store) == [(kept["id"], DEVICE, "temperature", board["uuid"], 50)]
    assert dash.widget_owner(dropped["id"]) is None


def test_unchanged_widgets_change_nothing(dash: Dashboards, store: Store, flow: dict[str, Any],
                                          board: dict[str, Any]) -> None:
    widget, _, _ = _device_widget(dash, flow, board)
    _, change = dash.update_dashboard(ALICE, board["uuid"], {"name": "Renamed", "widgets": [widget]})
    assert change == TrackedChange()
    assert store.query("SELECT version FROM tracked_versions") == [(1,)]


def test_resizing_a_widget_updates_its_tracked_variable(dash: Dashboards, store: Store, flow: dict[str, Any],
                                                        board: dict[str, Any]) -> None:
    widget, tracked, _ = _device_widget(dash, flow, board)
    assert tracked is not None
    _, change = dash.update_dashboard(ALICE, board["uuid"], {"widgets": [{**widget, "max_samples": 10}]})
    resized = {**tracked, "max_samples": 10}
    assert change == TrackedChange(added=[resized], deltas={"edge-1": (2, [resized], [])})
    assert _tracked(store)[0][4] == 10


def test_delete_dashboard_removes_all_its_tracked_variables(dash: Dashboards, store: Store, flow: dict[str, Any],
                                                            board: dict[str, Any]) -> None:
    other, _ = dash.create_dashboard(ALICE, {"name": "Other"})
    _, kept_tv, _ = _device_widget(dash, flow, other)
    _, a, _ = _device_widget(dash, flow, board)
    _, b, _ = _device_widget(dash, flow, board, sensor_variable="temperature")
    change = dash.delete_dashboard(ALICE, board["uuid"])
    assert sorted(t["widget_id"] for t in change.removed) == sorted(t["widget_id"] for t in (a, b) if t)
    version, ups, removes = change.deltas["edge-1"]
    assert (version, ups, len(removes)) == (4, [], 2)
    assert kept_tv is not None
    assert _tracked(store) == [(kept_tv["widget_id"], DEVICE, "humidity", other["uuid"], 50)]
    with pytest.raises(NotFound):
        dash.get_dashboard(ALICE, board["uuid"])


def test_put_with_a_device_data_source_tracks_it(dash: Dashboards, store: Store, board: dict[str, Any]) -> None:
    widget = {"id": "w-1", "type": "gauge", "dataSource": {"kind": "device", "device_id": DEVICE,
                                                           "sensor_type": "temperature"}}
    updated, change = dash.update_dashboard(ALICE, board["uuid"], {"widgets": [widget]})
    assert updated["widgets"] == [widget]
    tv = {"widget_id": "w-1", "device_id": DEVICE, "sensor_type": "temperature", "dashboard_uuid": board["uuid"],
          "max_samples": 50}
    assert change == TrackedChange(added=[tv], deltas={"edge-1": (1, [tv], [])})
    assert _tracked(store) == [("w-1", DEVICE, "temperature", board["uuid"], 50)]


def test_create_dashboard_with_widgets_tracks_them(dash: Dashboards, store: Store) -> None:
    widget = {"id": "w-1", "dataSource": {"kind": "device", "device_id": DEVICE, "sensor_type": "humidity"},
              "max_samples": 5}
    board, change = dash.create_dashboard(ALICE, {"widgets": [widget]})
    assert board["name"] == "Untitled dashboard"
    assert [t["widget_id"] for t in change.added] == ["w-1"]
    assert _tracked(store) == [("w-1", DEVICE, "humidity", board["uuid"], 5)]


@pytest.mark.parametrize(
    ("widgets", "message"),
    [
        ({"id": "w"}, "widgets must be a list"),
        ([{"id": "w-1", "type": "gauge"}], "widget w-1 has no data source"),
        ([{"type": "gauge", "dataSource": {"kind": "device"}}], "each widget needs a string id"),
        ([{"id": "w-1", "dataSource": {"kind": "device", "device_id": DEVICE}}],
         "a device data source needs device_id and sensor_type"),
        ([{"id": "w-1", "dataSource": {"kind": "device", "device_id": "ghost", "sensor_type": "x"}}],
         "widget w-1: no device ghost"),
        ([{"id": "w-1", "dataSource": {"kind": "device", "device_id": DEVICE, "sensor_type": "x"},
           "max_samples": 0}], "max_samples must be an integer"),
        ([{"id": "w-1", "dataSource": {"kind": "device", "device_id": DEVICE, "sensor_type": "x"}},
          {"id": "w-1", "dataSource": {"kind": "device", "device_id": DEVICE, "sensor_type": "y"}}],
         "widget id w-1 appears twice"),
        ([{"id": "w-1", "dataSource": {"kind": "node"}}], "a node data source needs flow_uuid and node_id"),
    ],
)
def test_put_rejects_bad_widgets_and_changes_nothing(dash: Dashboards, store: Store, board: dict[str, Any],
                                                     widgets: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        dash.update_dashboard(ALICE, board["uuid"], {"name": "Changed", "widgets": widgets})
    assert dash.get_dashboard(ALICE, board["uuid"])["name"] == "Overview"  # rolled back
    assert _tracked(store) == []


def test_put_of_a_node_data_source_without_node_id_is_refused(dash: Dashboards, flow: dict[str, Any],
                                                              board: dict[str, Any]) -> None:
    # The hub reads dataSource.node_id of every node widget when it loads dashboards and applies changes.
    widget = {"id": "w-1", "dataSource": {"kind": "node", "flow_uuid": flow["flow_uuid"]}}
    with pytest.raises(BadRequest, match="a node data source needs flow_uuid and node_id"):
        dash.update_dashboard(ALICE, board["uuid"], {"widgets": [widget]})


def test_put_of_a_node_widget_on_another_users_flow_is_refused(dash: Dashboards, flow: dict[str, Any]) -> None:
    bob_board, _ = dash.create_dashboard(BOB, {})
    widget = {"id": "w-1", "dataSource": {"kind": "node", "flow_uuid": flow["flow_uuid"], "node_id": "scale-1"}}
    with pytest.raises(Forbidden):
        dash.update_dashboard(BOB, bob_board["uuid"], {"widgets": [widget]})


def test_deleting_a_flow_does_not_block_its_dashboards(dash: Dashboards, flow: dict[str, Any],
                                                       board: dict[str, Any]) -> None:
    dash.create_widget(ALICE, flow["flow_uuid"], "scale-1", {"widget_type": "gauge", "dashboard_uuid": board["uuid"]})
    dash.delete_flow(ALICE, flow["flow_uuid"])
    # The dashboard must stay usable: adding a widget from another flow works.
    other = dash.create_flow(ALICE, FLOW)
    widget, tracked, _ = dash.create_widget(ALICE, other["flow_uuid"], DEVICE_NODE, {
        "widget_type": "gauge", "sensor_variable": "humidity", "dashboard_uuid": board["uuid"]})
    assert tracked is not None and tracked["widget_id"] == widget["id"]
