"""Decoding and validation of device payloads (the MQTT contract in ARCHITECTURE.md).

A payload is one reading ``{"device_id", "sensor_type", "value", "unit", "timestamp"?}`` or a bulk
``{"device_id", "readings": [{"sensor_type", "value", "unit", "timestamp"?}, ...]}``. Structural
problems reject the whole message; a bad reading inside a bulk message rejects that reading only,
so good readings around it are kept. Every rejection carries one reason from ``REASONS``.

This runs on paho's network thread for every message, so it is written for speed: no per-reading
objects beyond one tuple, no regular expressions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import orjson

MAX_PAYLOAD_BYTES = 256 * 1024  # a 100-reading bulk message is ~10 KiB; 256 KiB leaves room, 1 MB is abuse
MAX_READINGS_PER_MESSAGE = 10_000
MAX_NAME_LENGTH = 128  # device ids, sensor types and units are short identifiers
# Timestamps outside this range are garbage (an unset RTC reads 1970; that is still accepted).
MIN_TS_US = 0
MAX_TS_US = 4_102_444_800_000_000  # 2100-01-01

REASONS = (
    "too_large",
    "not_json",
    "not_object",
    "unknown_field",
    "missing_field",
    "bad_device_id",
    "device_mismatch",
    "bad_sensor_type",
    "bad_unit",
    "bad_value",
    "non_finite",
    "bad_timestamp",
    "bad_readings",
)

MESSAGE_FIELDS = frozenset(("device_id", "sensor_type", "value", "unit", "timestamp", "readings"))
READING_FIELDS = frozenset(("sensor_type", "value", "unit", "timestamp", "device_id"))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# ((device_id, sensor_type, unit), ts_us, value): the series key is one tuple so the buffer maps it
# to a series id with a single dict lookup.
SeriesKey = tuple[str, str, str]
Reading = tuple[SeriesKey, int, float]


class Readings:
    """Readings column by column, as ``parse`` returns them and the buffer stores them: the series
    key, timestamp (epoch µs) and value of each. Indexing and iteration give ``Reading`` tuples,
    and it compares equal to the list of those."""

    __slots__ = ("keys", "ts_us", "values")

    def __init__(self, keys: list[SeriesKey] | None = None, ts_us: list[int] | None = None,
                 values: list[float] | None = None) -> None:
        self.keys = keys if keys is not None else []
        self.ts_us = ts_us if ts_us is not None else []
        self.values = values if values is not None else []

    @classmethod
    def of(cls, rows: Iterable[Reading]) -> Readings:
        out = cls()
        for key, ts, value in rows:
            out.append(key, ts, value)
        return out

    def append(self, key: SeriesKey, ts_us: int, value: float) -> None:
        self.keys.append(key)
        self.ts_us.append(ts_us)
        self.values.append(value)

    def extend(self, other: Readings) -> None:
        self.keys += other.keys
        self.ts_us += other.ts_us
        self.values += other.values

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> Reading:
        return self.keys[i], self.ts_us[i], self.values[i]

    def __iter__(self) -> Iterator[Reading]:
        return zip(self.keys, self.ts_us, self.values, strict=True)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Readings | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Readings({list(self)!r})"


class Rejected(Exception):
    """A message or a reading fails validation; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_timestamp(raw: object) -> int:
    """ISO-8601 text (``Z`` or an offset; naive means UTC) or epoch milliseconds -> epoch microseconds."""
    if type(raw) is str:
        fast = _iso_z(raw)
        return fast if fast is not None else _iso_any(raw)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        if not math.isfinite(raw):
            raise Rejected("bad_timestamp", "not finite")
        ts = int(raw * 1000)
    else:
        raise Rejected("bad_timestamp", f"expected ISO-8601 text or epoch milliseconds, got {type(raw).__name__}")
    if not MIN_TS_US <= ts <= MAX_TS_US:
        raise Rejected("bad_timestamp", f"out of range: {raw!r}")
    return ts


# Turning ISO text into epoch microseconds was the largest per-reading cost of a bulk message:
# fromisoformat is quick, datetime.timestamp() is not. Devices send ``YYYY-MM-DDTHH:MM:SS[.f]Z``,
# whose minute ("YYYY-MM-DDTHH:MM") changes once a minute, so the epoch of each recent minute is
# kept and only the seconds are added. fromisoformat still checks every string.
MINUTE_CACHE_SIZE = 4096
_MINUTES: dict[str, int] = {}
_MINUTE_US = 60_000_000


