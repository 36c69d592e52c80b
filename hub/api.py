"""REST API on Starlette. Handlers parse, authorise, call the store, and map errors to JSON.

Every ``/api/`` route except ``POST /api/auth/token/`` needs ``Authorization: Bearer <JWT>``.
Errors are ``{"error": "<plain words>"}`` with a fitting status code.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from hub import auth, metrics
from hub.errors import BadRequest, Conflict, Forbidden, HubError, NotFound, Unauthorized
from hub.link import LinkService, edge_status
from hub.store import Store

logger = logging.getLogger(__name__)

READINGS_DEFAULT_LIMIT = 1000
READINGS_MAX_LIMIT = 100_000
ID_MAX_LENGTH = 128
MIN_PASSWORD = 8
MIN_TIME_US = 0
MAX_TIME_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z, the end of datetime's range


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z)


_ERRORS: dict[int, type[HubError]] = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound,
                                      409: Conflict}


def error(status: int, message: str) -> HubError:
    return _ERRORS[status](message)


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise error(400, "the request body must be JSON") from None
    if not isinstance(body, dict):
        raise error(400, "the request body must be a JSON object")
    return body


def user_of(tokens: auth.Tokens, request: Request) -> dict[str, Any]:
    """The user of a request's ``Authorization: Bearer`` JWT (raises Unauthorized)."""
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer "):
        raise error(401, "log in first: send Authorization: Bearer <access token>")
    try:
        claims = tokens.verify(header[7:].strip())
    except auth.AuthError as exc:
        raise error(401, f"access token rejected: {exc}") from None
    return {"username": claims["sub"], "is_admin": bool(claims.get("adm"))}


