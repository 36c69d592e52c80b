"""How edgectl shows the edge's replies: to a person, or as JSON with ``--json``.

For a person: aligned tables, units beside values, relative times, colour, a progress bar. Each
``show_*`` function turns one reply of ``protos/admin.proto`` into text for a terminal; the
commands in ``edge/cli.py`` print that, or ``to_dict`` of the reply with ``--json``. Times are
shown relative to the **edge's** clock (the reply's ``now``), so the clock of the machine running
edgectl does not matter. Colour goes through ``Style``: plain text unless stdout is a terminal and
colour was not turned off; colour codes take no width in ``table``.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any, ClassVar


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


def show_uplink(r: Any, style: Style) -> str:
    if r.paused:
        return (f"uplink paused: readings keep going into the buffer ({count(r.backlog)} not yet at the "
                "hub); `edgectl uplink resume` sends them")
    return f"uplink resumed ({r.state}); {count(r.backlog)} readings to send"


def purged(r: Any, cutoff: str) -> str:
    return (f"deleted {count(r.acked + r.unacked)} readings older than {cutoff}: "
            f"{count(r.acked)} already at the hub, {count(r.unacked)} that never reached it "
            "and now never will")


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
