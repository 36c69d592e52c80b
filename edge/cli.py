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
from typing import Any, ClassVar, NoReturn

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

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


def to_dict(msg: Any) -> dict[str, Any]:
    """A reply as plain JSON types: integers stay integers, Timestamps become ISO-8601 strings (unset:
    null), bytes become text (invalid UTF-8 escaped), enums their names."""
    out: dict[str, Any] = {}
    for field in msg.DESCRIPTOR.fields:
        value = getattr(msg, field.name)
        sub = field.message_type
        if sub is not None and sub.GetOptions().map_entry:
            out[field.name] = dict(value)
        elif field.is_repeated:
            out[field.name] = [to_dict(v) if sub is not None else v for v in value]
        elif sub is not None and sub.full_name == "google.protobuf.Timestamp":
            out[field.name] = value.ToJsonString() if msg.HasField(field.name) else None
        elif sub is not None:
            out[field.name] = to_dict(value)
        elif field.enum_type is not None:
            out[field.name] = field.enum_type.values_by_number[value].name
        elif isinstance(value, bytes):
            out[field.name] = value.decode("utf-8", "backslashreplace")
        else:
            out[field.name] = value
    return out


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


# -- human output -----------------------------------------------------------------------------------
class Style:
    """ANSI colour when ``enabled`` (stdout is a terminal and NO_COLOR is unset), plain text otherwise."""

    _CODES: ClassVar[dict[str, str]] = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles:
            return text
        return "\033[" + ";".join(self._CODES[s] for s in styles) + "m" + text + "\033[0m"


def count(n: int) -> str:
    return f"{n:,}"


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def rate(r: float) -> str:
    return f"{r:,.1f}/s" if r else "0/s"