def _iso_z(raw: str) -> int | None:
    """A UTC ``...Z`` string whose minute was seen before, or None (the full parser then decides
    and remembers the minute)."""
    if raw[-1:] != "Z" or raw[16:17] != ":":
        return None
    minute = _MINUTES.get(raw[:16])
    if minute is None:
        return None
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return minute + dt.second * 1_000_000 + dt.microsecond


def _iso_any(raw: str) -> int:
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise Rejected("bad_timestamp", f"not ISO-8601: {raw[:40]!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        # Whole seconds from timestamp() are exact; the microseconds come from the field itself.
        ts = math.floor(dt.timestamp()) * 1_000_000 + dt.microsecond
    except (OverflowError, ValueError, OSError):
        raise Rejected("bad_timestamp", f"out of range: {raw[:40]!r}") from None
    if not MIN_TS_US <= ts <= MAX_TS_US:
        raise Rejected("bad_timestamp", f"out of range: {raw[:40]!r}")
    if len(raw) >= 20 and raw[-1] == "Z" and raw[16] == ":":
        if len(_MINUTES) >= MINUTE_CACHE_SIZE:
            _MINUTES.clear()
        _MINUTES[raw[:16]] = ts - ts % _MINUTE_US
    return ts


_MISSING = object()


def _bad_name(field: str, reason: str) -> Rejected:
    return Rejected(reason, f"{field} must be a non-empty string of at most {MAX_NAME_LENGTH} characters")


def _name(raw: object, field: str, reason: str) -> str:
    if type(raw) is not str or not raw or len(raw) > MAX_NAME_LENGTH:
        raise _bad_name(field, reason)
    return raw


def _reading(device_id: str, obj: dict, now_us: int, allowed: frozenset[str]) -> Reading:
    """One reading; written flat (no helper calls on the good path): it runs for every reading."""
    if not allowed.issuperset(obj):
        extra = sorted(set(obj) - allowed)
        raise Rejected("unknown_field", f"unknown field(s) {', '.join(extra)[:80]}")
    sensor_type = obj.get("sensor_type", _MISSING)
    value = obj.get("value", _MISSING)
    if sensor_type is _MISSING or value is _MISSING:
        raise Rejected("missing_field", "missing " + ("sensor_type" if sensor_type is _MISSING else "value"))
    if type(sensor_type) is not str or not sensor_type or len(sensor_type) > MAX_NAME_LENGTH:
        raise _bad_name("sensor_type", "bad_sensor_type")
    value_type = type(value)
    if value_type is float:
        if value - value != 0.0:  # NaN and ±inf, without a function call
            raise Rejected("non_finite", f"value is {value}")
    elif value_type is int:
        try:
            value = float(value)
        except OverflowError:
            raise Rejected("non_finite", "value overflows a double") from None
    else:
        raise Rejected("bad_value", f"value must be a number, got {value_type.__name__}")
    unit = obj.get("unit", "")
    if type(unit) is not str or len(unit) > MAX_NAME_LENGTH:
        raise Rejected("bad_unit", f"unit must be a string of at most {MAX_NAME_LENGTH} characters")
    raw_ts = obj.get("timestamp")
    ts = now_us if raw_ts is None else parse_timestamp(raw_ts)
    return ((device_id, sensor_type, unit), ts, value)


def parse(payload: bytes, topic_device: str | None, now_us: int) -> tuple[Readings, list[Rejected]]:
    """Decode one MQTT payload into readings and the rejections of its bad parts.

    ``topic_device`` is the device id taken from the topic (None when the topic filter has no
    device segment); the body's ``device_id`` must agree with it.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Readings(), [Rejected("too_large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")]
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        # NaN / Infinity literals (what printf-style encoders emit) and numbers beyond a double are
        # not JSON to orjson. The standard parser reads them as floats, so that only the reading
        # that holds one is rejected (as non_finite) and its neighbours in a bulk message are kept.
        try:
            doc = json.loads(payload)
        except (ValueError, RecursionError):
            return Readings(), [Rejected("not_json", str(exc)[:80])]
    if type(doc) is not dict:
        return Readings(), [Rejected("not_object", f"expected a JSON object, got {type(doc).__name__}")]
    try:
        if not MESSAGE_FIELDS.issuperset(doc):
            extra = sorted(set(doc) - MESSAGE_FIELDS)
            raise Rejected("unknown_field", f"unknown field(s) {', '.join(extra)[:80]}")
        if "device_id" not in doc:
            raise Rejected("missing_field", "missing device_id")
        device_id = _name(doc["device_id"], "device_id", "bad_device_id")
        if topic_device is not None and device_id != topic_device:
            raise Rejected("device_mismatch", f"body device_id {device_id!r} != topic device {topic_device!r}")
        readings = doc.get("readings")
        if readings is None:
            key, ts, value = _reading(device_id, doc, now_us, MESSAGE_FIELDS)
            return Readings([key], [ts], [value]), []
        if len(doc) != 2:
            raise Rejected("unknown_field", "a bulk message has only device_id and readings")
        if type(readings) is not list or not readings or len(readings) > MAX_READINGS_PER_MESSAGE:
            raise Rejected("bad_readings", f"readings must be a list of 1-{MAX_READINGS_PER_MESSAGE} objects")
    except Rejected as rej:
        return Readings(), [rej]
    fast = _all_good(device_id, readings, now_us)
    if fast is not None:
        return fast, []
    return _one_by_one(device_id, readings, now_us)


def _one_by_one(device_id: str, readings: list, now_us: int) -> tuple[Readings, list[Rejected]]:
    """Each reading of a bulk message checked on its own: good ones kept, bad ones rejected with a reason."""
    good = Readings()
    bad: list[Rejected] = []
    for item in readings:
        try:
            if type(item) is not dict:
                raise Rejected("bad_readings", "each reading must be a JSON object")
            if "device_id" in item and item["device_id"] != device_id:
                raise Rejected("device_mismatch", "a reading's device_id differs from the message's")
            good.append(*_reading(device_id, item, now_us, READING_FIELDS))
        except Rejected as rej:
            bad.append(rej)
    return good, bad


_DICT = frozenset((dict,))
_FLOAT = frozenset((float,))
_NUMBER = frozenset((float, int))
_FAST_FIELDS = READING_FIELDS - {"device_id"}
_ONE_US = timedelta(microseconds=1)


def _all_good(device_id: str, readings: list, now_us: int) -> Readings | None:
    """The readings of a bulk message when every one of them is good, checked a field at a time
    (C loops over the whole list instead of Python code per reading: about 2.5x faster); None as soon
    as anything is unusual, and ``_one_by_one`` then decides reading by reading and gives reasons."""
    if set(map(type, readings)) != _DICT:
        return None
    fields = set().union(*readings)
    if not _FAST_FIELDS.issuperset(fields):
        return None
    n = len(readings)
    try:
        sensors = [r["sensor_type"] for r in readings]
        values = [r["value"] for r in readings]
        units = [r.get("unit", "") for r in readings] if "unit" in fields else [""] * n
        names = set(sensors)
        names.update(units)
    except (KeyError, TypeError):  # a missing field; a list or object where a name belongs
        return None
    for name in names:
        if type(name) is not str or len(name) > MAX_NAME_LENGTH:
            return None
    if "" in names and "" in sensors:
        return None
    kinds = set(map(type, values))
    if kinds != _FLOAT:
        if not _NUMBER.issuperset(kinds):
            return None
        try:
            values = [float(v) for v in values]
        except OverflowError:
            return None
    total = sum(values)
    if total - total != 0.0:  # a NaN or infinity among them (or a sum that overflows: checked one by one)
        return None
    if "timestamp" in fields:
        try:
            stamps = list(map(datetime.fromisoformat, [r.get("timestamp") for r in readings]))
            ts = [(d - _EPOCH) // _ONE_US for d in stamps]  # naive - aware is a TypeError: one by one
        except (TypeError, ValueError, OverflowError):
            return None
        if min(ts) < MIN_TS_US or max(ts) > MAX_TS_US:
            return None
    else:
        ts = [now_us] * n
    return Readings([(device_id, s, u) for s, u in zip(sensors, units, strict=True)], ts, values)
