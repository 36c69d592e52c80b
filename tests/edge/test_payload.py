"""edge/payload.py: decoding device payloads and rejecting bad ones by reason."""

from __future__ import annotations

import json
import random
import zlib
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from edge import payload
from edge.ingest import payload_digest
from edge.payload import MAX_PAYLOAD_BYTES, REASONS, parse

NOW_US = 1_752_045_302_000_000  # 2025-07-09T07:15:02Z, the receive time handed to parse()
TS_US = 1_752_045_302_000_000
_DROP = object()  # leave the field out


def _msg(**fields: object) -> bytes:
    doc = {"device_id": "dev-1", "sensor_type": "humidity", "value": 50.21, "unit": "%", **fields}
    return orjson.dumps({k: v for k, v in doc.items() if v is not _DROP})


def _reason(payload: bytes, topic_device: str | None = "dev-1") -> str:
    readings, rejects = parse(payload, topic_device, NOW_US)
    assert readings == []
    assert len(rejects) == 1
    assert rejects[0].reason in REASONS
    return rejects[0].reason


# -- accepted -------------------------------------------------------------------------------
def test_single_reading() -> None:
    readings, rejects = parse(_msg(timestamp="2025-07-09T07:15:02Z"), "dev-1", NOW_US + 999)
    assert rejects == []
    assert readings == [(("dev-1", "humidity", "%"), TS_US, 50.21)]


def test_integer_value_becomes_float() -> None:
    readings, _ = parse(_msg(value=21), "dev-1", NOW_US)
    assert readings[0][2] == 21.0
    assert type(readings[0][2]) is float


def test_missing_timestamp_is_stamped_with_receive_time() -> None:
    readings, rejects = parse(_msg(), "dev-1", NOW_US)
    assert rejects == []
    assert readings[0][1] == NOW_US


def test_no_topic_device_accepts_body_device() -> None:
    readings, rejects = parse(_msg(device_id="other"), None, NOW_US)
    assert rejects == []
    assert readings[0][0] == ("other", "humidity", "%")


def test_unit_defaults_to_empty() -> None:
    readings, _ = parse(_msg(unit=_DROP), "dev-1", NOW_US)
    assert readings[0][0] == ("dev-1", "humidity", "")


@pytest.mark.parametrize(
    ("raw", "expected_us"),
    [
        ("2025-07-09T07:15:02Z", TS_US),
        ("2025-07-09T09:15:02+02:00", TS_US),
        ("2025-07-09T02:45:02-04:30", TS_US),
        ("2025-07-09T07:15:02", TS_US),  # naive means UTC
        ("2025-07-09T07:15:02.123456Z", TS_US + 123_456),
        (1_752_045_302_000, TS_US),  # epoch milliseconds
        (1_752_045_302_250, TS_US + 250_000),
        (0, 0),  # an unset RTC reads 1970; still accepted
    ],
)
def test_timestamp_forms(raw: object, expected_us: int) -> None:
    readings, rejects = parse(_msg(timestamp=raw), "dev-1", NOW_US)
    assert rejects == []
    assert readings[0][1] == expected_us


