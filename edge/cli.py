"""``edgectl``: look at and steer one edge gateway over its admin gRPC port (``protos/admin.proto``).

    edgectl [--edge HOST:PORT] status|devices|tracked|buffer|tail|uplink|rejections [--json]

The address comes from ``--edge``, else ``EDGEHUB_EDGE_ADDR``, else 127.0.0.1:50052; the token from
``--token`` or ``EDGEHUB_ADMIN_TOKEN``; ``--ca`` (``EDGEHUB_ADMIN_CA``) turns on TLS. Human output
is aligned tables with units and relative times, coloured only on a terminal; ``--json`` prints the
reply's fields as they are in the proto, timestamps as ISO-8601 UTC. Exit codes: 0 success, 1 the
edge answered with an error (a refused token, say), 2 usage, 3 the edge could not be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from edge.show import (
    ProgressBar,
    Style,
    TailLine,
    count,
    purged,
    show_buffer,
    show_devices,
    show_rejections,
    show_status,
    show_tracked,
    show_uplink,
    size,
    to_dict,
    when,
)
from protos import admin_pb2, admin_pb2_grpc

DEFAULT_ADDR = "127.0.0.1:50052"
TIMEOUT_S = 30.0  # a devices or buffer query scans the whole buffer; tens of millions of rows take seconds
EXIT_ERROR, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)$")
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


class Fail(Exception):
    """A one-line message and the exit code that goes with it."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def parse_time(text: str, now: float | None = None) -> int:
    """``2025-07-09T07:00:00Z``, ``2025-07-09`` (UTC unless an offset is given), ``now``, or an age such as
    ``90s``, ``15min``, ``2h``, ``7d`` (that long ago) -> microseconds since the epoch."""
    now = time.time() if now is None else now
    text = text.strip()
    if text == "now":
        return int(now * 1e6)
    match = _DURATION.match(text)
    if match:
        return int((now - float(match[1]) * _UNIT_S[match[2]]) * 1e6)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO-8601 time, 'now' or an age like 2h, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def _timestamp(us: int) -> Timestamp:
    out = Timestamp()
    out.FromMicroseconds(us)
    return out


class Client:
    """The admin stub with the address, token and deadline of one edgectl run; maps gRPC failures to ``Fail``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.addr = args.edge
        self.metadata = (("authorization", f"Bearer {args.token}"),) if args.token else ()
        if args.ca:
            options = [("grpc.ssl_target_name_override", args.tls_server_name)] if args.tls_server_name else []
            try:
                roots = Path(args.ca).read_bytes()
            except OSError as exc:
                raise Fail(f"edgectl: cannot read --ca {args.ca}: {exc.strerror}", EXIT_USAGE) from None
            creds = grpc.ssl_channel_credentials(root_certificates=roots)
            self.channel = grpc.secure_channel(self.addr, creds, options=options)
        else:
            self.channel = grpc.insecure_channel(self.addr)
        self.stub = admin_pb2_grpc.EdgeAdminStub(self.channel)
        self.timeout = args.timeout

    def call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, metadata=self.metadata, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise self.failure(exc) from None

    def stream(self, method: str, request: Any) -> Iterator[Any]:
        call = getattr(self.stub, method)(request, metadata=self.metadata)
        try:
            yield from call
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return
            raise self.failure(exc) from None
        finally:
            call.cancel()

    def failure(self, exc: grpc.RpcError) -> Fail:
        code, details = exc.code(), ((exc.details() or "").strip().splitlines() or [""])[0]
        if code == grpc.StatusCode.UNAVAILABLE:
            return Fail(f"edgectl: cannot reach the edge at {self.addr}: {_why(details)}", EXIT_UNREACHABLE)
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return Fail(f"edgectl: the edge at {self.addr} did not answer within {self.timeout:g} s",
                        EXIT_UNREACHABLE)
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return Fail(f"edgectl: the edge at {self.addr} refused the request: {details} "
                        "(set --token or EDGEHUB_ADMIN_TOKEN)")
        return Fail(f"edgectl: the edge at {self.addr} answered {code.name}: {details}")


def _why(details: str) -> str:
    """gRPC's connection error cut to its most specific clause: 'connection refused', 'Domain name not found'."""
    if "Domain name not found" in details or "errors resolving" in details:
        return "cannot resolve the host name"
    last = details.rsplit("last error:", 1)[-1]
    return last.rsplit(": ", 1)[-1].strip(" []").replace("Connection refused", "connection refused") or "unavailable"



