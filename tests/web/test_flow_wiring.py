"""The flow editor works without a pointer: wires from the selected node's properties, with only the
targets the hub accepts on offer (the wires it draws are the ones the hub stores); arrow keys move a node."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import ADMIN, Hub, Proc
from tests.web.browser import chromium, log_in

pytestmark = pytest.mark.system

DEVICE = "3f2b8c1e-5d4a-4e7b-9a61-0c2d4e6f8a10"
NODES = [
    {"id": f"{DEVICE}-1752045302000", "type": "device", "position": {"x": 20, "y": 40},
     "data": {"device_id": DEVICE, "sensor_variable": "temperature"}},
    {"id": "scale-a", "type": "scale", "position": {"x": 260, "y": 40}, "data": {"a": 1.8, "b": 32}},
    {"id": "avg-b", "type": "moving_average", "position": {"x": 500, "y": 40}, "data": {"n": 10}},
]


def _options(page, select: str) -> list[str]:  # type: ignore[no-untyped-def]
    return list(page.eval_on_selector_all(f"{select} option", "os => os.map(o => o.textContent)"))


def test_nodes_are_wired_unwired_and_moved_from_the_keyboard(tmp_path: Path, procs: list[Proc]) -> None:
    hub = Hub(tmp_path).start()
    procs.append(hub)
    status, flow = hub.request("POST", "/api/flows/", {"name": "Line 3", "nodes": NODES, "wires": []})
    assert status == 201, flow
    path = f"/api/flows/{flow['flow_uuid']}/"

    with chromium() as page:
        log_in(page, f"http://127.0.0.1:{hub.http_port}", *ADMIN)
        page.goto(f"http://127.0.0.1:{hub.http_port}/#/flows/{flow['flow_uuid']}")
        page.wait_for_selector(".canvas [data-node]")

        page.focus(f"[data-node='{NODES[0]['id']}']")  # focusing a node selects it
        assert _options(page, "#wire-to") == ["Choose a node…", "Scale 1.8·x + 32", "Moving average last 10"]
        page.select_option("#wire-to", "scale-a")
        page.focus("button:has-text('Connect')")
        page.keyboard.press("Enter")
        page.wait_for_selector(".canvas svg.wires path[data-wire='0']", state="attached")
        assert _options(page, "#wire-to") == ["Choose a node…", "Moving average last 10"]

        page.focus("[data-node='scale-a']")
        page.select_option("#wire-to", "avg-b")
        page.click("button:has-text('Connect')")
        page.focus("[data-node='avg-b']")
        # Its only candidate would close a loop (scale-a feeds it), and a device is never a target.
        assert page.is_disabled("#wire-to") and _options(page, "#wire-to") == ["None left"]
        assert page.is_visible("text=It feeds every node it can")
        assert page.inner_text(".props .wire-list") == "Scale 1.8·x + 32\nRemove"
        page.click("button:has-text('Save flow')")
        page.wait_for_selector("text=Saved.")
        assert hub.request("GET", path)[1]["wires"] == [
            {"source": NODES[0]["id"], "target": "scale-a"}, {"source": "scale-a", "target": "avg-b"}]

        page.focus("[data-node='scale-a']")
        page.focus("button[aria-label='Remove the wire output to Moving average last 10']")
        page.keyboard.press("Enter")
        assert page.query_selector(".canvas svg.wires path[data-wire='1']") is None
        page.focus("[data-node='avg-b']")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Shift+ArrowRight")
        page.click("button:has-text('Save flow')")
        page.wait_for_selector("text=Saved.")
        saved = hub.request("GET", path)[1]
        assert saved["wires"] == [{"source": NODES[0]["id"], "target": "scale-a"}]
        assert [n["position"] for n in saved["nodes"] if n["id"] == "avg-b"] == [{"x": 550, "y": 50}]
        assert not page.errors, page.errors