def span(seconds: float) -> str:
    """``42 s``, ``3 min``, ``2 h 5 min``, ``3 d 4 h``."""
    s = int(abs(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min" if s % 3600 >= 60 else f"{s // 3600} h"
    return f"{s // 86400} d {s % 86400 // 3600} h" if s % 86400 >= 3600 else f"{s // 86400} d"


def ago(t: Any, now: Any) -> str:
    """``t`` relative to the edge's clock ``now`` (both Timestamps): ``3 s ago``, ``in 2 min``; None: ``-``."""
    if t is None:
        return "-"
    delta = (now.ToMicroseconds() - t.ToMicroseconds()) / 1e6
    return "just now" if abs(delta) < 1 else (f"{span(delta)} ago" if delta > 0 else f"in {span(delta)}")


def when(t: Any) -> str:
    return t.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def number(v: float, unit: str = "") -> str:
    return f"{v:.10g} {unit}".rstrip()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def table(headers: list[str], rows: list[list[str]], style: Style, right: frozenset[int] = frozenset()) -> str:
    """Columns padded to their widest cell (colour codes take no width); ``right``: right-aligned columns."""
    def width(cell: str) -> int:
        return len(_ANSI.sub("", cell))

    widths = [max([len(h)] + [width(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        padded = [(" " * (w - width(c)) + c) if i in right else (c + " " * (w - width(c)))
                  for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(padded).rstrip()

    return "\n".join([style(fmt(headers), "bold"), *(fmt(r) for r in rows)])


def pairs(counts: dict[str, int], style: Style, colour: str) -> str:
    shown = [f"{k} {count(v)}" for k, v in sorted(counts.items()) if v]
    return style(" · ".join(shown), colour) if shown else "none"


def lines(rows: list[tuple[str, str]], style: Style) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{style(label.ljust(width), 'bold')}  {text}" if label else f"{' ' * width}  {text}"
                     for label, text in rows)


_STATE_COLOUR = {"streaming": "green", "draining": "yellow", "syncing": "yellow", "paused": "yellow"}


def show_status(r: Any, style: Style) -> str:
    link, b, m, rt = r.link, r.buffer, r.mqtt, r.rates
    state = f"{style(link.state, _STATE_COLOUR.get(link.state, 'red'))} since {ago(link.state_since, r.now)}"
    if link.HasField("down_since"):
        state = f"{style('reconnecting', 'red')} since {ago(link.down_since, r.now)} ({link.state})"
    elif link.paused and link.state != "paused":
        state = f"{style('paused', 'yellow')} (link {link.state} since {ago(link.state_since, r.now)})"
    rows = [("edge", f"{r.edge_id} · edgehub {r.software_version} · up {span(r.uptime_s)}"),
            ("hub link", f"{state} · {link.hub}")]
    if link.paused:
        rows.append(("", style("paused by an admin: `edgectl uplink resume` sends again", "yellow")))
    if link.last_error:
        rows.append(("", style(f"last error: {link.last_error}", "red")))
    mqtt = style("connected", "green") if m.connected else style("disconnected", "red")
    rows += [("mqtt", f"{mqtt} · {m.broker} · {m.topic_filter} · {count(m.queued)} queued"),
             ("buffer", f"{count(b.rows)} readings · {size(b.bytes)} (bounds {count(b.max_rows)} readings, "
                        f"{size(b.max_bytes)})")]
    oldest = f", oldest from {ago(b.oldest_unacked, r.now)}" if b.HasField("oldest_unacked") else ""
    rows += [("backlog", (style(f"{count(b.backlog)} readings", "yellow") if b.backlog else "none") + oldest),
             ("ingest", f"{rate(rt.ingest_10s)} (10 s) · {rate(rt.ingest_5m)} (5 min)"),
             ("uplink", f"{rate(rt.uplink_10s)} (10 s) · {rate(rt.uplink_5m)} (5 min)"),
             ("rejected", pairs(dict(r.rejected), style, "yellow")),
             ("dropped", pairs(dict(r.dropped), style, "red")),
             ("tracked", f"version {r.tracked_version} · {count(r.tracked_variables)} variables")]
    return lines(rows, style)


def show_devices(r: Any, style: Style) -> str:
    rows = []
    for d in r.devices:
        for i, s in enumerate(d.sensors or [None]):
            first = i == 0
            rows.append([d.device_id if first else "", s.sensor_type if s else "-",
                         number(s.last_value, s.unit) if s and s.rows else "-",
                         ago(s.last_ts, r.now) if s and s.rows else "-", rate(s.readings_per_s) if s else "-",
                         count(s.rows) if s else "0", count(d.rejected) if first else ""])
    out = table(["DEVICE", "SENSOR", "LAST VALUE", "LAST READING", "RATE", "BUFFERED", "REJECTED"], rows, style,
                frozenset({2, 4, 5, 6}))
    extra = f"\n{count(r.rejected_unattributed)} rejections name no device" if r.rejected_unattributed else ""
    return (out if rows else "no devices seen yet") + extra


def show_tracked(r: Any, style: Style) -> str:
    rows = [[v.device_id, v.sensor_type, v.widget_id, v.dashboard_uuid, count(v.max_samples)] for v in r.variables]
    head = f"tracked-variable cache version {r.version}: {count(len(rows))} variables"
    return head + ("\n" + table(["DEVICE", "SENSOR", "WIDGET", "DASHBOARD", "SAMPLES"], rows, style,
                                frozenset({4})) if rows else "")


def show_buffer(r: Any, style: Style) -> str:
    t = r.totals
    head = lines([("file", t.path), ("readings", f"{count(t.rows)} of {count(t.max_rows)} · {size(t.bytes)} of "
                                                f"{size(t.max_bytes)}"),
                  ("backlog", f"{count(t.backlog)} not yet at the hub (seq {t.acked_seq + 1}..{t.last_seq})"
                   if t.backlog else f"none (everything up to seq {count(t.acked_seq)} is at the hub)"),
                  ("retention", f"acked readings are kept {span(t.retention_s)}")], style)
    rows = [[s.device_id, s.sensor_type, s.unit or "-", count(s.rows), count(s.unacked), ago(s.oldest, r.now),
             ago(s.newest, r.now)] for s in r.series]
    return head + ("\n\n" + table(["DEVICE", "SENSOR", "UNIT", "READINGS", "UNACKED", "OLDEST", "NEWEST"], rows,
                                  style, frozenset({3, 4})) if rows else "")


def show_rejections(r: Any, style: Style) -> str:
    rows = [[ago(x.at, r.now), style(x.reason, "yellow"), x.topic, x.detail,
             repr(x.payload[:40])[2:-1] + ("…" if len(x.payload) > 40 else "")] for x in r.rejections]
    totals = f"since start: {pairs(dict(r.totals), style, 'yellow')} (the last {r.ring_size} are kept)"
    return (table(["WHEN", "REASON", "TOPIC", "DETAIL", "PAYLOAD"], rows, style) + "\n" if rows else "") + totals


class TailLine:
    """One aligned line per live reading; columns widen to the longest id seen so far."""

    def __init__(self, style: Style) -> None:
        self.style, self.width = style, [0, 0]

    def __call__(self, x: Any) -> str:
        self.width = [max(self.width[0], len(x.device_id)), max(self.width[1], len(x.sensor_type))]
        stamp = x.ts.ToDatetime(tzinfo=UTC).strftime("%H:%M:%S.%f")[:-3] + "Z"
        return (f"{self.style(stamp, 'dim')}  {x.device_id.ljust(self.width[0])}  "
                f"{x.sensor_type.ljust(self.width[1])}  {number(x.value, x.unit)}  {self.style(f'#{x.seq}', 'dim')}")


class ProgressBar:
    """``writing [#####.....] 48 %`` on a terminal, redrawn in place; phases replace each other."""

    WIDTH = 30

    def __init__(self, out: Any) -> None:
        self.out, self.drawn = out, False

    def update(self, p: Any) -> None:
        frac = min(max(p.fraction, 0.0), 1.0)
        filled = int(frac * self.WIDTH)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        pct = f"{frac * 100:3.0f} %" if p.fraction >= 0 else "  ? %"
        detail = (f"{count(p.rows)} readings" if p.phase == "writing"
                  else f"{size(p.bytes_sent)} of {size(p.bytes_total)}")
        self.out.write(f"\r{p.phase:<8} [{bar}] {pct}  {detail}\033[K")
        self.out.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.out.write("\r\033[K")
            self.out.flush()


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
    reply = c.call("SetUplink", admin_pb2.SetUplinkRequest(paused=args.action == "pause"))
    if args.json:
        _print_json(to_dict(reply))
    elif reply.paused:
        print(f"uplink paused: readings keep going into the buffer ({count(reply.backlog)} not yet at the "
              "hub); `edgectl uplink resume` sends them")
    else:
        print(f"uplink resumed ({reply.state}); {count(reply.backlog)} readings to send")


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
    reply = c.call("PurgeBuffer", admin_pb2.PurgeRequest(before=before))
    if args.json:
        _print_json(to_dict(reply))
        return
    print(f"deleted {count(reply.acked + reply.unacked)} readings older than {cutoff}: "
          f"{count(reply.acked)} already at the hub, {count(reply.unacked)} that never reached it "
          "and now never will")


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
