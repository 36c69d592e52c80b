"""hub/fanout.py: bounded per-socket queues that drop the oldest, batches, closing, and groups."""

from __future__ import annotations

import asyncio

from hub.fanout import SUBSCRIBER_QUEUE, Fanout, Subscriber


def test_full_queue_drops_the_oldest_and_counts() -> None:
    sub = Subscriber("widget:w1", maxlen=3)
    for i in range(5):
        sub.offer(b"m%d" % i)
    assert list(sub.queue) == [b"m2", b"m3", b"m4"]
    assert sub.dropped == 2


def test_default_queue_bound() -> None:
    assert Fanout().subscribe("widget:w1").queue.maxlen == SUBSCRIBER_QUEUE


def test_next_batch_returns_everything_queued() -> None:
    async def scenario() -> tuple[list[bytes], int]:
        sub = Subscriber("widget:w1")
        for i in range(3):
            sub.offer(b"m%d" % i)
        batch = await sub.next_batch()
        return batch, len(sub.queue)

    assert asyncio.run(scenario()) == ([b"m0", b"m1", b"m2"], 0)


def test_next_batch_waits_for_a_message() -> None:
    async def scenario() -> list[bytes]:
        sub = Subscriber("widget:w1")
        waiter = asyncio.create_task(sub.next_batch())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        sub.offer(b"late")
        return await asyncio.wait_for(waiter, 1)

    assert asyncio.run(scenario()) == [b"late"]


def test_close_ends_a_waiting_next_batch_with_an_empty_batch() -> None:
    async def scenario() -> list[bytes]:
        sub = Subscriber("widget:w1")
        waiter = asyncio.create_task(sub.next_batch())
        await asyncio.sleep(0.01)
        sub.close()
        return await asyncio.wait_for(waiter, 1)

    assert asyncio.run(scenario()) == []


def test_close_still_delivers_what_was_queued_first() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        sub = Subscriber("widget:w1")
        sub.offer(b"last")
        sub.close()
        return await sub.next_batch(), await sub.next_batch()

    assert asyncio.run(scenario()) == ([b"last"], [])


def test_publish_reaches_every_member_of_the_group_only() -> None:
    fanout = Fanout()
    a, b = fanout.subscribe("widget:w1"), fanout.subscribe("widget:w1")
    other = fanout.subscribe("widget:w2")
    assert fanout.publish("widget:w1", b"x") == 2
    assert (list(a.queue), list(b.queue), list(other.queue)) == ([b"x"], [b"x"], [])


def test_publish_to_a_group_without_members_is_a_no_op() -> None:
    fanout = Fanout()
    assert fanout.publish("widget:nobody", b"x") == 0
    assert fanout.groups == {}


def test_unsubscribe_forgets_an_emptied_group() -> None:
    fanout = Fanout()
    a, b = fanout.subscribe("widget:w1"), fanout.subscribe("widget:w1")
    fanout.unsubscribe(a)
    assert fanout.publish("widget:w1", b"x") == 1
    assert list(a.queue) == []
    fanout.unsubscribe(b)
    fanout.unsubscribe(b)  # twice is harmless
    assert fanout.groups == {}
    assert fanout.publish("widget:w1", b"y") == 0


def test_close_group_closes_its_members_only() -> None:
    fanout = Fanout()
    a, other = fanout.subscribe("widget:w1"), fanout.subscribe("widget:w2")
    fanout.close_group("widget:w1")
    fanout.close_group("widget:none")
    assert (a.closed, other.closed) == (True, False)