# -- commands ---------------------------------------------------------------------------------------
def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def _emit(reply: Any, args: argparse.Namespace, render: Callable[[Any, Style], str]) -> None:
    if args.json:
        _print_json(to_dict(reply))
    else:
        print(render(reply, args.style))


def cmd_status(c: Client, args: argparse.Namespace) -> None:
    _emit(c.call("Status", admin_pb2.StatusRequest()), args, show_status)


def cmd_devices(c: Client, args: argparse.Namespace) -> None:
    _emit(c.call("Devices", admin_pb2.DevicesRequest()), args, show_devices)


def cmd_tracked(c: Client, args: argparse.Namespace) -> None:
    _emit(c.call("Tracked", admin_pb2.TrackedRequest()), args, show_tracked)


def cmd_buffer(c: Client, args: argparse.Namespace) -> None:
    _emit(c.call("BufferStats", admin_pb2.BufferStatsRequest()), args, show_buffer)


def cmd_rejections(c: Client, args: argparse.Namespace) -> None:
    _emit(c.call("Rejections", admin_pb2.RejectionsRequest(limit=args.limit)), args, show_rejections)


def cmd_uplink(c: Client, args: argparse.Namespace) -> None:
    _emit(c.call("SetUplink", admin_pb2.SetUplinkRequest(paused=args.action == "pause")), args, show_uplink)


def cmd_export(c: Client, args: argparse.Namespace) -> None:
    fmt = args.format or ("csv" if args.out.suffix.lower() == ".csv" else "parquet")
    request = admin_pb2.ExportRequest(
        format=admin_pb2.EXPORT_FORMAT_CSV if fmt == "csv" else admin_pb2.EXPORT_FORMAT_PARQUET,
        since=_timestamp(args.since) if args.since is not None else None,
        until=_timestamp(args.until) if args.until is not None else None,
        device_id=args.device or "", sensor_type=args.sensor or "",
    )
    part = args.out.with_name(args.out.name + ".part")
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() and not args.json else None
    done = None
    try:
        with open(part, "wb") as out:
            for frame in c.stream("ExportBuffer", request):
                kind = frame.WhichOneof("kind")
                if kind == "data":
                    out.write(frame.data)
                elif kind == "progress" and bar is not None:
                    bar.update(frame.progress)
                elif kind == "done":
                    done = frame.done
        if done is None:
            raise Fail(f"edgectl: the export from {c.addr} ended before it was complete")
        os.replace(part, args.out)
    except OSError as exc:
        raise Fail(f"edgectl: cannot write {args.out}: {exc.strerror or exc}") from None
    finally:
        if bar is not None:
            bar.close()
        part.unlink(missing_ok=True)
    if args.json:
        _print_json({"path": str(args.out), "format": fmt, "rows": done.rows, "bytes": done.bytes})
    else:
        print(f"exported {count(done.rows)} readings ({size(done.bytes)}, {fmt}) to {args.out}")


