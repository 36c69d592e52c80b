"""Shared fixtures: a per-test workdir, a mosquitto broker, and cleanup of every started process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Mosquitto, Proc


@pytest.fixture
def procs(request: pytest.FixtureRequest) -> Iterator[list[Proc]]:
    """Processes registered here are stopped by pid after the test; their logs are printed on failure."""
    started: list[Proc] = []
    yield started
    for p in reversed(started):
        p.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for p in started:
            print(f"\n----- {p.name} log (tail) -----\n{p.output()[-4000:]}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    rep = yield
    setattr(item, "rep_" + rep.when, rep)
    return rep


@pytest.fixture
def broker(tmp_path: Path, procs: list[Proc]) -> Mosquitto:
    b = Mosquitto(tmp_path / "broker").start()
    procs.append(b)
    return b
