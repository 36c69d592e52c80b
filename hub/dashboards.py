"""Flows, dashboards ("dashboard templates"), widgets and tracked variables in the hub's store.

Rules from the seed, enforced here:
- A widget on a device node gets data only through a TrackedVariable (device_id, sensor_type,
  widget_id). ``create_widget`` makes one; a device node without ``sensor_variable`` is a 400 that
  says so, never a widget that silently gets nothing.
- The tracked variables of a dashboard follow its ``widgets`` array: a PUT that drops widgets deletes
  theirs, deleting the dashboard deletes all, each in one transaction with the dashboard change.
- Everything is owned: a user sees and changes only their flows and dashboards; admins see all.

Mutating methods run on the store's writer thread and return a ``TrackedChange`` that the caller
applies to the live widget buffers and pushes to the edges as tracked deltas.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from edgehub.duck import one
from hub import flows
from hub.errors import BadRequest, Forbidden, NotFound
from hub.store import Store

WIDGET_TYPES = {
    "time_series": "a live line chart of the last samples",
    "gauge": "the latest value on an arc between min and max",
    "stat": "the latest value, its trend and a sparkline",
    "table": "the latest samples as rows",
}
DEFAULT_MAX_SAMPLES = 50
MAX_MAX_SAMPLES = 10_000
NAME_MAX = 200


@dataclass(frozen=True)
class User:
    username: str
    is_admin: bool = False


@dataclass
class TrackedChange:
    added: list[dict[str, Any]] = field(default_factory=list)  # also re-sized ones
    removed: list[dict[str, Any]] = field(default_factory=list)
    # edge_id -> (new version, upserts, removes) for the tracked delta to that edge
    deltas: dict[str, tuple[int, list[dict[str, Any]], list[dict[str, Any]]]] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="seconds") + "Z" if dt else None


def _name(body: dict[str, Any], default: str) -> str:
    name = body.get("name", default)
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise BadRequest(f"name must be a non-empty string of at most {NAME_MAX} characters")
    return name.strip()


def new_widget_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"flow-widget-{stamp}-{secrets.token_hex(4)}"


class Dashboards:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- ownership -------------------------------------------------------------------------
    def _owned(self, cur: duckdb.DuckDBPyConnection, table: str, key: str, value: str, user: User,
                what: str) -> tuple[Any, ...]:
        cols = "flow_uuid, owner, name, doc, created_at, updated_at" if table == "flows" else \
            "dashboard_uuid, owner, name, widgets, created_at, updated_at"
        row = one(cur.execute(f"SELECT {cols} FROM {table} WHERE {key} = ?", [value]))
        if row is None:
            raise NotFound(f"no {what} {value}")
        if row[1] != user.username and not user.is_admin:
            raise Forbidden(f"this {what} belongs to another user")
        return tuple(row)

    # -- flows -----------------------------------------------------------------------------
    @staticmethod
    def _flow_json(row: tuple[Any, ...]) -> dict[str, Any]:
        doc = json.loads(row[3])
        return {"flow_uuid": row[0], "owner": row[1], "name": row[2], "nodes": doc["nodes"],
                "wires": doc["wires"], "created_at": _iso(row[4]), "updated_at": _iso(row[5])}

    def list_flows(self, user: User) -> list[dict[str, Any]]:
        rows = self.store.query(
            "SELECT flow_uuid, owner, name, doc, created_at, updated_at FROM flows "
            "WHERE owner = ? OR ? ORDER BY created_at", [user.username, user.is_admin])
        return [self._flow_json(r) for r in rows]

    def get_flow(self, user: User, flow_uuid: str) -> dict[str, Any]:
        return self._flow_json(self._owned(self.store.cursor(), "flows", "flow_uuid", flow_uuid, user, "flow"))

    def all_flows(self) -> list[tuple[str, dict[str, Any]]]:
        return [(u, json.loads(d)) for u, d in self.store.query("SELECT flow_uuid, doc FROM flows")]

    def create_flow(self, user: User, body: dict[str, Any]) -> dict[str, Any]:
        flow_uuid = str(uuid.uuid4())
        doc = {"nodes": body.get("nodes", []), "wires": body.get("wires", [])}
        flows.validate(flow_uuid, doc)
        now = _now()
        self.store.cursor().execute("INSERT INTO flows VALUES (?, ?, ?, ?, ?, ?)",
                                    [flow_uuid, user.username, _name(body, "Untitled flow"), json.dumps(doc), now, now])
        return self.get_flow(user, flow_uuid)

    def update_flow(self, user: User, flow_uuid: str, body: dict[str, Any]) -> dict[str, Any]:
        cur = self.store.cursor()
        row = self._owned(cur, "flows", "flow_uuid", flow_uuid, user, "flow")
        old = json.loads(row[3])
        doc = {"nodes": body.get("nodes", old["nodes"]), "wires": body.get("wires", old["wires"])}
        flows.validate(flow_uuid, doc)
        cur.execute("UPDATE flows SET name = ?, doc = ?, updated_at = ? WHERE flow_uuid = ?",
                    [_name(body, row[2]), json.dumps(doc), _now(), flow_uuid])
        return self.get_flow(user, flow_uuid)

    def delete_flow(self, user: User, flow_uuid: str) -> list[str]:
        """Delete a flow and the node widgets fed by it (device widgets keep working); returns the
        ids of the widgets removed."""
        removed: list[str] = []
        with self._transaction() as cur:
            self._owned(cur, "flows", "flow_uuid", flow_uuid, user, "flow")
            rows = cur.execute("SELECT dashboard_uuid, widgets FROM dashboards WHERE contains(widgets, ?)",
                               [flow_uuid]).fetchall()
            for dash_uuid, widgets_json in rows:
                widgets = json.loads(widgets_json)
                keep = [w for w in widgets if not ((w.get("dataSource") or {}).get("kind") == "node"
                                                   and w["dataSource"].get("flow_uuid") == flow_uuid)]
                if len(keep) != len(widgets):
                    removed += [w["id"] for w in widgets if w not in keep]
                    cur.execute("UPDATE dashboards SET widgets = ?, updated_at = ? WHERE dashboard_uuid = ?",
                                [json.dumps(keep), _now(), dash_uuid])
            cur.execute("DELETE FROM flows WHERE flow_uuid = ?", [flow_uuid])
        return removed

    # -- dashboards ------------------------------------------------------------------------
    @staticmethod
    def _dash_json(row: tuple[Any, ...]) -> dict[str, Any]:
        return {"uuid": row[0], "dashboard_uuid": row[0], "owner": row[1], "name": row[2],
                "widgets": json.loads(row[3]), "created_at": _iso(row[4]), "updated_at": _iso(row[5])}

    def list_dashboards(self, user: User) -> list[dict[str, Any]]:
        rows = self.store.query(
            "SELECT dashboard_uuid, owner, name, widgets, created_at, updated_at FROM dashboards "
            "WHERE owner = ? OR ? ORDER BY created_at", [user.username, user.is_admin])
        return [self._dash_json(r) for r in rows]

    def get_dashboard(self, user: User, dash_uuid: str) -> dict[str, Any]:
        cur = self.store.cursor()
        return self._dash_json(self._owned(cur, "dashboards", "dashboard_uuid", dash_uuid, user, "dashboard"))

    def create_dashboard(self, user: User, body: dict[str, Any]) -> tuple[dict[str, Any], TrackedChange]:
        dash_uuid = str(uuid.uuid4())
        now = _now()
        with self._transaction() as cur:
            cur.execute("INSERT INTO dashboards VALUES (?, ?, ?, '[]', ?, ?)",
                        [dash_uuid, user.username, _name(body, "Untitled dashboard"), now, now])
            change = self._set_widgets(cur, user, dash_uuid, body.get("widgets", []))
        return self.get_dashboard(user, dash_uuid), change

    def update_dashboard(self, user: User, dash_uuid: str,
                         body: dict[str, Any]) -> tuple[dict[str, Any], TrackedChange]:
        with self._transaction() as cur:
            row = self._owned(cur, "dashboards", "dashboard_uuid", dash_uuid, user, "dashboard")
            cur.execute("UPDATE dashboards SET name = ?, updated_at = ? WHERE dashboard_uuid = ?",
                        [_name(body, row[2]), _now(), dash_uuid])
            change = TrackedChange()
            if "widgets" in body:
                change = self._set_widgets(cur, user, dash_uuid, body["widgets"])
        return self.get_dashboard(user, dash_uuid), change

    def delete_dashboard(self, user: User, dash_uuid: str) -> TrackedChange:
        with self._transaction() as cur:
            self._owned(cur, "dashboards", "dashboard_uuid", dash_uuid, user, "dashboard")
            change = self._set_widgets(cur, user, dash_uuid, [])
            cur.execute("DELETE FROM dashboards WHERE dashboard_uuid = ?", [dash_uuid])
        return change

    def widget(self, user: User, dash_uuid: str, widget_id: str) -> dict[str, Any]:
        dash = self.get_dashboard(user, dash_uuid)
        for w in dash["widgets"]:
            if w.get("id") == widget_id:
                return dict(w)
        raise NotFound(f"no widget {widget_id} on dashboard {dash_uuid}")

    def widget_owner(self, widget_id: str) -> tuple[str, str, dict[str, Any]] | None:
        """(dashboard_uuid, owner, widget) of a widget id, for WebSocket authorisation."""
        rows = self.store.query(
            "SELECT dashboard_uuid, owner, widgets FROM dashboards WHERE contains(widgets, ?)", [widget_id])
        for dash_uuid, owner, widgets in rows:
            for w in json.loads(widgets):
                if w.get("id") == widget_id:
                    return dash_uuid, owner, w
        return None

    def all_widgets(self) -> list[tuple[str, dict[str, Any]]]:
        return [(d, w) for d, ws in self.store.query("SELECT dashboard_uuid, widgets FROM dashboards")
                for w in json.loads(ws)]

    # -- widgets and tracked variables -----------------------------------------------------
    def create_widget(self, user: User, flow_uuid: str, node_id: str,
                      body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, TrackedChange]:
        widget_type = body.get("widget_type")
        if widget_type not in WIDGET_TYPES:
            raise BadRequest(f"widget_type must be one of {', '.join(WIDGET_TYPES)}")
        max_samples = body.get("max_samples", DEFAULT_MAX_SAMPLES)
        if isinstance(max_samples, bool) or not isinstance(max_samples, int) or \
                not 1 <= max_samples <= MAX_MAX_SAMPLES:
            raise BadRequest(f"max_samples must be an integer 1-{MAX_MAX_SAMPLES}")
        dash_uuid = body.get("dashboard_uuid")
        if not isinstance(dash_uuid, str) or not dash_uuid:
            raise BadRequest("dashboard_uuid is required: the dashboard to put the widget on")
        with self._transaction() as cur:
            flow = self._owned(cur, "flows", "flow_uuid", flow_uuid, user, "flow")
            dash = self._owned(cur, "dashboards", "dashboard_uuid", dash_uuid, user, "dashboard")
            source = self._widget_source(cur, flow_uuid, json.loads(flow[3]), node_id, body.get("sensor_variable"))
            widgets = json.loads(dash[3])
            widget_id = new_widget_id()
            title = body.get("title")
            if title is not None and (not isinstance(title, str) or len(title) > NAME_MAX):
                raise BadRequest(f"title must be a string of at most {NAME_MAX} characters")
            widget = {
                "id": widget_id, "type": widget_type, "title": title or self._default_title(cur, source),
                "max_samples": max_samples, "dataSource": source,
                "layout": {"x": 0, "y": len(widgets) * 4, "w": 6, "h": 4},
            }
            change = self._set_widgets(cur, user, dash_uuid, [*widgets, widget])
            cur.execute("UPDATE dashboards SET updated_at = ? WHERE dashboard_uuid = ?", [_now(), dash_uuid])
        tracked = next((t for t in change.added if t["widget_id"] == widget_id), None)
        return widget, tracked, change

    def _widget_source(self, cur: duckdb.DuckDBPyConnection, flow_uuid: str, doc: dict[str, Any],
                       node_id: str, sensor_variable: Any) -> dict[str, Any]:
        node = next((n for n in doc["nodes"] if n.get("id") == node_id), None)
        device_id = flows.device_of_node(node_id)
        if device_id is None and node is not None and node.get("type") == "device":
            device_id = (node.get("data") or {}).get("device_id")
        device = one(cur.execute("SELECT device_id FROM devices WHERE device_id = ?", [device_id])) \
            if device_id else None
        if device is not None:
            if not isinstance(sensor_variable, str) or not sensor_variable:
                raise BadRequest("sensor_variable is required for a device node: choose the variable to "
                                 "visualise (for example \"humidity\"); without it the widget would get no data")
            known = [r[0] for r in cur.execute(
                "SELECT DISTINCT sensor_type FROM series WHERE device_id = ? ORDER BY 1", [device_id]).fetchall()]
            if known and sensor_variable not in known:
                raise BadRequest(f"device {device_id} has not reported {sensor_variable!r}; "
                                 f"its variables are: {', '.join(known)}")
            return {"kind": "device", "flow_uuid": flow_uuid, "node_id": node_id, "device_id": device_id,
                    "sensor_type": sensor_variable}
        if node is None:
            raise NotFound(f"no node {node_id} in flow {flow_uuid} (save the flow first)")
        if node.get("type") == "device":
            raise BadRequest(f"device {device_id or '?'} of node {node_id} is unknown to the hub: "
                             "it has not sent a reading yet")
        return {"kind": "node", "flow_uuid": flow_uuid, "node_id": node_id, "node_type": node.get("type")}

    def _set_widgets(self, cur: duckdb.DuckDBPyConnection, user: User, dash_uuid: str,
                     widgets: Any) -> TrackedChange:
        """Store ``widgets`` and make the dashboard's tracked variables follow them."""
        desired = self._validate_widgets(cur, user, dash_uuid, widgets)
        current = {
            (w, d, s): m for w, d, s, m in cur.execute(
                "SELECT widget_id, device_id, sensor_type, max_samples FROM tracked_variables "
                "WHERE dashboard_uuid = ?", [dash_uuid]).fetchall()
        }
        change = TrackedChange()
        for key in current.keys() - desired.keys():
            cur.execute("DELETE FROM tracked_variables WHERE widget_id = ? AND device_id = ? AND sensor_type = ?",
                        list(key))
            change.removed.append(_tv(key, dash_uuid, current[key]))
        for key, max_samples in desired.items():
            if key not in current:
                cur.execute("INSERT INTO tracked_variables VALUES (?, ?, ?, ?, ?, ?)",
                            [key[1], key[2], key[0], dash_uuid, max_samples, _now()])
                change.added.append(_tv(key, dash_uuid, max_samples))
            elif current[key] != max_samples:
                cur.execute("UPDATE tracked_variables SET max_samples = ? WHERE widget_id = ? AND device_id = ? "
                            "AND sensor_type = ?", [max_samples, *key])
                change.added.append(_tv(key, dash_uuid, max_samples))
        cur.execute("UPDATE dashboards SET widgets = ? WHERE dashboard_uuid = ?", [json.dumps(widgets), dash_uuid])
        self._bump_versions(cur, change)
        return change

    def _validate_widgets(self, cur: duckdb.DuckDBPyConnection, user: User, dash_uuid: str,
                          widgets: Any) -> dict[tuple[str, str, str], int]:
        if not isinstance(widgets, list):
            raise BadRequest("widgets must be a list")
        desired: dict[tuple[str, str, str], int] = {}
        seen: set[str] = set()
        for w in widgets:
            if not isinstance(w, dict) or not isinstance(w.get("id"), str) or not w["id"]:
                raise BadRequest("each widget needs a string id")
            if w["id"] in seen:
                raise BadRequest(f"widget id {w['id']} appears twice")
            seen.add(w["id"])
            source = w.get("dataSource") or {}
            max_samples = w.get("max_samples", DEFAULT_MAX_SAMPLES)
            if isinstance(max_samples, bool) or not isinstance(max_samples, int) or \
                    not 1 <= max_samples <= MAX_MAX_SAMPLES:
                raise BadRequest(f"widget {w['id']}: max_samples must be an integer 1-{MAX_MAX_SAMPLES}")
            if source.get("kind") == "device":
                dev, sensor = source.get("device_id"), source.get("sensor_type")
                if not isinstance(dev, str) or not isinstance(sensor, str) or not dev or not sensor:
                    raise BadRequest(f"widget {w['id']}: a device data source needs device_id and sensor_type")
                if one(cur.execute("SELECT 1 FROM devices WHERE device_id = ?", [dev])) is None:
                    raise BadRequest(f"widget {w['id']}: no device {dev}")
                desired[(w["id"], dev, sensor)] = max_samples
            elif source.get("kind") == "node":
                flow_uuid, node_id = source.get("flow_uuid"), source.get("node_id")
                if not isinstance(flow_uuid, str) or not isinstance(node_id, str) or not node_id:
                    raise BadRequest(f"widget {w['id']}: a node data source needs flow_uuid and node_id")
                self._owned(cur, "flows", "flow_uuid", flow_uuid, user, "flow")
            else:
                raise BadRequest(f"widget {w['id']} has no data source: create widgets with Visualize Output "
                                 "(create-widget) or give dataSource {kind: device, device_id, sensor_type}")
        return desired

    @staticmethod
    def _bump_versions(cur: duckdb.DuckDBPyConnection, change: TrackedChange) -> None:
        by_edge: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
        for kind, items in ((0, change.added), (1, change.removed)):
            for tv in items:
                row = one(cur.execute("SELECT edge_id FROM devices WHERE device_id = ?", [tv["device_id"]]))
                if row and row[0]:
                    by_edge.setdefault(row[0], ([], []))[kind].append(tv)
        for edge_id, (ups, removes) in by_edge.items():
            row = one(cur.execute(
                "INSERT INTO tracked_versions VALUES (?, 1) ON CONFLICT (edge_id) DO UPDATE "
                "SET version = tracked_versions.version + 1 RETURNING version", [edge_id]))
            change.deltas[edge_id] = (int(row[0]) if row else 1, ups, removes)

    def list_tracked(self, user: User, widget_id: str | None, dash_uuid: str | None) -> list[dict[str, Any]]:
        sql = ("SELECT t.device_id, t.sensor_type, t.widget_id, t.dashboard_uuid, t.max_samples, t.created_at "
               "FROM tracked_variables t JOIN dashboards d ON d.dashboard_uuid = t.dashboard_uuid "
               "WHERE (d.owner = ? OR ?)")
        params: list[Any] = [user.username, user.is_admin]
        if widget_id:
            sql += " AND t.widget_id = ?"
            params.append(widget_id)
        if dash_uuid:
            sql += " AND t.dashboard_uuid = ?"
            params.append(dash_uuid)
        rows = self.store.query(sql + " ORDER BY t.created_at, t.widget_id", params)
        return [{"device_id": d, "sensor_type": s, "widget_id": w, "dashboard_uuid": u, "max_samples": m,
                 "created_at": _iso(c)} for d, s, w, u, m, c in rows]

    def all_tracked(self) -> list[tuple[str, str, str, int]]:
        rows = self.store.query("SELECT widget_id, device_id, sensor_type, max_samples FROM tracked_variables")
        return [(str(w), str(d), str(s), int(m)) for w, d, s, m in rows]

    @staticmethod
    def _default_title(cur: duckdb.DuckDBPyConnection, source: dict[str, Any]) -> str:
        if source["kind"] == "device":
            row = one(cur.execute("SELECT name FROM devices WHERE device_id = ?", [source["device_id"]]))
            name = row[0] if row and row[0] and row[0] != source["device_id"] else source["device_id"][:8]
            return f"{source['sensor_type']} · {name}"
        return f"{source['node_type'].replace('_', ' ')} · {source['node_id']}"

    # -- transactions ----------------------------------------------------------------------
    def _transaction(self) -> _Tx:
        return _Tx(self.store.cursor())


class _Tx:
    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self.cur = cur

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self.cur.execute("BEGIN TRANSACTION")
        return self.cur

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.cur.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _tv(key: tuple[str, str, str], dash_uuid: str, max_samples: int) -> dict[str, Any]:
    return {"widget_id": key[0], "device_id": key[1], "sensor_type": key[2], "dashboard_uuid": dash_uuid,
            "max_samples": max_samples}


