"""The firmware's hardware-free C (firmware/components/edgehub_device) on this machine: its unit tests
built with gcc -Wall -Wextra -Werror and sanitizers, the ESP-IDF application code compiled against
stub headers, and the payloads the C encoder makes fed to the edge's own validator."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from edge.payload import parse
from tests.support import REPO

HERE = REPO / "tests" / "firmware"
C_TESTS = ("test_json", "test_ring", "test_backoff", "test_config", "test_sensor")


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-s", "-C", str(HERE), *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shutil.which("gcc") or not shutil.which("make"):
        pytest.fail("gcc and make are needed for the firmware host tests (.ci/run installs them)")
    out = tmp_path_factory.mktemp("firmware-host")
    done = make(f"BUILD={out}", "all")
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.mark.parametrize("name", C_TESTS)
def test_c_unit_tests_pass(name: str, build: Path) -> None:
    run = subprocess.run([str(build / name)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "checks passed" in run.stdout
    assert "runtime error" not in run.stderr  # UBSan reports go to stderr


def test_device_code_compiles_against_the_idf_stubs() -> None:
    done = make("idf-syntax")
    assert done.returncode == 0, done.stdout + done.stderr


def test_payloads_from_the_c_encoder_pass_the_edge_validator(build: Path) -> None:
    out = subprocess.run([str(build / "payload_dump")], capture_output=True, text=True, timeout=60, check=True)
    now_us = int(time.time() * 1e6)
    lines = out.stdout.splitlines()
    bulk_sizes = []
    for line in lines:
        topic, payload, expected = line.split("\t")
        device = topic.split("/")[1]
        assert topic == f"devices/{device}/telemetry"
        readings, rejected = parse(payload.encode(), device, now_us)
        assert rejected == [], f"{[r.reason for r in rejected]} for {payload[:200]}"
        want = [item.split("|") for item in expected.split(";")]
        assert len(readings) == len(want), payload[:200]
        for (key, ts_us, value), (sensor_hex, unit_hex, value_hex, ts_ms) in zip(readings, want, strict=True):
            assert key == (device, bytes.fromhex(sensor_hex).decode(), bytes.fromhex(unit_hex).decode())
            assert value == float.fromhex(value_hex)  # the exact double, not a rounded one
            assert ts_us == (now_us if ts_ms == "-1" else int(ts_ms) * 1000)
        bulk_sizes.append(len(readings) if payload.count('"readings"') else 0)
    assert len(lines) > 250
    assert max(bulk_sizes) > 20 and bulk_sizes.count(0) > 10  # singles and large bulks both checked
