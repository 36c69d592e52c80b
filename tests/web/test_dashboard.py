"""The web app in a real browser against real processes: build a flow, Visualize Output, watch the
chart grow, survive a hub kill with the gap filled, remove the widget and check the server cleaned up."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from firmware.sim import device_ids
from tests.support import ADMIN, Edge, Hub, Mosquitto, Proc, sim, wait_for
from tests.web.browser import chromium, log_in

pytestmark = pytest.mark.system


def points(page, widget_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return list(page.evaluate("id => window.edgehubWidgets[id]()", widget_id))


def test_visualize_output_live_chart_survives_hub_kill_and_cleans_up(
    tmp_path: Path, broker: Mosquitto, procs: list[Proc]
) -> None:
    hub = Hub(tmp_path).start()
    procs.append(hub)
    edge = Edge(tmp_path, "hall", hub.address, hub.register_edge("hall"), broker.url).start()
    procs.append(edge)
    edge.wait_subscribed()
    device = device_ids(1, "web")[0]
    first = sim(broker.url, tmp_path, devices=1, count=8, rate=50, seed="web", waveform="real")
    assert first.wait(30) == 0  # two readings of each sensor: humidity is in the dropdown
    wait_for(lambda: hub.request("GET", "/api/devices/")[1], 20, what="the device at the hub")
    base = f"http://127.0.0.1:{hub.http_port}"

    with chromium() as page:
        log_in(page, base, *ADMIN)
        page.click("nav >> text=Flows")
        page.fill("#newflow", "Line 3")
        page.click("button:has-text('Create')")
        page.wait_for_selector(".canvas")
        page.click(f".palette button:has-text('Device {device[:8]}')")
        assert page.is_disabled("button:has-text('Visualize Output')")
        assert page.is_visible("text=Choose a variable first")
        page.select_option("#var", "humidity")
        page.click("button:has-text('Visualize Output')")
        page.fill("#vis-new", "Humidity")
        page.click("button:has-text('Create widget')")
        page.click("text=Open dashboard")
        card = page.wait_for_selector(".widget")
        widget_id = card.get_attribute("data-widget")
        assert widget_id and widget_id.startswith("flow-widget-")
        page.wait_for_selector(".widget .badge[data-state=live]")
        before = len(points(page, widget_id))

        live = sim(broker.url, tmp_path, devices=1, count=4_000, rate=8, seed="web", waveform="real")
        procs.append(live)
        wait_for(lambda: len(points(page, widget_id)) >= before + 6, 20, what="the chart to grow")
        assert int(page.get_attribute(".widget", "data-points") or 0) > before

        hub.kill9()
        page.wait_for_selector(".widget .badge[data-state=reconnecting]", timeout=10_000)
        assert "Reconnecting in" in page.inner_text(".widget .badge")
        time.sleep(3)  # readings keep coming into the edge buffer meanwhile
        hub.start()
        page.wait_for_selector(".widget .badge[data-state=live]", timeout=20_000)
        # The gap is filled: every sample the server holds now is in the chart's buffer, in order.
        dash_uuid = page.evaluate("location.hash").removeprefix("#/dashboards/")
        status, server = hub.request("GET", f"/api/dashboard-templates/{dash_uuid}/widgets/{widget_id}/samples/")
        assert status == 200
        wait_for(lambda: {s["timestamp"] for s in server[:-2]} <= {p["timestamp"] for p in points(page, widget_id)},
                 10, what="the outage gap filled in the chart")
        # Compared as times: the hub writes only the fraction digits a timestamp has ("…47.2Z", "…47.299Z").
        stamps = [datetime.fromisoformat(p["timestamp"]) for p in points(page, widget_id)]
        assert stamps == sorted(stamps) and len(stamps) <= 50

        page.click("button:has-text('Edit layout')")
        page.click(".widget button:has-text('Remove')")
        page.click("button:has-text('Save')")
        page.wait_for_selector("text=Saved.")
        assert page.query_selector(".widget") is None
        # The only errors allowed are the refused connections while the hub was down.
        unexpected = [e for e in page.errors if "ERR_CONNECTION_REFUSED" not in e and "WebSocket" not in e]
        assert not unexpected, unexpected

    assert hub.request("GET", f"/api/tracked-variables/?widget_id={widget_id}") == (200, [])
