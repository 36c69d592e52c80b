"""The hub process: one asyncio loop serving gRPC (HubLink) and HTTP (Starlette under uvicorn)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import grpc
import uvicorn

from hub import auth
from hub.api import Api, create_app
from hub.fanout import Fanout
from hub.link import MAX_MESSAGE_BYTES, LinkService
from hub.store import Store
from hub.views import Views
from hub.widgets import LiveWidgets
from protos import link_pb2_grpc

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


@dataclass(frozen=True)
class HubConfig:
    data_dir: Path
    host: str = "0.0.0.0"
    http_port: int = 8000
    grpc_port: int = 50051
    admin_user: str | None = None
    admin_password: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    db_memory_limit: int = 256 * 10**6  # bytes


async def _bootstrap_admin(store: Store, cfg: HubConfig) -> None:
    if not cfg.admin_user:
        return
    if not cfg.admin_password:
        raise SystemExit("EDGEHUB_ADMIN_USER is set but EDGEHUB_ADMIN_PASSWORD is empty")
    created = await store.write(store.create_user, cfg.admin_user, auth.hash_password(cfg.admin_password), True)
    if created:
        logger.info("created admin user %s", cfg.admin_user)


def _grpc_credentials(cfg: HubConfig) -> grpc.ServerCredentials | None:
    if not cfg.tls_cert:
        if cfg.tls_key or cfg.client_ca:  # never fall back to plaintext when TLS was asked for
            raise SystemExit("--tls-key and --client-ca need --tls-cert")
        return None
    if not cfg.tls_key:
        raise SystemExit("--tls-cert needs --tls-key")
    try:
        pair = [(Path(cfg.tls_key).read_bytes(), Path(cfg.tls_cert).read_bytes())]
        client_ca = Path(cfg.client_ca).read_bytes() if cfg.client_ca else None
    except OSError as exc:
        raise SystemExit(f"hub TLS: cannot read {exc.filename}: {exc.strerror}") from None
    if client_ca is not None:
        return grpc.ssl_server_credentials(pair, root_certificates=client_ca, require_client_auth=True)
    return grpc.ssl_server_credentials(pair)


async def serve(cfg: HubConfig) -> None:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(cfg.data_dir / "hub.duckdb", f"{cfg.db_memory_limit // 2**20}MiB").open()
    try:
        await _bootstrap_admin(store, cfg)
        link = LinkService(store)
        server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
            ("grpc.http2.max_ping_strikes", 0),
        ])
        link_pb2_grpc.add_HubLinkServicer_to_server(link, server)
        address = f"{cfg.host}:{cfg.grpc_port}"
        creds = _grpc_credentials(cfg)
        bound = server.add_secure_port(address, creds) if creds else server.add_insecure_port(address)
        await server.start()
        tokens = auth.Tokens(auth.load_secret(cfg.data_dir))
        fanout = Fanout()
        views = Views(store, link, tokens, fanout, LiveWidgets(store, fanout))
        await views.load()
        app = create_app(Api(store, link, tokens, WEB_DIR), views.routes())
        http = uvicorn.Server(uvicorn.Config(
            app, host=cfg.host, port=cfg.http_port, log_level="warning", lifespan="off",
            ssl_certfile=str(cfg.tls_cert) if cfg.tls_cert else None,
            ssl_keyfile=str(cfg.tls_key) if cfg.tls_key else None,
        ))
        logger.info("hub ready: http on %s:%d, grpc on %s:%d%s, data in %s", cfg.host, cfg.http_port,
                    cfg.host, bound, (" (mTLS)" if cfg.client_ca else " (TLS)") if creds else "", cfg.data_dir)
        try:
            await http.serve()
        finally:
            logger.info("hub stopping")
            await server.stop(grace=2)
    finally:
        await asyncio.sleep(0)
        store.close()
        logger.info("hub stopped")
