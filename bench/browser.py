"""Browser benchmark (issue 4): a dashboard of 20 time-series widgets, each receiving 10 samples/s,
for 60 s in headless Chromium. Prints frames per second and the JS heap at start and end.

``python -m bench.browser [--seconds 60] [--widgets 20]``

Data flows for real: simulator → mosquitto → edge → hub → WebSockets. Five devices publish 40
readings/s each, rotating over four sensors, so each of the 20 series gets 10 samples/s. The heap is
read with ``performance.memory`` (Chromium, ``--enable-precise-memory-info``) after a forced garbage
collection (``--js-flags=--expose-gc``), first when every buffer holds its 50 samples, then at the end:
with full buffers it must not grow. Frames are counted with requestAnimationFrame over the whole run.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bench.site import running_site
from firmware.sim import SENSORS, device_ids
from tests.support import ADMIN, sim, wait_for
from tests.web.browser import ARGS, CHROMIUM

COUNT_FRAMES = """() => { window.__frames = 0; const tick = () => { window.__frames++; requestAnimationFrame(tick); };
  requestAnimationFrame(tick); }"""
HEAP = "() => { gc(); return performance.memory.usedJSHeapSize; }"


def run(seconds: float, n_widgets: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    devices = max(1, n_widgets // len(SENSORS))
    with running_site("browser", "bench") as site:
        work, broker, hub, procs = site.work, site.broker, site.hub, site.procs
        rate = 10 * len(SENSORS)  # readings/s per device: 10 samples/s per sensor
        publisher = sim(broker.url, work, devices=devices, count=int(rate * devices * (seconds + 60)), rate=rate,
                        seed="browser", waveform="real")
        procs.append(publisher)
        ids = device_ids(devices, "browser")
        wait_for(lambda: sum(len(d["sensors"]) for d in hub.request("GET", "/api/devices/")[1]) == n_widgets,
                 30, what="every series at the hub")
        widgets = [{"id": f"flow-widget-browser-{i:03d}", "type": "time_series", "title": f"{s} {d[:8]}",
                    "max_samples": 50, "layout": {"w": 3, "h": 3},
                    "dataSource": {"kind": "device", "device_id": d, "sensor_type": s}}
                   for i, (d, (s, _)) in enumerate((d, s) for d in ids for s in SENSORS)][:n_widgets]
        status, dash = hub.request("POST", "/api/dashboard-templates/", {"name": "20 charts", "widgets": widgets})
        assert status == 201, dash
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=[*ARGS, "--enable-precise-memory-info", "--js-flags=--expose-gc"])
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            base = f"http://127.0.0.1:{hub.http_port}"
            page.goto(base + "/")
            page.fill("#username", ADMIN[0])
            page.fill("#password", ADMIN[1])
            page.click("button[type=submit]")
            page.goto(f"{base}/#/dashboards/{dash['uuid']}")
            page.wait_for_function(f"document.querySelectorAll('.widget[data-points=\"50\"]').length === {n_widgets}",
                                   timeout=60_000)
            heap_start = page.evaluate(HEAP)
            page.evaluate(COUNT_FRAMES)
            started = time.monotonic()
            time.sleep(seconds)
            frames = page.evaluate("() => window.__frames")
            elapsed = time.monotonic() - started
            heap_end = page.evaluate(HEAP)
            live = page.evaluate("() => document.querySelectorAll('.badge[data-state=live]').length")
            browser.close()
        return {"widgets": n_widgets, "seconds": elapsed, "fps": frames / elapsed, "heap_start": heap_start,
                "heap_end": heap_end, "live": live}


def table(r: dict[str, Any]) -> str:
    growth = r["heap_end"] / r["heap_start"]
    return "\n".join([
        "| scenario | figure | target |",
        "|---|---|---|",
        f"| {r['widgets']} time-series widgets × 10 samples/s, {r['seconds']:.0f} s, headless Chromium | "
        f"{r['fps']:.1f} frames/s; {r['live']}/{r['widgets']} widgets Live at the end | — |",
        f"| JS heap after GC, buffers full → end | {r['heap_start'] / 2**20:.1f} MiB → {r['heap_end'] / 2**20:.1f} MiB "
        f"(×{growth:.2f}) | no growth: {'met' if growth <= 1.10 else 'MISSED'} |",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--widgets", type=int, default=20)
    args = parser.parse_args(argv)
    print(table(run(args.seconds, args.widgets)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
