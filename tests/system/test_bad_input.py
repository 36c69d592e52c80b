"""Bad input never stops the pipeline: bad payloads are rejected and counted by reason while the
good readings around them arrive intact; an edge with a wrong token is refused and stores nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from protos import link_pb2, link_pb2_grpc
from tests.support import Edge, Hub, Mosquitto, Proc, publish, wait_for

pytestmark = pytest.mark.system

DEVICE = "95b2524b-fa0e-4717-b4ba-9ae9aff3365d"
TOPIC = f"devices/{DEVICE}/telemetry"


def good(i: int) -> tuple[str, bytes]:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = {"device_id": DEVICE, "sensor_type": "humidity", "value": 50.0 + i / 100, "unit": "%",
            "timestamp": stamp}
    return TOPIC, json.dumps(body).encode()


BAD: list[tuple[str, str, bytes]] = [
    ("not_json", TOPIC, b"{this is not json"),
    ("not_object", TOPIC, b"[1, 2, 3]"),
    ("missing_field", TOPIC, json.dumps({"device_id": DEVICE, "value": 1.0}).encode()),
    ("non_finite", TOPIC, b'{"device_id": "%s", "sensor_type": "t", "value": 1e999}' % DEVICE.encode()),
    ("non_finite", TOPIC, b'{"device_id": "%s", "sensor_type": "t", "value": NaN}' % DEVICE.encode()),
    ("bad_value", TOPIC, json.dumps({"device_id": DEVICE, "sensor_type": "t", "value": "42"}).encode()),
    ("too_large", TOPIC, json.dumps({"device_id": DEVICE, "sensor_type": "t", "value": 1,
                                     "unit": "x" * (1024 * 1024)}).encode()),
    ("unknown_field", TOPIC, json.dumps({"device_id": DEVICE, "sensor_type": "t", "value": 1,
                                         "colour": "red"}).encode()),
    ("device_mismatch", "devices/other-device/telemetry",
     json.dumps({"device_id": DEVICE, "sensor_type": "t", "value": 1}).encode()),
    ("bad_timestamp", TOPIC, json.dumps({"device_id": DEVICE, "sensor_type": "t", "value": 1,
                                         "timestamp": "yesterday"}).encode()),
]


def test_bad_payloads_are_rejected_counted_and_good_ones_kept(
    tmp_path: Path, broker: Mosquitto, procs: list[Proc]
) -> None:
    hub = Hub(tmp_path).start()
    procs.append(hub)
    edge = Edge(tmp_path, "site-b", hub.address, hub.register_edge("site-b"), broker.url).start()
    procs.append(edge)
    edge.wait_subscribed()

    messages: list[tuple[str, bytes]] = []
    for i, (_, topic, payload) in enumerate(BAD):
        messages += [good(2 * i), (topic, payload), good(2 * i + 1)]
    # A bulk message with one bad reading keeps its two good ones.
    bulk = {"device_id": DEVICE, "readings": [
        {"sensor_type": "humidity", "value": 70.5, "unit": "%"},
        {"sensor_type": "humidity", "value": "oops", "unit": "%"},
        {"sensor_type": "humidity", "value": 70.75, "unit": "%"},
    ]}
    messages.append((TOPIC, json.dumps(bulk).encode()))
    publish(broker.url, messages)

    good_count = 2 * len(BAD) + 2
    wait_for(lambda: hub.edge("site-b")["acked_seq"] >= good_count, 30, what="good readings at the hub")
    metrics = edge.metrics_text()
    expected: dict[str, int] = {}
    for reason, _, _ in BAD:
        expected[reason] = expected.get(reason, 0) + 1
    expected["bad_value"] += 1  # the bad reading inside the bulk message
    for reason, n in expected.items():
        line = f'edgehub_edge_rejected_total{{reason="{reason}"}} {float(n)}'
        assert line in metrics, f"missing {line!r}"
    assert edge.alive()
    assert "rejected" in edge.output()

    status, readings = hub.request("GET", f"/api/devices/{DEVICE}/readings/?sensor_type=humidity&limit=1000")
    assert status == 200
    values = sorted(r["value"] for r in readings)
    assert values == sorted([50.0 + i / 100 for i in range(2 * len(BAD))] + [70.5, 70.75])
    assert all(r["unit"] == "%" for r in readings)
    assert {"timestamp", "value", "unit", "sensor_type"} == set(readings[0])


def test_wrong_edge_token_is_refused_and_nothing_is_stored(
    tmp_path: Path, broker: Mosquitto, procs: list[Proc]
) -> None:
    hub = Hub(tmp_path).start()
    procs.append(hub)
    hub.register_edge("site-c")

    # The raw stream: UNAUTHENTICATED before anything is read.
    with grpc.insecure_channel(hub.address) as channel:
        call = link_pb2_grpc.HubLinkStub(channel).Connect(
            iter([link_pb2.EdgeFrame(hello=link_pb2.Hello(edge_id="site-c"))]),
            metadata=(("authorization", "Bearer not-the-token"), ("x-edge-id", "site-c")),
        )
        with pytest.raises(grpc.RpcError) as err:
            list(call)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

    # A real edge with a wrong token buffers what it receives but the hub stores nothing.
    edge = Edge(tmp_path, "site-c", hub.address, "wrong-token", broker.url).start()
    procs.append(edge)
    edge.wait_subscribed()
    publish(broker.url, [good(i) for i in range(50)])
    wait_for(lambda: edge.metric("edgehub_edge_readings_ingested_total") == 50, 15, what="edge ingest")
    wait_for(lambda: "UNAUTHENTICATED" in edge.output(), 15, what="the edge to log the refusal")
    assert hub.metric("edgehub_hub_link_auth_failures_total") >= 2
    status, devices = hub.request("GET", "/api/devices/")
    assert status == 200 and devices == []
    assert hub.edge("site-c")["acked_seq"] == 0
    wait_for(lambda: edge.metric("edgehub_edge_backlog_rows") == 50, 5, what="backlog of 50 on the edge")
