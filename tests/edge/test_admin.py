"""edge/admin.py, edge/export.py, edge/tail.py and edge/rates.py: the EdgeAdmin servicer over a real gRPC
server on port 0, with a real DuckDB buffer in tmp_path (the ingest and uplink are constructed but never
connected); plus the pure pieces of edgectl (edge/cli.py, edge/show.py) and a check that the committed admin
protos are current."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from edge import admin as admin_mod
from edge import tail as tail_mod
from edge.admin import AdminConfig, AdminServer, check_exposure
from edge.buffer import Buffer, BufferConfig
from edge.cli import parse_time
from edge.errors import ConfigError
from edge.ingest import Ingest, IngestConfig, Rejection
from edge.payload import Readings
from edge.rates import RateMeter, device_of
from edge.show import ago, span, to_dict
from edge.tail import TailHub
from edge.tracked import TrackedCache
from edge.uplink import Uplink, UplinkConfig
from protos import admin_pb2, admin_pb2_grpc

NOW_US = 1_752_045_302_000_000  # 2025-07-09T07:15:02Z
TEMP = ("dev-1", "temperature", "°C")
HUM = ("dev-2", "humidity", "%")
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Harness:
    buffer: Buffer
    ingest: Ingest
    uplink: Uplink
    tracked: TrackedCache
    server: AdminServer
    stub: admin_pb2_grpc.EdgeAdminStub
    channel: grpc.aio.Channel

    def commit(self, readings: Readings) -> None:
        """What the ingest writer does: commit, then call the listeners."""
        committed = self.buffer.commit(readings, [])
        for listener in self.ingest.listeners:
            listener(committed, readings)


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, token: str | None = None) -> AsyncIterator[Harness]:
    buffer = Buffer(BufferConfig(path=tmp_path / "edge" / "buffer.duckdb"))
    buffer.open()
    tracked = TrackedCache(tmp_path / "edge" / "tracked.json")
    uplink = Uplink(UplinkConfig(hub="127.0.0.1:1", edge_id="site-t", token="t"), buffer, tracked)
    ingest = Ingest(IngestConfig(), buffer)
    server = AdminServer(AdminConfig(port=0, token=token), "site-t", buffer, ingest, uplink, tracked)
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield Harness(buffer, ingest, uplink, tracked, server, admin_pb2_grpc.EdgeAdminStub(channel), channel)
    finally:
        await channel.close()
        await server.stop()
        buffer.close()


def run(tmp_path: Path, body: Callable[[Harness], Awaitable[None]], token: str | None = None) -> None:
    async def main() -> None:
        async with serving(tmp_path, token) as h:
            await body(h)

    asyncio.run(main())


def readings(n: int, ts_us: int = NOW_US) -> Readings:
    return Readings.of(((TEMP if i % 2 == 0 else HUM), ts_us + i * 1_000_000, 20.0 + i / 4) for i in range(n))


# -- exposure ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_nothing(host: str) -> None:
    check_exposure(AdminConfig(host=host))


@pytest.mark.parametrize(("token", "tls"), [(None, False), ("secret", False), (None, True)])
def test_other_addresses_need_a_token_and_tls(token: str | None, tls: bool) -> None:
    cert = Path("c.pem") if tls else None
    with pytest.raises(ConfigError, match="not a loopback address"):
        check_exposure(AdminConfig(host="0.0.0.0", token=token, tls_cert=cert, tls_key=cert))
    check_exposure(AdminConfig(host="0.0.0.0", token="secret", tls_cert=Path("c.pem"), tls_key=Path("k.pem")))


def test_tls_cert_without_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="go together"):
        check_exposure(AdminConfig(tls_cert=Path("c.pem")))


# -- read commands ----------------------------------------------------------------------------------
def test_status_reflects_the_buffer_and_the_link(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        h.commit(readings(10))
        h.buffer.mark_acked(4)
        h.ingest.stats.rejected["not_json"] += 2
        reply = await h.stub.Status(admin_pb2.StatusRequest())
        assert (reply.edge_id, reply.software_version) == ("site-t", "0.1.0")
        assert reply.buffer.rows == 10 and reply.buffer.last_seq == 10 and reply.buffer.acked_seq == 4
        assert reply.buffer.backlog == 6
        assert reply.buffer.oldest_unacked.ToMicroseconds() == NOW_US + 4 * 1_000_000  # seq 5
        assert reply.link.state == "connecting" and reply.link.hub == "127.0.0.1:1" and not reply.link.paused
        assert dict(reply.rejected) == {"not_json": 2}
        assert set(reply.dropped) == {"buffer_full_acked", "buffer_full_unacked", "purged_unacked", "live_lane",
                                      "tail"}
        assert reply.uptime_s >= 0 and reply.now.ToMicroseconds() > NOW_US

    run(tmp_path, body)


def test_devices_show_last_reading_per_sensor_and_rejections(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        h.commit(readings(6))
        h.ingest.stats.recent_rejections.append(Rejection(0.0, "devices/dev-3/telemetry", "bad_value", "", b"{}"))
        h.ingest.stats.rejected["bad_value"] += 1
        reply = await h.stub.Devices(admin_pb2.DevicesRequest())
        by_id = {d.device_id: d for d in reply.devices}
        assert list(by_id) == ["dev-1", "dev-2", "dev-3"]
        temp = by_id["dev-1"].sensors[0]
        assert (temp.sensor_type, temp.unit, temp.rows, temp.last_seq, temp.last_value) == (
            "temperature", "°C", 3, 5, 21.0)
        assert temp.last_ts.ToMicroseconds() == NOW_US + 4 * 1_000_000
        assert by_id["dev-2"].sensors[0].last_value == 21.25
        assert by_id["dev-3"].rejected == 1 and not by_id["dev-3"].sensors
        assert reply.rejected_unattributed == 0

    run(tmp_path, body)


def test_buffer_stats_per_series(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        h.commit(readings(7))
        h.buffer.mark_acked(3)
        reply = await h.stub.BufferStats(admin_pb2.BufferStatsRequest())
        assert [(s.device_id, s.rows, s.unacked) for s in reply.series] == [("dev-1", 4, 2), ("dev-2", 3, 2)]
        assert reply.series[0].oldest.ToMicroseconds() == NOW_US
        assert reply.series[0].newest.ToMicroseconds() == NOW_US + 6 * 1_000_000
        assert reply.totals.backlog == 4

    run(tmp_path, body)


def test_tracked_cache(tmp_path: Path) -> None:
    (tmp_path / "edge").mkdir()
    (tmp_path / "edge" / "tracked.json").write_text(
        '{"version": 7, "variables": [{"device_id": "dev-1", "sensor_type": "temperature", "widget_id": "w1", '
        '"dashboard_uuid": "d1", "max_samples": 50}]}')

    async def body(h: Harness) -> None:
        reply = await h.stub.Tracked(admin_pb2.TrackedRequest())
        assert reply.version == 7
        assert to_dict(reply)["variables"] == [{"device_id": "dev-1", "sensor_type": "temperature",
                                                "widget_id": "w1", "dashboard_uuid": "d1", "max_samples": 50}]

    run(tmp_path, body)


def test_rejections_newest_first_with_limit(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        for i in range(3):
            h.ingest.stats.recent_rejections.append(
                Rejection(1_752_045_302.0 + i, f"devices/d{i}/telemetry", "not_json", f"#{i}", b"\xff{x"))
        reply = await h.stub.Rejections(admin_pb2.RejectionsRequest(limit=2))
        assert [r.detail for r in reply.rejections] == ["#2", "#1"]
        assert reply.rejections[0].device_id == "d2" and reply.ring_size == 200
        assert to_dict(reply.rejections[0])["payload"] == "\\xff{x"

    run(tmp_path, body)


# -- actions ----------------------------------------------------------------------------------------
def test_pause_and_resume_the_uplink(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        reply = await h.stub.SetUplink(admin_pb2.SetUplinkRequest(paused=True))
        assert reply.paused and h.uplink.paused
        assert (await h.stub.Status(admin_pb2.StatusRequest())).link.paused
        reply = await h.stub.SetUplink(admin_pb2.SetUplinkRequest(paused=False))
        assert not reply.paused and not h.uplink.paused

    run(tmp_path, body)


def test_purge_counts_first_then_deletes(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        h.commit(readings(10))
        h.buffer.mark_acked(2)
        before = NOW_US + 5 * 1_000_000  # seqs 1-5
        request = admin_pb2.PurgeRequest(before=admin_mod.ts(before), dry_run=True)
        preview = await h.stub.PurgeBuffer(request)
        assert (preview.acked, preview.unacked, preview.dry_run) == (2, 3, True)
        assert h.buffer.rows == 10
        request.dry_run = False
        done = await h.stub.PurgeBuffer(request)
        assert (done.acked, done.unacked) == (2, 3)
        assert [s for (s,) in h.buffer.query("SELECT seq FROM readings ORDER BY seq")] == [6, 7, 8, 9, 10]
        status = await h.stub.Status(admin_pb2.StatusRequest())
        assert status.dropped["purged_unacked"] == 3 and status.buffer.rows == 5
        assert status.buffer.backlog == 5  # seqs 6-10; the span above the watermark (2) is 8
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await h.stub.PurgeBuffer(admin_pb2.PurgeRequest())
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    run(tmp_path, body)


async def _export(h: Harness, request: admin_pb2.ExportRequest, out: Path) -> list[Any]:
    frames = []
    with open(out, "wb") as fh:
        async for frame in h.stub.ExportBuffer(request):
            if frame.WhichOneof("kind") == "data":
                fh.write(frame.data)
            else:
                frames.append(frame)
    return frames


def test_export_parquet_round_trips_and_filters(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        h.commit(readings(8))
        h.buffer.mark_acked(3)
        out = tmp_path / "all.parquet"
        frames = await _export(h, admin_pb2.ExportRequest(), out)
        assert frames[0].progress.phase == "writing" and frames[0].progress.rows == 8
        assert frames[-1].done.rows == 8 and frames[-1].done.bytes == out.stat().st_size
        got = duckdb.sql(f"SELECT device_id, sensor_type, unit, ts, value, seq, acked FROM '{out}'").fetchall()
        expected = [(k[0], k[1], k[2], datetime.fromtimestamp(t / 1e6, UTC), v, i + 1, i + 1 <= 3)
                    for i, (k, t, v) in enumerate(readings(8))]
        assert got == expected
        assert duckdb.sql(f"SELECT DISTINCT typeof(ts) FROM '{out}'").fetchall() == [("TIMESTAMP WITH TIME ZONE",)]
        some = tmp_path / "some.parquet"
        request = admin_pb2.ExportRequest(since=admin_mod.ts(NOW_US + 2_000_000),
                                          until=admin_mod.ts(NOW_US + 6_000_000), device_id="dev-1")
        await _export(h, request, some)
        assert duckdb.sql(f"SELECT seq FROM '{some}'").fetchall() == [(3,), (5,)]
        assert not list((tmp_path / "edge" / "exports").iterdir()), "the edge's copy is removed"

    run(tmp_path, body)


def test_export_csv_has_iso_utc_times(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        h.commit(readings(2))
        out = tmp_path / "x.csv"
        await _export(h, admin_pb2.ExportRequest(format=admin_pb2.EXPORT_FORMAT_CSV), out)
        assert out.read_text(encoding="utf-8").splitlines() == [
            "device_id,sensor_type,unit,ts,value,seq,acked",
            "dev-1,temperature,°C,2025-07-09T07:15:02.000000Z,20.0,1,false",
            "dev-2,humidity,%,2025-07-09T07:15:03.000000Z,20.25,2,false",
        ]

    run(tmp_path, body)


# -- tail -------------------------------------------------------------------------------------------
def test_tail_streams_committed_readings_through_its_filter(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        call = h.stub.Tail(admin_pb2.TailRequest(device_id="dev-2"))
        first = await call.read()
        assert not first.readings  # subscribed
        h.commit(readings(4))
        batch = await asyncio.wait_for(call.read(), 5)
        assert [(r.device_id, r.seq, r.value, r.unit) for r in batch.readings] == [
            ("dev-2", 2, 20.25, "%"), ("dev-2", 4, 20.75, "%")]
        assert batch.readings[0].ts.ToMicroseconds() == NOW_US + 1_000_000
        call.cancel()
        await asyncio.sleep(0.1)
        assert not h.server.tail.clients, "the cancelled client is unsubscribed"

    run(tmp_path, body)


def test_a_slow_tail_client_misses_readings_counted_not_queued(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tail_mod, "TAIL_QUEUE_BATCHES", 2)
    monkeypatch.setattr(tail_mod, "TAIL_BATCH_MAX", 3)

    async def body() -> None:
        hub = TailHub()
        hub.attach(asyncio.get_running_loop())
        client = hub.subscribe()
        for first in (1, 6, 11):  # three commits of 5 readings: 2 cut from each, and the third does not fit
            hub.listener(_Committed(first), readings(5))
        await asyncio.sleep(0.05)
        assert hub.dropped == 2 + 2 + 5
        pairs, skipped = client.queue.get_nowait()
        assert [seq for seq, _ in pairs] == [3, 4, 5] and skipped == 2
        pairs, skipped = client.queue.get_nowait()
        assert [seq for seq, _ in pairs] == [8, 9, 10] and skipped == 2
        hub.listener(_Committed(16), readings(1))
        await asyncio.sleep(0.05)
        pairs, skipped = client.queue.get_nowait()
        assert [seq for seq, _ in pairs] == [16] and skipped == 5  # the gap is told with the next batch
        hub.unsubscribe(client)
        hub.listener(_Committed(17), readings(1))
        await asyncio.sleep(0.05)
        assert client.queue.empty()

    asyncio.run(body())


@dataclass
class _Committed:
    first_seq: int


# -- auth, health, reflection -----------------------------------------------------------------------
def test_token_is_required_when_configured(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        for metadata in ((), (("authorization", "Bearer wrong"),), (("authorization", "secret"),)):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await h.stub.Status(admin_pb2.StatusRequest(), metadata=metadata)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        call = h.stub.Tail(admin_pb2.TailRequest())
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call.read()
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        reply = await h.stub.Status(admin_pb2.StatusRequest(), metadata=(("authorization", "Bearer secret"),))
        assert reply.edge_id == "site-t"
        health = health_pb2_grpc.HealthStub(h.channel)  # no token needed to probe
        for service in ("", "edgehub.admin.v1.EdgeAdmin"):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING

    run(tmp_path, body, token="secret")


def test_reflection_lists_the_services(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        stub = reflection_pb2_grpc.ServerReflectionStub(h.channel)
        call = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = set()
        async for answer in call:
            names |= {s.name for s in answer.list_services_response.service}
        assert {"edgehub.admin.v1.EdgeAdmin", "grpc.health.v1.Health"} <= names

    run(tmp_path, body)


# -- rates ------------------------------------------------------------------------------------------
def test_rate_meter_windows() -> None:
    clock = [0.0]
    counter = [0]
    meter = RateMeter({"n": lambda: counter[0]}, horizon_s=300, clock=lambda: clock[0])
    assert meter.rate("n", 10) == 0.0
    for _ in range(400):  # 100/s for 400 s, then 10/s for the last 20 s
        meter.sample()
        clock[0] += 1
        counter[0] += 100
    for _ in range(20):
        meter.sample()
        clock[0] += 1
        counter[0] += 10
    assert meter.rate("n", 10) == pytest.approx(10.0)
    assert meter.rate("n", 300) == pytest.approx((280 * 100 + 20 * 10) / 300)
    assert meter.value_at("n", 300) is not None


def test_device_of_topic() -> None:
    assert device_of("devices/abc/telemetry", "devices/+/telemetry") == "abc"
    assert device_of("devices", "devices/+/telemetry") == ""
    assert device_of("plant/x/y", "plant/#") == ""


# -- edgectl's pure parts ---------------------------------------------------------------------------
def test_parse_time() -> None:
    now = NOW_US / 1e6
    assert parse_time("2025-07-09T07:15:02Z", now) == NOW_US
    assert parse_time("2025-07-09T07:15:02", now) == NOW_US  # no zone: UTC, as for devices
    assert parse_time("2025-07-09T09:15:02+02:00", now) == NOW_US
    assert parse_time("now", now) == NOW_US
    assert parse_time("2h", now) == NOW_US - 7200 * 1_000_000
    assert parse_time("90s", now) == NOW_US - 90 * 1_000_000
    assert parse_time("7d", now) == NOW_US - 7 * 86400 * 1_000_000


def test_relative_times() -> None:
    now = admin_mod.ts(NOW_US)
    assert ago(admin_mod.ts(NOW_US - 3_000_000), now) == "3 s ago"
    assert ago(admin_mod.ts(NOW_US - 3_900_000_000), now) == "1 h 5 min ago"
    assert ago(admin_mod.ts(NOW_US + 120_000_000), now) == "in 2 min"
    assert span(2 * 86400 + 3600) == "2 d 1 h"


def test_json_keeps_integers_and_writes_iso_times() -> None:
    reply = admin_pb2.BufferTotals(rows=2**40, oldest_unacked=admin_mod.ts(NOW_US))
    out = to_dict(reply)
    assert out["rows"] == 2**40 and out["oldest_unacked"] == "2025-07-09T07:15:02Z"
    assert to_dict(admin_pb2.BufferTotals())["oldest_unacked"] is None


# -- generated code ---------------------------------------------------------------------------------
def test_generated_admin_protos_are_current(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{REPO}", f"--python_out={tmp_path}",
                    f"--grpc_python_out={tmp_path}", f"--pyi_out={tmp_path}", "protos/admin.proto"],
                   cwd=REPO, check=True, capture_output=True, timeout=60)
    for name in ("admin_pb2.py", "admin_pb2_grpc.py", "admin_pb2.pyi"):
        assert (tmp_path / "protos" / name).read_bytes() == (REPO / "protos" / name).read_bytes(), (
            f"protos/{name} is stale: run `make protos`")