def _full_parser(raw: str) -> int | str:
    """What datetime.fromisoformat makes of ``raw``, in epoch µs, or "rejected"."""
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        return "rejected"
    dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    us = (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return us if 0 <= us <= 4_102_444_800_000_000 else "rejected"


def _ours(raw: str) -> int | str:
    readings, rejects = parse(_msg(timestamp=raw), "dev-1", NOW_US)
    if readings:
        return readings[0][1]
    assert [r.reason for r in rejects] == ["bad_timestamp"]
    return "rejected"


def test_the_minute_cache_reads_timestamps_exactly_as_the_full_parser() -> None:
    # The first string of each minute goes through datetime; later ones of that minute take the fast
    # path. Both must agree with fromisoformat on good and bad seconds and fractions.
    rng = random.Random(7)
    minutes = ["2025-07-09T07:15", "2025-07-09 07:16", "1970-01-01T00:00", "2099-12-31T23:59", "2024-02-29T12:00",
               "2025-W28-3T07:15"]
    tails = [":00Z", ":59Z", ":60Z", ":5Z", ":05.Z", ":05.1Z", ":05,25Z", ":05.123Z", ":05.123456Z",
             ":05.1234567Z", ":05.123456789012Z", ":05.12a4Z", ":0٥.1Z", ":05.１Z", ":05.123+00:00", ":05.123z",
             ":-5.123Z", ":+5.123Z", ":05.-12Z", ":05_1Z", ":05.1_2Z", ": 5.1Z"]
    cases = [m + t for m in minutes for t in tails]
    cases += [f"2025-07-09T07:15:{rng.randrange(60):02d}.{rng.randrange(10**6):06d}Z" for _ in range(300)]
    rng.shuffle(cases)
    for raw in cases:
        assert _ours(raw) == _full_parser(raw), raw
        assert _ours(raw) == _full_parser(raw), raw  # again, now with its minute cached
    assert {"2025-07-09T07:15", "2025-07-09 07:16", "2025-W28-3T07:15"} <= set(payload._MINUTES)


def test_bulk_readings() -> None:
    payload = orjson.dumps({
        "device_id": "dev-1",
        "readings": [
            {"sensor_type": "humidity", "value": 50.0, "unit": "%", "timestamp": "2025-07-09T07:15:02Z"},
            {"sensor_type": "temperature", "value": 24.8, "unit": "°C"},
            {"sensor_type": "temperature", "value": 24.9, "unit": "°C", "device_id": "dev-1"},
        ],
    })
    readings, rejects = parse(payload, "dev-1", NOW_US)
    assert rejects == []
    assert readings == [
        (("dev-1", "humidity", "%"), TS_US, 50.0),
        (("dev-1", "temperature", "°C"), NOW_US, 24.8),
        (("dev-1", "temperature", "°C"), NOW_US, 24.9),
    ]


def test_bulk_keeps_good_readings_around_bad_ones() -> None:
    payload = orjson.dumps({
        "device_id": "dev-1",
        "readings": [
            {"sensor_type": "t", "value": 1.0},
            {"sensor_type": "t", "value": "hot"},
            {"sensor_type": "t"},
            "not an object",
            {"sensor_type": "t", "value": 2.0, "timestamp": "yesterday"},
            {"sensor_type": "t", "value": 3.0, "device_id": "dev-2"},
            {"sensor_type": "t", "value": 4.0, "colour": "red"},
            {"sensor_type": "t", "value": 5.0},
        ],
    })
    readings, rejects = parse(payload, "dev-1", NOW_US)
    assert [r[2] for r in readings] == [1.0, 5.0]
    assert [r.reason for r in rejects] == [
        "bad_value", "missing_field", "bad_readings", "bad_timestamp", "device_mismatch", "unknown_field",
    ]


# -- rejected -------------------------------------------------------------------------------
def test_not_json() -> None:
    assert _reason(b"{not json") == "not_json"
    assert _reason(b"\xff\xfe") == "not_json"


@pytest.mark.parametrize("payload", [b"[1, 2]", b"42", b'"text"', b"null"])
def test_not_object(payload: bytes) -> None:
    assert _reason(payload) == "not_object"


def test_too_large() -> None:
    payload = b'{"device_id": "dev-1", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert len(payload) > MAX_PAYLOAD_BYTES
    readings, rejects = parse(payload, "dev-1", NOW_US)
    assert readings == []
    assert [r.reason for r in rejects] == ["too_large"]


@pytest.mark.parametrize("drop", ["device_id", "sensor_type", "value"])
def test_missing_field(drop: str) -> None:
    assert _reason(_msg(**{drop: _DROP})) == "missing_field"


@pytest.mark.parametrize("value", ["50.2", None, True, [1.0], {"v": 1}])
def test_bad_value(value: object) -> None:
    assert _reason(_msg(value=value)) == "bad_value"


@pytest.mark.parametrize("literal", [b"1e999", b"-1e999", b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_value(literal: bytes) -> None:
    # Not JSON to orjson, but the reason worth counting is that the value was not finite.
    payload = b'{"device_id": "dev-1", "sensor_type": "t", "value": ' + literal + b', "unit": "u"}'
    assert _reason(payload) == "non_finite"


def test_unknown_field() -> None:
    assert _reason(_msg(colour="red")) == "unknown_field"
    bulk_with_extra = orjson.dumps({"device_id": "dev-1", "unit": "%", "readings": [{"sensor_type": "t", "value": 1}]})
    assert _reason(bulk_with_extra) == "unknown_field"


def test_device_mismatch() -> None:
    assert _reason(_msg(device_id="dev-2"), topic_device="dev-1") == "device_mismatch"


@pytest.mark.parametrize(
    "raw",
    ["yesterday", "2025-13-40T00:00:00Z", -1, "1969-12-31T23:59:59Z", "2100-01-02T00:00:00Z", True, [1]],
)
def test_bad_timestamp(raw: object) -> None:
    assert _reason(_msg(timestamp=raw)) == "bad_timestamp"


@pytest.mark.parametrize("readings", [[], "many", {"sensor_type": "t", "value": 1}, 5])
def test_bad_readings(readings: object) -> None:
    assert _reason(orjson.dumps({"device_id": "dev-1", "readings": readings})) == "bad_readings"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"device_id": ""}, "bad_device_id"),
        ({"device_id": 7}, "bad_device_id"),
        ({"sensor_type": ""}, "bad_sensor_type"),
        ({"sensor_type": "s" * 129}, "bad_sensor_type"),
        ({"unit": 5}, "bad_unit"),
    ],
)
def test_bad_names(fields: dict[str, object], reason: str) -> None:
    assert _reason(_msg(**fields), topic_device=None) == reason


