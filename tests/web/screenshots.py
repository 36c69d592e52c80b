"""``make screenshots``: run ``edgehub demo`` and photograph its dashboard and flow editor.

The pictures in docs/images/ are of the real demo (embedded broker, hub, edge, simulator), taken in
headless Debian Chromium once the widgets have filled.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support import free_port
from tests.web.browser import chromium, log_in

OUT = Path(__file__).resolve().parents[2] / "docs" / "images"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        demo = subprocess.Popen(
            [sys.executable, "-m", "edgehub.cli", "demo", "--data-dir", tmp, "--http-port", str(free_port()),
             "--devices", "4", "--rate", "8"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            banner = ""
            deadline = time.monotonic() + 120
            assert demo.stdout is not None
            while "Ctrl-C" not in banner and time.monotonic() < deadline:
                line = demo.stdout.readline()
                if not line:
                    raise SystemExit(f"demo ended early:\n{banner}")
                banner += line
            base = re.search(r"web app\s+(\S+)/", banner)
            creds = re.search(r"log in as\s+(\S+) / (\S+)", banner)
            dash = re.search(r"dashboard\s+(\S+)", banner)
            if not (base and creds and dash):
                raise SystemExit(f"unexpected demo banner:\n{banner}")
            time.sleep(20)  # let the widgets fill
            with chromium((1440, 900)) as page:
                log_in(page, base.group(1), creds.group(1), creds.group(2))
                page.goto(dash.group(1))
                page.wait_for_selector(".widget .badge[data-state=live]")
                time.sleep(3)
                page.screenshot(path=str(OUT / "dashboard.png"))
                page.goto(base.group(1) + "/#/flows")
                page.click("table.list a")
                page.wait_for_selector(".fnode")
                page.click(".fnode.device")
                page.select_option("#var", "temperature")
                page.screenshot(path=str(OUT / "flow-editor.png"))
                page.evaluate("document.documentElement.dataset.theme = 'dark'")
                page.goto(dash.group(1))
                page.wait_for_selector(".widget .badge[data-state=live]")
                page.evaluate("document.documentElement.dataset.theme = 'dark'")
                time.sleep(3)
                page.screenshot(path=str(OUT / "dashboard-dark.png"))
        finally:
            demo.send_signal(signal.SIGINT)
            demo.wait(30)
    print(f"screenshots written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
