"""``edgehub hub|edge|sim|demo``: the entry point. Every option also reads ``EDGEHUB_<OPTION>``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from edgehub import __version__, logs
from edgehub import settings as s

logger = logging.getLogger("edgehub")


def _hub_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hub", help="run the hub (gRPC link server, REST API, WebSockets)")
    s.add(p, "--data-dir", default=Path("hub-data"), type=Path, help="folder for hub.duckdb and the JWT secret")
    s.add(p, "--host", default="0.0.0.0", help="address to bind HTTP and gRPC to")
    s.add(p, "--http-port", default=8000, type=s.port, help="HTTP port (REST API, web app, /metrics)")
    s.add(p, "--grpc-port", default=50051, type=s.port, help="gRPC port edges connect to")
    s.add(p, "--admin-user", default=None, help="create this admin user at start-up if missing")
    s.add(p, "--admin-password", default=None, help="password of --admin-user")
    s.add(p, "--tls-cert", default=None, type=Path, help="server certificate (PEM) for gRPC and HTTPS")
    s.add(p, "--tls-key", default=None, type=Path, help="private key of --tls-cert")
    s.add(p, "--client-ca", default=None, type=Path, help="require edge client certificates from this CA")
    s.add(p, "--db-memory-limit", default="256MB", type=s.size_bytes,
          help="DuckDB's memory for the hub's store (cache and queries; it spills to disk beyond it)")
    p.set_defaults(func=_run_hub)


def _edge_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("edge", help="run an edge gateway (MQTT ingest, DuckDB buffer, uplink)")
    s.add(p, "--edge-id", default=None, help="this edge's id, as registered on the hub (required)")
    s.add(p, "--hub", default="127.0.0.1:50051", type=s.host_port, help="hub gRPC address HOST:PORT")
    s.add(p, "--token", default=None, env="EDGEHUB_EDGE_TOKEN", help="edge token from POST /api/edges/")
    s.add(p, "--mqtt-url", default="mqtt://127.0.0.1:1883", help="broker the devices publish to")
    s.add(p, "--mqtt-protocol", default="5", help="5 or 3.1.1 (some brokers accept v5 and deliver nothing)")
    s.add(p, "--mqtt-username", default=None, help="broker user name")
    s.add(p, "--mqtt-password", default=None, help="broker password")
    s.add(p, "--topic-filter", default="devices/+/telemetry", help="subscription; '+' marks the device id")
    s.add(p, "--data-dir", default=Path("edge-data"), type=Path, help="folder for buffer.duckdb and caches")
    s.add(p, "--admin-port", default=50052, type=s.port, help="edgectl admin gRPC port")
    s.add(p, "--admin-host", default="127.0.0.1",
          help="address the admin port binds to; not loopback: needs --admin-token and --admin-tls-*")
    s.add(p, "--admin-token", default=None, help="edgectl must send this token (authorization: Bearer)")
    s.add(p, "--admin-tls-cert", default=None, type=Path, help="admin server certificate (PEM): enables TLS")
    s.add(p, "--admin-tls-key", default=None, type=Path, help="private key of --admin-tls-cert")
    s.add(p, "--metrics-port", default=None, type=s.port, help="serve Prometheus metrics on this port")
    s.add(p, "--buffer-max-rows", default=50_000_000, type=s.positive_int, help="buffer bound in readings")
    s.add(p, "--buffer-max-bytes", default="4GiB", type=s.size_bytes, help="buffer bound in bytes (e.g. 2GiB)")
    s.add(p, "--retention-hours", default=24.0, type=s.non_negative_float,
          help="keep acked readings this long for local queries and export")
    s.add(p, "--hub-ca", default=None, type=Path, help="CA that signed the hub's certificate: enables TLS")
    s.add(p, "--tls-cert", default=None, type=Path, help="client certificate for mTLS")
    s.add(p, "--tls-key", default=None, type=Path, help="private key of --tls-cert")
    s.add(p, "--tls-server-name", default=None, help="expected hub certificate name, if not the --hub host")
    p.set_defaults(func=_run_edge)


def _sim_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="simulated devices publishing readings over MQTT")
    s.add(p, "--mqtt-url", default="mqtt://127.0.0.1:1883", help="broker to publish to")
    s.add(p, "--mqtt-protocol", default="3.1.1", help="5 or 3.1.1")
    s.add(p, "--devices", default=3, type=s.positive_int, help="number of devices")
    s.add(p, "--rate", default=1.0, type=s.non_negative_float, help="readings per second per device")
    s.add(p, "--count", default=None, type=s.positive_int, help="stop after this many readings in all")
    s.add(p, "--duration", default=None, type=s.non_negative_float, help="stop after this many seconds")
    s.add(p, "--bulk", default=1, type=s.positive_int, help="readings per message (>1: bulk payloads)")
    s.add(p, "--waveform", default="real", help="real (plausible sensor values) or counter (0, 1, 2, ...)")
    s.add(p, "--seed", default="edgehub-sim", help="device ids are derived from this and the index")
    s.add(p, "--client-id", default=None, help="MQTT client id (default: random)")
    s.add(p, "--mqtt-username", default=None, help="broker user name (a production broker has one per device)")
    s.add(p, "--mqtt-password", default=None, help="password of --mqtt-username")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_run_sim)


def _demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="broker, hub, edge and simulator together on this machine")
    s.add(p, "--data-dir", default=Path("demo-data"), type=Path, help="kept across runs")
    s.add(p, "--http-port", default=8000, type=s.port, help="preferred HTTP port (a free one if taken)")
    s.add(p, "--devices", default=3, type=s.positive_int, help="simulated devices")
    s.add(p, "--rate", default=4.0, type=s.non_negative_float, help="readings per second per device")
    s.add(p, "--mqtt-url", default=None, help="use this broker (e.g. Mosquitto) instead of the embedded one")
    p.add_argument("--fresh", action="store_true", help="wipe --data-dir first")
    p.set_defaults(func=_run_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgehub", description=__doc__)
    parser.add_argument("--version", action="version", version=f"edgehub {__version__}")
    s.add(parser, "--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{hub,edge,sim,demo}")
    _hub_parser(sub)
    _edge_parser(sub)
    _sim_parser(sub)
    _demo_parser(sub)
    return parser


def _run_hub(args: argparse.Namespace) -> int:
    from hub.app import HubConfig, serve

    cfg = HubConfig(
        data_dir=args.data_dir, host=args.host, http_port=args.http_port, grpc_port=args.grpc_port,
        admin_user=args.admin_user, admin_password=args.admin_password,
        tls_cert=args.tls_cert, tls_key=args.tls_key, client_ca=args.client_ca,
        db_memory_limit=args.db_memory_limit,
    )
    asyncio.run(serve(cfg))
    return 0


def _run_edge(args: argparse.Namespace) -> int:
    from edge.admin import check_exposure
    from edge.app import EdgeConfig, run
    from edge.buffer import BufferConfig
    from edge.errors import ConfigError
    from edge.ingest import IngestConfig
    from edge.uplink import UplinkConfig

    if not args.edge_id:
        raise SystemExit("edgehub edge: --edge-id (or EDGEHUB_EDGE_ID) is required")
    if not args.token:
        raise SystemExit("edgehub edge: --token (or EDGEHUB_EDGE_TOKEN) is required; get one with POST /api/edges/")
    if args.mqtt_protocol not in ("5", "3.1.1"):
        raise SystemExit(f"edgehub edge: --mqtt-protocol must be 5 or 3.1.1, got {args.mqtt_protocol!r}")
    try:
        host, port = s.mqtt_url(args.mqtt_url)
    except ValueError as exc:
        raise SystemExit(f"edgehub edge: --mqtt-url: {exc}") from None
    cfg = EdgeConfig(
        edge_id=args.edge_id,
        data_dir=args.data_dir,
        ingest=IngestConfig(
            host=host, port=port, topic_filter=args.topic_filter, client_id=f"edgehub-edge-{args.edge_id}",
            protocol=args.mqtt_protocol, username=args.mqtt_username, password=args.mqtt_password,
        ),
        uplink=UplinkConfig(
            hub=args.hub, edge_id=args.edge_id, token=args.token, hub_ca=args.hub_ca,
            tls_cert=args.tls_cert, tls_key=args.tls_key, tls_server_name=args.tls_server_name,
        ),
        buffer=BufferConfig(
            path=args.data_dir / "buffer.duckdb", max_rows=args.buffer_max_rows,
            max_bytes=args.buffer_max_bytes, retention_s=args.retention_hours * 3600.0,
        ),
        admin_port=args.admin_port,
        metrics_port=args.metrics_port,
        admin_host=args.admin_host,
        admin_token=args.admin_token,
        admin_tls_cert=args.admin_tls_cert,
        admin_tls_key=args.admin_tls_key,
    )
    try:
        check_exposure(cfg.admin)
        asyncio.run(run(cfg))
    except ConfigError as exc:
        raise SystemExit(f"edgehub edge: {exc}") from None
    return 0


def _run_sim(args: argparse.Namespace) -> int:
    from firmware.sim import SimConfig, Simulator

    host, port = s.mqtt_url(args.mqtt_url)
    try:
        sim = Simulator(SimConfig(
            host=host, port=port, devices=args.devices, rate=args.rate, count=args.count,
            duration=args.duration, bulk=args.bulk, waveform=args.waveform, seed=args.seed,
            protocol=args.mqtt_protocol, client_id=args.client_id, progress=not args.quiet,
            username=args.mqtt_username, password=args.mqtt_password,
        ))
    except ValueError as exc:
        raise SystemExit(f"edgehub sim: {exc}") from None
    try:
        sim.run()
    except (ConnectionError, OSError) as exc:
        raise SystemExit(f"edgehub sim: cannot reach the broker at {args.mqtt_url}: {exc}") from None
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from edgehub.demo import run_demo

    return run_demo(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