def test_bulk_keeps_good_readings_around_a_non_finite_one() -> None:
    payload = (
        b'{"device_id": "dev-1", "readings": [{"sensor_type": "t", "value": 1.5},'
        b' {"sensor_type": "t", "value": 1e999}, {"sensor_type": "t", "value": 2.5}]}'
    )
    readings, rejects = parse(payload, "dev-1", NOW_US)
    assert [r[2] for r in readings] == [1.5, 2.5]
    assert [r.reason for r in rejects] == ["non_finite"]


def _bulk_variants(rng: random.Random) -> list[dict[str, object]]:
    """Readings, most of them good, some with one thing wrong of the kinds devices get wrong."""
    good = {"sensor_type": "temperature", "value": 21.5, "unit": "°C", "timestamp": "2025-07-09T07:15:02.250Z"}
    twists: list[tuple[str, object]] = [
        ("value", 3), ("value", -0.0), ("value", 10**400), ("value", True), ("value", "1.5"), ("value", None),
        ("value", float("nan")), ("value", float("inf")), ("value", 1e308), ("unit", ""), ("unit", 5),
        ("unit", "x" * 129), ("sensor_type", ""), ("sensor_type", ["t"]), ("sensor_type", "y" * 128),
        ("timestamp", 1_752_045_302_250), ("timestamp", "2025-07-09T07:15:02"),
        ("timestamp", "2025-07-09T09:15:02+02:00"),
        ("timestamp", "nope"), ("timestamp", "1969-12-31T23:59:59Z"), ("timestamp", None), ("timestamp", True),
        ("device_id", "dev-1"), ("device_id", "dev-2"), ("colour", "red"), ("sensor_type", _DROP), ("value", _DROP),
        ("unit", _DROP), ("timestamp", _DROP),
    ]
    out: list[dict[str, object]] = []
    for i in range(rng.randrange(1, 12)):
        reading = dict(good, value=float(i), timestamp=f"2025-07-09T07:1{i % 3}:{rng.randrange(60):02d}.{i:03d}Z")
        if rng.random() < 0.3:
            field, value = rng.choice(twists)
            reading[field] = value
        out.append({k: v for k, v in reading.items() if v is not _DROP})
    return out


def test_the_fast_bulk_path_keeps_and_rejects_exactly_what_reading_by_reading_does() -> None:
    # parse() checks a whole bulk message a field at a time and falls back to reading by reading
    # when anything is off; the outcome must be the same as reading by reading, reasons included.
    rng = random.Random(11)
    fast_taken = 0
    for _ in range(3000):
        readings = _bulk_variants(rng)
        body = json.dumps({"device_id": "dev-1", "readings": readings}).encode()
        good, bad = parse(body, "dev-1", NOW_US)
        expect_good, expect_bad = payload._one_by_one("dev-1", json.loads(body)["readings"], NOW_US)
        assert good == expect_good
        assert [(r.reason, r.detail) for r in bad] == [(r.reason, r.detail) for r in expect_bad]
        fast_taken += payload._all_good("dev-1", json.loads(body)["readings"], NOW_US) is not None
    assert 500 < fast_taken < 2900  # both paths were exercised


@pytest.mark.parametrize("size", [0, 1, 5 * 1024 - 1, 5 * 1024, 5 * 1024 + 1, 10_240, 99_999, 256 * 1024])
def test_payload_digest_in_pieces_equals_the_one_call_digest(size: int) -> None:
    """The digest is computed in pieces small enough that zlib keeps the GIL; the value must be the one
    a single call gives, or digests stored by an older edge would no longer recognise a redelivery."""
    payload = random.Random(size).randbytes(size)
    whole = (zlib.crc32(payload) << 32) | zlib.adler32(payload)
    assert payload_digest(payload) == (whole - (1 << 64) if whole >= 1 << 63 else whole)
    assert payload_digest(payload + b"x") != payload_digest(payload)