def parse_time_us(text: str, name: str) -> int:
    """ISO-8601 (``Z`` or offset; naive is UTC) or epoch milliseconds -> epoch microseconds."""
    try:
        if text.lstrip("-").replace(".", "", 1).isdigit():
            us = int(float(text) * 1000)
        else:
            dt = datetime.fromisoformat(text.replace("z", "Z"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            us = int(dt.timestamp() * 1_000_000)
    except (ValueError, OverflowError):
        raise error(400, f"{name} must be ISO-8601 (2025-07-09T07:15:02Z) or epoch milliseconds") from None
    if not MIN_TIME_US <= us <= MAX_TIME_US:
        raise error(400, f"{name} is out of range (years 1970-9999)")
    return us


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise error(400, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise error(400, f"{name} must be between {low} and {high}")
    return value


class Api:
    def __init__(self, store: Store, link: LinkService, tokens: auth.Tokens, web_dir: Path | None = None):
        self.store = store
        self.link = link
        self.tokens = tokens
        self.web_dir = web_dir

    # -- auth helpers ----------------------------------------------------------------------
    def user(self, request: Request) -> dict[str, Any]:
        return user_of(self.tokens, request)

    def admin(self, request: Request) -> dict[str, Any]:
        user = self.user(request)
        if not user["is_admin"]:
            raise error(403, "this needs an admin account")
        return user

    # -- routes ----------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        body = await json_body(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise error(400, "send username and password as strings")
        row = await self.store.read(self.store.get_user, username)
        if row is None or not auth.verify_password(password, row["password_hash"]):
            raise error(401, "wrong username or password")
        return ORJSONResponse({"access": self.tokens.issue(username, row["is_admin"])})

    async def create_edge(self, request: Request) -> Response:
        self.admin(request)
        body = await json_body(request)
        edge_id = body.get("edge_id")
        if not isinstance(edge_id, str) or not edge_id.strip() or len(edge_id) > ID_MAX_LENGTH:
            raise error(400, f"edge_id must be a non-empty string of at most {ID_MAX_LENGTH} characters")
        token = auth.new_token()
        created = await self.store.write(self.store.create_edge, edge_id, auth.hash_token(token))
        if not created:
            raise error(409, f"edge {edge_id!r} exists already")
        logger.info("edge %s registered", edge_id)
        return ORJSONResponse({"edge_id": edge_id, "token": token}, status_code=201)

    async def list_edges(self, request: Request) -> Response:
        self.user(request)
        rows = await self.store.read(self.store.list_edges)
        return ORJSONResponse(edge_status(self.link, rows))

    async def list_devices(self, request: Request) -> Response:
        self.user(request)
        devices = await self.store.read(self.store.list_devices)
        return ORJSONResponse(devices)


    async def device_readings(self, request: Request) -> Response:
        self.user(request)
        device_id = request.path_params["device_id"]
        q = request.query_params
        from_us = parse_time_us(q["from"], "from") if q.get("from") else None
        to_us = parse_time_us(q["to"], "to") if q.get("to") else None
        if from_us is not None and to_us is not None and from_us > to_us:
            raise error(400, "from must not be after to")
        limit = int_param(request, "limit", READINGS_DEFAULT_LIMIT, 1, READINGS_MAX_LIMIT)
        if not await self.store.read(self.store.device_exists, device_id):
            raise error(404, f"no device {device_id!r}")
        if q.get("max_points"):
            if not q.get("sensor_type"):
                raise error(400, "max_points needs sensor_type: one series is bucketed at a time")
            max_points = int_param(request, "max_points", 1000, 1, READINGS_MAX_LIMIT)
            return ORJSONResponse(await self.store.read(
                self.store.readings_bucketed, device_id, q["sensor_type"], from_us, to_us, max_points))
        rows = await self.store.read(
            self.store.readings, device_id, q.get("sensor_type") or None, from_us, to_us, limit
        )
        return ORJSONResponse(rows)

    async def users(self, request: Request) -> Response:
        self.admin(request)
        if request.method == "GET":
            rows = await self.store.read(self.store.query_dicts,
                                         "SELECT username, is_admin, created_at FROM users ORDER BY username")
            return ORJSONResponse(rows)
        body = await json_body(request)
        username, password = body.get("username"), body.get("password")
        is_admin = body.get("is_admin", False)
        if not isinstance(username, str) or not username.strip() or len(username) > ID_MAX_LENGTH:
            raise error(400, f"username must be a non-empty string of at most {ID_MAX_LENGTH} characters")
        if not isinstance(password, str) or len(password) < MIN_PASSWORD:
            raise error(400, f"password must be a string of at least {MIN_PASSWORD} characters")
        if not isinstance(is_admin, bool):
            raise error(400, "is_admin must be true or false")
        created = await self.store.write(self.store.create_user, username, auth.hash_password(password), is_admin)
        if not created:
            raise error(409, f"user {username!r} exists already")
        return ORJSONResponse({"username": username, "is_admin": is_admin}, status_code=201)

    async def create_device(self, request: Request) -> Response:
        """A device that sends straight to the hub over /ws/sensors/ (no edge); its token is shown once."""
        self.admin(request)
        body = await json_body(request)
        device_id = body.get("device_id") or str(uuid.uuid4())
        name = body.get("name") or device_id
        if not isinstance(device_id, str) or len(device_id) > ID_MAX_LENGTH:
            raise error(400, f"device_id must be a string of at most {ID_MAX_LENGTH} characters")
        if not isinstance(name, str) or len(name) > ID_MAX_LENGTH:
            raise error(400, f"name must be a string of at most {ID_MAX_LENGTH} characters")
        token = auth.new_token()
        if not await self.store.write(self.store.create_device, device_id, name, auth.hash_token(token)):
            raise error(409, f"device {device_id!r} exists already")
        return ORJSONResponse({"device_id": device_id, "name": name, "token": token}, status_code=201)

    async def patch_device(self, request: Request) -> Response:
        self.admin(request)
        device_id = request.path_params["device_id"]
        body = await json_body(request)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > ID_MAX_LENGTH:
            raise error(400, f"name must be a non-empty string of at most {ID_MAX_LENGTH} characters")
        if not await self.store.write(self.store.rename_device, device_id, name.strip()):
            raise error(404, f"no device {device_id!r}")
        devices = await self.store.read(self.store.list_devices)
        return ORJSONResponse(next(d for d in devices if d["device_id"] == device_id))

    async def index(self, request: Request) -> Response:
        if self.web_dir is not None and (self.web_dir / "index.html").exists():
            return HTMLResponse((self.web_dir / "index.html").read_text(), headers={"Cache-Control": "no-cache"})
        return HTMLResponse(
            "<!doctype html><title>edgehub</title><h1>edgehub hub</h1>"
            "<p>The hub is running. The REST API is under <code>/api/</code>; metrics at "
            "<a href='/metrics'>/metrics</a>.</p>"
        )

    async def metrics(self, request: Request) -> Response:
        """Prometheus text; ``?name[]=…`` (repeatable) limits it to those metrics, as Prometheus's own
        exporters do: a poller that needs one counter then costs the hub almost nothing."""
        names = request.query_params.getlist("name[]")
        if not names or metrics.DB_MEMORY_NAME in names:
            metrics.DB_MEMORY.set(await self.store.read(self.store.db_memory))
        registry = REGISTRY.restricted_registry(names) if names else REGISTRY
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def health(self, request: Request) -> Response:
        return ORJSONResponse({"status": "ok", "edges_connected": len(self.link.sessions)})

    def routes(self) -> list[BaseRoute]:
        static: list[BaseRoute] = []
        if self.web_dir is not None and self.web_dir.is_dir():
            static.append(Mount("/static", StaticFiles(directory=self.web_dir), name="static"))
        return [
            *static,
            Route("/", self.index),
            Route("/metrics", self.metrics),
            Route("/healthz", self.health),
            Route("/api/auth/token/", self.token, methods=["POST"]),
            Route("/api/edges/", self.create_edge, methods=["POST"]),
            Route("/api/edges/", self.list_edges, methods=["GET"]),
            Route("/api/users/", self.users, methods=["GET", "POST"]),
            Route("/api/devices/", self.list_devices, methods=["GET"]),
            Route("/api/devices/", self.create_device, methods=["POST"]),
            Route("/api/devices/{device_id}/", self.patch_device, methods=["PATCH"]),
            Route("/api/devices/{device_id}/readings/", self.device_readings, methods=["GET"]),
        ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return ORJSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def _hub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    return ORJSONResponse({"error": exc.message}, status_code=exc.status)


def create_app(api: Api, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    return Starlette(routes=[*api.routes(), *(extra_routes or [])],
                     exception_handlers={HTTPException: _http_error, HubError: _hub_error})
