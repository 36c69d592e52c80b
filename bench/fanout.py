"""Widget fan-out benchmark (issue 3): 200 WebSocket clients on 50 widgets while 2,000 readings/s
flow in through broker, edge and hub. Prints delivered messages/s and publish → WebSocket latency.

Ten devices with five sensors each send one bulk message per sampling round (400 messages/s carry
the 2,000 readings/s). Everything runs on this 2-core machine: broker, edge, hub, the publisher and
the 200 WebSocket clients (one asyncio process), so the clients' own cost is part of what is measured.

``python -m bench.fanout [--seconds 30] [--rate 2000] [--widgets 50] [--clients 200]``

Latency is measured per sample: each reading carries its publish time (wall clock, ms) as its
``timestamp``; a client subtracts it from its receive time. Publisher and clients run on this
machine, so both read the same clock; the resolution is 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.site import running_site
from tests.support import wait_for

SENSORS_PER_DEVICE = 5


def series(widgets: int) -> list[tuple[str, str]]:
    devices = (widgets + SENSORS_PER_DEVICE - 1) // SENSORS_PER_DEVICE
    out = [(f"fanout-{d:03d}", f"s{s}") for d in range(devices) for s in range(SENSORS_PER_DEVICE)]
    return out[:widgets]


def publish(url: str, pairs: list[tuple[str, str]], rate: float, seconds: float, ready: Any) -> None:
    """``rate`` readings/s at QoS 1: each device sends all its sensors in one bulk message, the way a
    device that samples its sensors together does, so the broker and edge see rate/5 messages/s."""
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.connect(host, int(port))
    client.loop_start()
    by_device: dict[str, list[str]] = {}
    for device, sensor in pairs:
        by_device.setdefault(device, []).append(sensor)
    devices = list(by_device.items())
    per_message = len(pairs) / len(devices)
    ready.wait()
    start = time.monotonic()
    n = 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = n * per_message / rate
        if due > elapsed:
            time.sleep(min(0.005, due - elapsed))
            continue
        device, sensors = devices[n % len(devices)]
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body = {"device_id": device, "readings": [
            {"sensor_type": s, "value": n, "unit": "u", "timestamp": stamp} for s in sensors]}
        client.publish(f"devices/{device}/telemetry", json.dumps(body), qos=1)
        n += 1
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()


def run(seconds: float, rate: float, n_widgets: int, n_clients: int) -> dict[str, Any]:
    with running_site("fanout", "fan") as site:
        broker, hub = site.broker, site.hub
        pairs = series(n_widgets)
        ev = mp.Event()
        ev.set()
        publish(broker.url, pairs, 500, len(pairs) / 500 + 0.2, ev)  # every series once: devices exist
        wait_for(lambda: len(hub.request("GET", "/api/devices/")[1]) == len({d for d, _ in pairs}), 30,
                 what="devices at the hub")
        widgets = [{"id": f"flow-widget-bench-{i:04d}", "type": "time_series", "title": f"{d} {s}",
                    "max_samples": 50, "dataSource": {"kind": "device", "device_id": d, "sensor_type": s}}
                   for i, (d, s) in enumerate(pairs)]
        status, dash = hub.request("POST", "/api/dashboard-templates/", {"name": "fan-out", "widgets": widgets})
        assert status == 201, dash
        token = hub.token()
        base = f"ws://127.0.0.1:{hub.http_port}/ws/widgets/"
        per_widget = max(1, n_clients // n_widgets)
        ready, out = mp.Event(), mp.Queue()
        reader = mp.Process(target=_clients_entry, args=(base, token, [w["id"] for w in widgets], per_widget,
                                                          seconds + 4, ready, out))
        reader.start()
        ready.wait(30)
        started = time.monotonic()
        publisher = mp.Process(target=publish, args=(broker.url, pairs, rate, seconds, ready))
        publisher.start()
        publisher.join(seconds + 30)
        count, lat = out.get(timeout=seconds + 60)
        reader.join(30)
        elapsed = time.monotonic() - started
        dropped = hub.metric("edgehub_hub_ws_dropped_total")
        lat.sort()
        return {
            "clients": per_widget * n_widgets, "widgets": n_widgets, "rate": rate, "seconds": seconds,
            "delivered": count, "delivered_per_s": count / elapsed, "expected_per_s": rate * per_widget,
            "p50_ms": statistics.median(lat) if lat else float("nan"),
            "p99_ms": lat[int(len(lat) * 0.99)] if lat else float("nan"), "dropped": dropped,
        }


async def _ws_frames(host: str, port: int, path: str, seconds: float, on_text: Any) -> None:
    """A minimal WebSocket client (RFC 6455): handshake, then unmasked server text frames. The
    ``websockets`` package costs ~40 µs a message in Python; 200 such clients on this 2-core machine
    took half a core from the hub they were measuring, so the benchmark reads frames itself."""
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    status = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in status.split(b"\r\n", 1)[0]:
        raise ConnectionError(status[:80])
    end = time.monotonic() + seconds
    try:
        while (left := end - time.monotonic()) > 0:
            try:
                head = await asyncio.wait_for(reader.readexactly(2), left)
            except TimeoutError:
                break
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = int.from_bytes(await reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await reader.readexactly(8), "big")
            payload = await reader.readexactly(length)
            if opcode == 0x8:  # close
                break
            if opcode == 0x1:
                on_text(payload)
    finally:
        writer.close()


def _clients_entry(base: str, token: str, widget_ids: list[str], per_widget: int, seconds: float,
                   ready: Any, out: Any) -> None:
    parsed = urlparse(base)
    lat: list[float] = []
    counts = [0]

    def on_text(payload: bytes) -> None:
        now = time.time()
        sent = datetime.fromisoformat(json.loads(payload)["timestamp"]).timestamp()
        lat.append((now - sent) * 1000)
        counts[0] += 1

    async def main() -> None:
        tasks = [asyncio.create_task(_ws_frames(parsed.hostname or "127.0.0.1", parsed.port or 80,
                                                f"{parsed.path}{w}/?token={token}", seconds, on_text))
                 for w in widget_ids for _ in range(per_widget)]
        await asyncio.sleep(2.0)
        ready.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        out.put((counts[0], lat))

    asyncio.run(main())


def table(r: dict[str, Any]) -> str:
    ok = r["p99_ms"] <= 100
    return "\n".join([
        "| scenario | figure | target |",
        "|---|---|---|",
        f"| fan-out: {r['clients']} WebSockets on {r['widgets']} widgets, {r['rate']:.0f} readings/s, "
        f"{r['seconds']:.0f} s | {r['delivered_per_s']:,.0f} messages/s delivered "
        f"(expected {r['expected_per_s']:,.0f}), {r['dropped']:.0f} dropped | — |",
        f"| publish → WebSocket latency | p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms | "
        f"p99 ≤ 100 ms: {'met' if ok else 'MISSED'} |",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--widgets", type=int, default=50)
    parser.add_argument("--clients", type=int, default=200)
    args = parser.parse_args(argv)
    result = run(args.seconds, args.rate, args.widgets, args.clients)
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