def cmd_purge(c: Client, args: argparse.Namespace) -> None:
    before = _timestamp(args.before)
    cutoff = when(before)
    preview = c.call("PurgeBuffer", admin_pb2.PurgeRequest(before=before, dry_run=True))
    if preview.acked + preview.unacked == 0:
        _emit(preview, args, lambda r, style: f"nothing in the buffer is older than {cutoff}")
        return
    if not args.yes:
        if not sys.stdin.isatty():
            raise Fail("edgectl: buffer purge deletes readings: add --yes to confirm (stdin is not a terminal)",
                       EXIT_USAGE)
        question = f"Delete {count(preview.acked + preview.unacked)} readings older than {cutoff}?"
        if preview.unacked:
            question += f" {count(preview.unacked)} of them never reached the hub and never will."
        if input(question + " [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return
    _emit(c.call("PurgeBuffer", admin_pb2.PurgeRequest(before=before)), args, lambda r, style: purged(r, cutoff))


def cmd_tail(c: Client, args: argparse.Namespace) -> None:
    request = admin_pb2.TailRequest(device_id=args.device or "", sensor_type=args.sensor or "")
    line = TailLine(args.style)
    seen = 0
    for batch in c.stream("Tail", request):
        if seen == 0 and not batch.readings and not batch.skipped:
            print(f"edgectl: tailing readings committed on {c.addr} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        if batch.skipped:
            print(f"edgectl: … {batch.skipped} readings skipped: this client fell behind", file=sys.stderr)
        for reading in batch.readings:
            print(json.dumps(to_dict(reading), ensure_ascii=False) if args.json else line(reading))
            seen += 1
            if args.count and seen >= args.count:
                return
        sys.stdout.flush()


# -- arguments --------------------------------------------------------------------------------------
def _connection_options(p: argparse.ArgumentParser, top: bool) -> None:
    """The same options before or after the command; after it they win (SUPPRESS keeps unset ones out)."""

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    env = os.environ.get
    p.add_argument("--edge", default=default(env("EDGEHUB_EDGE_ADDR") or DEFAULT_ADDR), type=_host_port,
                   help=f"edge admin address HOST:PORT (env EDGEHUB_EDGE_ADDR; default {DEFAULT_ADDR})")
    p.add_argument("--token", default=default(env("EDGEHUB_ADMIN_TOKEN") or None),
                   help="admin token (env EDGEHUB_ADMIN_TOKEN)")
    p.add_argument("--ca", default=default(env("EDGEHUB_ADMIN_CA") or None), type=Path,
                   help="CA of the edge's admin certificate: use TLS (env EDGEHUB_ADMIN_CA)")
    p.add_argument("--tls-server-name", default=default(env("EDGEHUB_ADMIN_TLS_SERVER_NAME") or None),
                   help="expected name in the edge's certificate, if not the --edge host")
    p.add_argument("--timeout", default=default(TIMEOUT_S), type=float, help="seconds to wait for an answer")
    p.add_argument("--no-color", action="store_true", default=default(False), help="never colour the output")


def _host_port(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return text


def _command(sub: Any, name: str, func: Callable[..., None], help: str, json_flag: bool = True) -> Any:
    p = sub.add_parser(name, help=help, description=help)
    _connection_options(p, top=False)
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=func)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgectl", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _connection_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _command(sub, "status", cmd_status, "hub link, buffer, backlog, rates, rejections and drops")
    _command(sub, "devices", cmd_devices, "each device seen: sensors, last reading, readings/s, rejections")
    _command(sub, "tracked", cmd_tracked, "the tracked-variable cache (what feeds dashboard widgets)")
    buf = _command(sub, "buffer", cmd_buffer, "buffer statistics per device and sensor; export; purge")
    actions = buf.add_subparsers(dest="action", metavar="ACTION")
    exp = _command(actions, "export", cmd_export, "write buffered readings to a Parquet or CSV file")
    exp.add_argument("--out", required=True, type=Path, help="file to write (on this machine)")
    exp.add_argument("--format", choices=("parquet", "csv"), help="default: from --out's suffix, else parquet")
    exp.add_argument("--since", type=parse_time, help="from this time on (ISO-8601, or an age such as 2h)")
    exp.add_argument("--until", type=parse_time, help="before this time")
    exp.add_argument("--device", help="only this device")
    exp.add_argument("--sensor", help="only this sensor type")
    purge = _command(actions, "purge", cmd_purge, "delete readings older than a time, sent or not")
    purge.add_argument("--before", required=True, type=parse_time, help="ISO-8601 time, or an age such as 7d")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    tail = _command(sub, "tail", cmd_tail, "live readings as the edge commits them, until Ctrl-C")
    tail.add_argument("--device", help="only this device")
    tail.add_argument("--sensor", help="only this sensor type")
    tail.add_argument("--count", type=int, default=0, help="stop after this many readings")
    up = _command(sub, "uplink", cmd_uplink, "pause or resume sending to the hub (ingest continues)")
    up.add_argument("action", choices=("pause", "resume"))
    rej = _command(sub, "rejections", cmd_rejections, "the last rejected payloads: time, reason, topic")
    rej.add_argument("--limit", type=int, default=20, help="how many, newest first (0: all kept)")
    return parser


def _fail(message: str, code: int) -> NoReturn:
    print(message, file=sys.stderr)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.style = Style(sys.stdout.isatty() and not args.no_color and not os.environ.get("NO_COLOR"))
    try:
        args.func(Client(args), args)
    except Fail as exc:
        _fail(str(exc), exc.code)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # `edgectl tail | head`: quietly done
    return 0


if __name__ == "__main__":
    sys.exit(main())
