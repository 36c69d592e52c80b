"""edge.ingest.Handoff: the bounded queue between paho's thread and the writer, with real threads.
It must stop the putting thread at either bound (messages or readings), let one oversized message
through when it is empty, and release the putter as soon as the writer takes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from edge.ingest import Handoff, Message
from edge.payload import Readings
from tests.support import wait_for


def _message(mid: int, readings: int) -> Message:
    key = ("dev", "temperature", "°C")
    rs = Readings([key] * readings, list(range(readings)), [float(mid)] * readings)
    return Message(mid, 1, False, mid, "devices/dev/telemetry", rs, [], b"")


def _put_in_thread(queue: Handoff, messages: list[Message]) -> tuple[threading.Thread, list[int]]:
    done: list[int] = []

    def run() -> None:
        for m in messages:
            queue.put(m)
            done.append(m.mid)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def wait_for_quiet(predicate: Callable[[], bool], seconds: float = 0.3) -> bool:
    """True if ``predicate`` becomes true within ``seconds`` (used to show that it does not)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_put_waits_at_the_readings_bound_and_resumes_when_the_writer_takes() -> None:
    queue = Handoff(max_messages=1000, max_readings=250)
    thread, done = _put_in_thread(queue, [_message(i, 100) for i in range(1, 6)])
    wait_for(lambda: len(done) == 3, 5, interval=0.01, what="three messages queued")
    assert not wait_for_quiet(lambda: len(done) > 3)  # 300 readings queued >= 250: the fourth waits
    assert queue.readings == 300
    group = queue.take(0.1, max_readings=150)
    assert [m.mid for m in group] == [1, 2]  # stops once 150 readings are taken
    assert queue.readings == 100
    wait_for(lambda: len(done) == 5, 5, interval=0.01, what="the rest queued after the take")
    thread.join(5)
    assert [m.mid for m in queue.take(0.1, max_readings=10_000)] == [3, 4, 5]
    assert queue.readings == 0 and len(queue) == 0


def test_put_waits_at_the_message_bound() -> None:
    queue = Handoff(max_messages=2, max_readings=1_000_000)
    thread, done = _put_in_thread(queue, [_message(i, 1) for i in range(1, 4)])
    wait_for(lambda: len(done) == 2, 5, interval=0.01)
    assert not wait_for_quiet(lambda: len(done) > 2)
    assert [m.mid for m in queue.take(0.1, max_readings=1)] == [1]
    wait_for(lambda: len(done) == 3, 5, interval=0.01)
    thread.join(5)


def test_a_message_larger_than_the_bound_passes_an_empty_queue() -> None:
    queue = Handoff(max_messages=10, max_readings=50)
    queue.put(_message(1, 500))  # would block forever if the bound applied to an empty queue
    assert queue.readings == 500
    assert [m.mid for m in queue.take(0.1, max_readings=10)] == [1]
    assert queue.take(0.01, max_readings=10) == []  # empty: waits out the timeout and returns nothing

