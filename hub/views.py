"""HTTP and WebSocket handlers of the seed's live-widget contract.

Flows, dashboard templates, create-widget, tracked variables, widget samples, node outputs,
``/ws/widgets/{id}/`` (live samples) and ``/ws/sensors/`` (direct device ingest). Handlers parse,
authorise, call ``hub.dashboards`` or the store, and apply the resulting tracked change to the live
widget buffers and the edges.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from edge.payload import parse
from edgehub.columns import Columns
from hub import auth, metrics
from hub.api import ORJSONResponse, int_param, json_body, user_of
from hub.dashboards import Dashboards, TrackedChange, User
from hub.errors import BadRequest, NotFound
from hub.fanout import Fanout
from hub.flows import validate
from hub.link import LinkService
from hub.store import Store
from hub.widgets import LiveWidgets, group
from protos import link_pb2

logger = logging.getLogger(__name__)

DIRECT_EDGE = "@direct"  # the pseudo-edge whose watermark numbers readings from /ws/sensors/
WS_CLOSE_UNAUTHORIZED = 4401
WS_CLOSE_FORBIDDEN = 4403
WS_CLOSE_NOT_FOUND = 4404


class Views:
    def __init__(self, store: Store, link: LinkService, tokens: auth.Tokens, fanout: Fanout,
                 widgets: LiveWidgets) -> None:
        self.store = store
        self.link = link
        self.tokens = tokens
        self.fanout = fanout
        self.widgets = widgets
        self.dash = Dashboards(store)
        self._direct_seq = 0

    # -- start-up --------------------------------------------------------------------------
    async def load(self) -> None:
        """Rebuild widget buffers and flow state from storage (at hub start)."""
        await self.store.write(self.store.ensure_edge, DIRECT_EDGE)
        self._direct_seq = self.store.watermark(DIRECT_EDGE)
        # The link is already serving: listen first, so that nothing committed while buffers are
        # rebuilt is missed (a sample that comes both ways is kept once).
        self.link.listeners.append(self.widgets.on_samples)
        for flow_uuid, doc in await self.store.read(self.dash.all_flows):
            await self._install_flow(flow_uuid, doc)
        for widget_id, device_id, sensor, max_samples in await self.store.read(self.dash.all_tracked):
            await self._start_device_widget(widget_id, device_id, sensor, max_samples)
        for _, w in await self.store.read(self.dash.all_widgets):
            src = w.get("dataSource") or {}
            if src.get("kind") == "node":
                self.widgets.add_node_widget(w["id"], src["flow_uuid"], src["node_id"], w.get("max_samples", 50))
        logger.info("live widgets loaded: %d buffers, %d flows", len(self.widgets.rings), len(self.widgets.graphs))

    async def _start_device_widget(self, widget_id: str, device_id: str, sensor: str, max_samples: int) -> None:
        ring = self.widgets.add_device_widget(widget_id, device_id, sensor, max_samples)
        rows = await self.store.read(self.store.series_tail, device_id, sensor, max_samples)
        self.widgets.prime(widget_id, ring, rows)

    async def _install_flow(self, flow_uuid: str, doc: dict[str, Any]) -> None:
        try:
            graph = validate(flow_uuid, doc)
        except BadRequest as exc:
            logger.error("flow %s cannot be evaluated: %s", flow_uuid, exc)
            return
        replay: list[tuple[str, str, int, float, str]] = []
        for device_id, sensor in graph.sources:
            rows = await self.store.read(self.store.series_tail, device_id, sensor, 500)
            replay += [(device_id, sensor, t, v, u) for t, _, v, u in rows]
        replay.sort(key=lambda r: r[2])
        self.widgets.set_flow(graph, replay)

    async def _apply(self, change: TrackedChange, dashboard: dict[str, Any] | None = None,
                     removed_widgets: set[str] | None = None) -> None:
        for tv in change.removed:
            self.widgets.remove_widget(tv["widget_id"])
        for wid in removed_widgets or ():
            self.widgets.remove_widget(wid)
        for tv in change.added:
            await self._start_device_widget(tv["widget_id"], tv["device_id"], tv["sensor_type"], tv["max_samples"])
        for w in (dashboard or {}).get("widgets", []):
            src = w.get("dataSource") or {}
            if src.get("kind") == "node" and w["id"] not in self.widgets.rings:
                self.widgets.add_node_widget(w["id"], src["flow_uuid"], src["node_id"], w.get("max_samples", 50))
        for edge_id, (version, ups, removes) in change.deltas.items():
            delta = link_pb2.TrackedDelta(
                version=version,
                upserts=[link_pb2.TrackedVariable(**tv) for tv in ups],
                removes=[link_pb2.TrackedVariable(**tv) for tv in removes],
            )
            sent = await self.link.push_tracked_delta(edge_id, delta)
            logger.info("tracked delta v%d to edge %s: +%d -%d%s", version, edge_id, len(ups), len(removes),
                        "" if sent else " (offline: it gets a snapshot on connect)")

    def _user(self, request: Request) -> User:
        u = user_of(self.tokens, request)
        return User(u["username"], u["is_admin"])

    # -- flows -----------------------------------------------------------------------------
    async def flows(self, request: Request) -> Response:
        user = self._user(request)
        if request.method == "GET":
            return ORJSONResponse(await self.store.read(self.dash.list_flows, user))
        flow = await self.store.write(self.dash.create_flow, user, await json_body(request))
        await self._install_flow(flow["flow_uuid"], flow)
        return ORJSONResponse(flow, status_code=201)

    async def flow(self, request: Request) -> Response:
        user = self._user(request)
        flow_uuid = request.path_params["flow_uuid"]
        if request.method == "GET":
            return ORJSONResponse(await self.store.read(self.dash.get_flow, user, flow_uuid))
        if request.method == "DELETE":
            for widget_id in await self.store.write(self.dash.delete_flow, user, flow_uuid):
                self.widgets.remove_widget(widget_id)
            self.widgets.remove_flow(flow_uuid)
            return Response(status_code=204)
        flow = await self.store.write(self.dash.update_flow, user, flow_uuid, await json_body(request))
        await self._install_flow(flow_uuid, flow)
        return ORJSONResponse(flow)

    async def node_output(self, request: Request) -> Response:
        user = self._user(request)
        flow_uuid, node_id = request.path_params["flow_uuid"], request.path_params["node_id"]
        flow = await self.store.read(self.dash.get_flow, user, flow_uuid)
        node = next((n for n in flow["nodes"] if n["id"] == node_id), None)
        if node is None:
            raise NotFound(f"no node {node_id} in flow {flow_uuid}")
        if node["type"] == "device":
            raise BadRequest("a device node has no computed output: read its data from /api/devices/{id}/readings/")
        state = self.widgets.node_output(flow_uuid, node_id)
        items = state.ring.samples() if state else []
        body: dict[str, Any] = {"node_id": node_id, "type": node["type"], "output": items[-1] if items else None,
                                "alerts": state.alerts[-20:] if state else []}
        if request.query_params.get("limit"):
            limit = int_param(request, "limit", 1000, 1, 1000)
            body["history"] = items[-limit:]
        return ORJSONResponse(body)

    async def create_widget(self, request: Request) -> Response:
        user = self._user(request)
        body = await json_body(request)
        widget, tracked, change = await self.store.write(
            self.dash.create_widget, user, request.path_params["flow_uuid"], request.path_params["node_id"], body)
        dashboard = await self.store.read(self.dash.get_dashboard, user, body["dashboard_uuid"])
        await self._apply(change, dashboard)
        return ORJSONResponse({"widget": widget, "tracked_variable": tracked,
                               "dashboard_uuid": body["dashboard_uuid"]}, status_code=201)

    # -- dashboards ------------------------------------------------------------------------
    async def dashboards(self, request: Request) -> Response:
        user = self._user(request)
        if request.method == "GET":
            return ORJSONResponse(await self.store.read(self.dash.list_dashboards, user))
        dashboard, change = await self.store.write(self.dash.create_dashboard, user, await json_body(request))
        await self._apply(change, dashboard)
        return ORJSONResponse(dashboard, status_code=201)

    async def dashboard(self, request: Request) -> Response:
        user = self._user(request)
        dash_uuid = request.path_params["dash_uuid"]
        if request.method == "GET":
            return ORJSONResponse(await self.store.read(self.dash.get_dashboard, user, dash_uuid))
        before = await self.store.read(self.dash.get_dashboard, user, dash_uuid)
        old_ids = {w["id"] for w in before["widgets"]}
        if request.method == "DELETE":
            change = await self.store.write(self.dash.delete_dashboard, user, dash_uuid)
            await self._apply(change, None, old_ids)
            return Response(status_code=204)
        dashboard, change = await self.store.write(self.dash.update_dashboard, user, dash_uuid,
                                                   await json_body(request))
        await self._apply(change, dashboard, old_ids - {w["id"] for w in dashboard["widgets"]})
        return ORJSONResponse(dashboard)

    async def samples(self, request: Request) -> Response:
        user = self._user(request)
        widget_id = request.path_params["widget_id"]
        await self.store.read(self.dash.widget, user, request.path_params["dash_uuid"], widget_id)
        return ORJSONResponse(self.widgets.samples(widget_id) or [])

    async def tracked(self, request: Request) -> Response:
        user = self._user(request)
        q = request.query_params
        rows = await self.store.read(self.dash.list_tracked, user, q.get("widget_id"), q.get("dashboard_uuid"))
        return ORJSONResponse(rows)

    # -- WebSockets ------------------------------------------------------------------------
    async def ws_widget(self, ws: WebSocket) -> None:
        await ws.accept()
        widget_id = ws.path_params["widget_id"]
        try:
            claims = self.tokens.verify(ws.query_params.get("token", ""))
        except auth.AuthError as exc:
            await ws.close(WS_CLOSE_UNAUTHORIZED, f"access token rejected: {exc}")
            return
        found = await self.store.read(self.dash.widget_owner, widget_id)
        if found is None or widget_id not in self.widgets.rings:
            await ws.close(WS_CLOSE_NOT_FOUND, f"no live widget {widget_id}")
            return
        if found[1] != claims["sub"] and not claims.get("adm"):
            await ws.close(WS_CLOSE_FORBIDDEN, "this widget belongs to another user")
            return
        sub = self.fanout.subscribe(group(widget_id))
        try:
            while True:
                batch = await sub.next_batch()
                if not batch:  # the widget was removed
                    await ws.close(1000, "widget removed")
                    return
                for message in batch:
                    await ws.send_text(message.decode())
        except (WebSocketDisconnect, RuntimeError, OSError):
            logger.debug("widget socket for %s went away", widget_id)
        finally:
            self.fanout.unsubscribe(sub)

    async def ws_sensors(self, ws: WebSocket) -> None:
        """Direct device ingest: the same JSON payloads as MQTT; each message is answered after commit."""
        await ws.accept()
        token = ws.query_params.get("token", "")
        device_id = await self.store.read(self.store.device_for_token, auth.hash_token(token)) if token else None
        if device_id is None:
            await ws.close(WS_CLOSE_UNAUTHORIZED, "unknown device token")
            return
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                raw = message.get("bytes") or (message.get("text") or "").encode()
                reply = await self._ingest_direct(device_id, raw)
                await ws.send_text(orjson.dumps(reply).decode())
        except (WebSocketDisconnect, RuntimeError):
            return

    async def _ingest_direct(self, device_id: str, raw: bytes) -> dict[str, Any]:
        readings, rejects = parse(raw, device_id, time.time_ns() // 1000)
        for rej in rejects:
            metrics.DIRECT_REJECTED.labels(rej.reason).inc()
        if readings:
            keys = list(dict.fromkeys(r[0] for r in readings))
            index = {k: i for i, k in enumerate(keys)}
            first = self._direct_seq + 1
            self._direct_seq += len(readings)
            cols = Columns(
                keys,
                np.array([index[r[0]] for r in readings], dtype=np.uint32),
                np.arange(first, first + len(readings), dtype=np.int64),
                np.array([r[1] for r in readings], dtype=np.int64),
                np.array([r[2] for r in readings], dtype=np.float64),
            )
            result = await self.store.write(self.store.commit_batch, DIRECT_EDGE, cols)
            metrics.DIRECT_READINGS.inc(result.stored)
            metrics.STORED.inc(result.stored)
            self.link.notify(DIRECT_EDGE, cols, True)
        return {"accepted": len(readings), "rejected": [{"reason": r.reason, "detail": r.detail} for r in rejects]}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/flows/", self.flows, methods=["GET", "POST"]),
            Route("/api/flows/{flow_uuid}/", self.flow, methods=["GET", "PUT", "DELETE"]),
            Route("/api/flows/{flow_uuid}/nodes/{node_id}/output/", self.node_output, methods=["GET"]),
            Route("/api/flows/{flow_uuid}/nodes/{node_id}/create-widget/", self.create_widget, methods=["POST"]),
            Route("/api/dashboard-templates/", self.dashboards, methods=["GET", "POST"]),
            Route("/api/dashboard-templates/{dash_uuid}/", self.dashboard, methods=["GET", "PUT", "DELETE"]),
            Route("/api/dashboard-templates/{dash_uuid}/widgets/{widget_id}/samples/", self.samples,
                  methods=["GET"]),
            Route("/api/tracked-variables/", self.tracked, methods=["GET"]),
            WebSocketRoute("/ws/widgets/{widget_id}/", self.ws_widget),
            WebSocketRoute("/ws/sensors/", self.ws_sensors),
        ]
