"""The event bus: in-process fan-out, and Redis pub/sub between processes (two `RedisBus`
instances stand in for two worker processes; one test uses a real second process)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import pytest
import redis

from kefu.realtime.bus import (
    Event,
    EventBus,
    LocalBus,
    RedisBus,
    Subscription,
    SubscriptionClosed,
    make_bus,
)

CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 5))


async def next_event(sub: Subscription, timeout: float = 2.0) -> Event:
    return await asyncio.wait_for(sub.get(), timeout)


async def nothing_more(sub: Subscription, within: float = 0.1) -> None:
    with pytest.raises(TimeoutError):
        event = await asyncio.wait_for(sub.get(), within)
        pytest.fail(f"unexpected event {event}")


async def eventually(check: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# --- LocalBus -------------------------------------------------------------------------------


def test_publish_from_a_worker_thread_and_the_loop_reaches_every_subscriber_in_order() -> None:
    async def main() -> None:
        bus = LocalBus()
        first, second = bus.subscribe("c"), bus.subscribe("c")

        def from_thread() -> None:
            for n in range(50):
                bus.publish("c", {"n": n})

        await asyncio.to_thread(from_thread)
        for n in range(50, 100):
            bus.publish("c", {"n": n})
        for sub in (first, second):
            assert [(await next_event(sub))["n"] for _ in range(100)] == list(range(100))
            await nothing_more(sub, within=0.01)
        await bus.aclose()

    run(main())


def test_publish_from_a_thread_wakes_a_waiting_subscriber_at_once() -> None:
    async def main() -> None:
        bus = LocalBus()
        sub = bus.subscribe("c")

        def later() -> None:
            time.sleep(0.05)  # by then the loop is parked in select(), the reader in get()
            bus.publish("c", {"n": 1})

        started = time.monotonic()
        threading.Thread(target=later).start()
        assert await next_event(sub, timeout=1.0) == {"n": 1}
        assert time.monotonic() - started < 0.5  # woken, not found at the next timer
        await bus.aclose()

    run(main())


def test_publish_with_no_subscriber_is_a_noop_and_not_replayed_later() -> None:
    async def main() -> None:
        bus = LocalBus()
        bus.publish("c", {"n": 1})
        sub = bus.subscribe("c")
        await nothing_more(sub, within=0.01)
        await bus.aclose()

    run(main())


def test_events_are_copies_and_must_be_json() -> None:
    async def main() -> None:
        bus = LocalBus()
        sub = bus.subscribe("c")
        event: Event = {"n": 1}
        bus.publish("c", event)
        event["n"] = 2  # the publisher reuses its dict
        assert await next_event(sub) == {"n": 1}
        with pytest.raises(TypeError):  # Redis could not carry it either
            bus.publish("c", {"at": object()})
        await bus.aclose()

    run(main())


def test_closed_subscription_gets_nothing_and_a_waiting_reader_wakes() -> None:
    async def main() -> None:
        bus = LocalBus()
        sub, other = bus.subscribe("c"), bus.subscribe("c")
        waiting = asyncio.create_task(sub.get())
        await asyncio.sleep(0)
        await asyncio.to_thread(sub.close)  # close works from any thread
        sub.close()  # and twice
        with pytest.raises(SubscriptionClosed):
            await waiting
        bus.publish("c", {"n": 1})
        with pytest.raises(SubscriptionClosed):
            await sub.get()
        assert await next_event(other) == {"n": 1}
        assert [e async for e in sub] == []
        await bus.aclose()

    run(main())


def test_channels_can_be_added_and_removed_later() -> None:
    async def main() -> None:
        bus = LocalBus()
        sub = bus.subscribe("inbox")
        sub.add("conv-1")
        assert sub.channels == {"inbox", "conv-1"}
        bus.publish("conv-1", {"n": 1})
        bus.publish("conv-2", {"n": 2})
        assert await next_event(sub) == {"n": 1}
        sub.remove("conv-1")
        sub.remove("conv-1")  # idempotent
        bus.publish("conv-1", {"n": 3})
        bus.publish("inbox", {"n": 4})
        assert await next_event(sub) == {"n": 4}
        await nothing_more(sub, within=0.01)
        await bus.aclose()

    run(main())


def test_overflow_replaces_the_backlog_with_one_resync_marker() -> None:
    async def main() -> None:
        bus = LocalBus()
        sub = bus.subscribe("c", maxsize=3)
        for n in range(1000):  # a stuck consumer
            bus.publish("c", {"n": n})
        assert sub._queue.qsize() <= 3  # type: ignore[attr-defined]
        events = [await next_event(sub) for _ in range(sub._queue.qsize())]  # type: ignore[attr-defined]
        assert events[0] == {"type": "resync"}
        assert [e for e in events if e.get("type") == "resync"] == [{"type": "resync"}]
        assert [e["n"] for e in events[1:]] == list(range(1000 - len(events) + 1, 1000))
        bus.publish("c", {"n": "after"})
        assert await next_event(sub) == {"n": "after"}
        await bus.aclose()

    run(main())


def test_closing_the_bus_ends_every_subscription() -> None:
    async def main() -> None:
        bus = LocalBus()
        sub, empty = bus.subscribe("c"), bus.subscribe()
        readers = [asyncio.create_task(s.get()) for s in (sub, empty)]
        await asyncio.sleep(0)
        await bus.aclose()
        for reader in readers:
            with pytest.raises(SubscriptionClosed):
                await reader
        with pytest.raises(RuntimeError):
            bus.subscribe("c")
        bus.publish("c", {"n": 1})  # harmless after close

    run(main())


def test_make_bus_picks_redis_only_with_a_url() -> None:
    local = make_bus(None)
    assert isinstance(local, LocalBus)
    remote = make_bus(CLOSED_PORT_URL)
    assert isinstance(remote, RedisBus)
    local.close()
    remote.close()


# --- RedisBus -------------------------------------------------------------------------------


@pytest.fixture
def prefix() -> str:
    """Pub/sub ignores the database number: a prefix per test keeps runs apart."""
    return f"kefu-test-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def plain(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def numsub(client: redis.Redis, channel: str) -> int:
    return int(client.pubsub_numsub(channel)[0][1])


def with_buses(
    url: str,
    prefix: str,
    body: Callable[[RedisBus, RedisBus], Awaitable[None]],
    a_url: str | None = None,
) -> None:
    """Run `body(a, b)` with two buses standing in for two worker processes."""

    async def main() -> None:
        a, b = RedisBus(a_url or url, prefix), RedisBus(url, prefix)
        try:
            await body(a, b)
        finally:
            await a.aclose()
            await b.aclose()

    run(main())


def test_redis_delivers_another_process_events_once_and_in_order(
    redis_url: str, prefix: str
) -> None:
    async def body(a: RedisBus, b: RedisBus) -> None:
        sub = a.subscribe("conv")
        assert await sub.ready()

        def from_thread() -> None:
            for n in range(100):
                b.publish("conv", {"n": n})

        await asyncio.to_thread(from_thread)
        assert [(await next_event(sub))["n"] for _ in range(100)] == list(range(100))
        await nothing_more(sub)

    with_buses(redis_url, prefix, body)


def test_redis_delivers_a_process_own_publication_once(redis_url: str, prefix: str) -> None:
    async def body(a: RedisBus, b: RedisBus) -> None:
        first, second = a.subscribe("conv"), a.subscribe("conv")
        assert await first.ready() and await second.ready()
        a.publish("conv", {"n": 1})
        for sub in (first, second):
            assert await next_event(sub) == {"n": 1}
            await nothing_more(sub)

    with_buses(redis_url, prefix, body)


def test_redis_channels_added_later_become_live_after_ready(redis_url: str, prefix: str) -> None:
    async def body(a: RedisBus, b: RedisBus) -> None:
        sub = a.subscribe("inbox")
        sub.add("conv-1")
        assert await sub.ready()
        b.publish("conv-1", {"n": 1})
        assert await next_event(sub) == {"n": 1}
        sub.remove("conv-1")
        b.publish("conv-1", {"n": 2})
        b.publish("inbox", {"n": 3})
        assert await next_event(sub) == {"n": 3}

    with_buses(redis_url, prefix, body)


def test_redis_unsubscribes_when_the_last_local_subscription_closes(
    redis_url: str, prefix: str, plain: redis.Redis
) -> None:
    async def body(a: RedisBus, b: RedisBus) -> None:
        first, second = a.subscribe("conv"), a.subscribe("conv")
        assert await first.ready() and await second.ready()
        assert numsub(plain, prefix + "conv") == 1  # one connection per process
        first.close()
        await asyncio.sleep(0.05)
        assert numsub(plain, prefix + "conv") == 1
        second.close()
        await eventually(lambda: numsub(plain, prefix + "conv") == 0)

    with_buses(redis_url, prefix, body)


def test_redis_idle_subscriptions_need_no_task_each(redis_url: str, prefix: str) -> None:
    async def body(a: RedisBus, b: RedisBus) -> None:
        before = len(asyncio.all_tasks())
        subs = [a.subscribe(f"conv-{n}") for n in range(500)]
        assert all(await asyncio.gather(*(s.ready() for s in subs)))
        assert len(asyncio.all_tasks()) <= before + 2  # the reader, and a finished sync
        b.publish("conv-499", {"n": 1})
        assert await next_event(subs[-1]) == {"n": 1}

    with_buses(redis_url, prefix, body)


def test_redis_publish_while_unreachable_logs_once_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = RedisBus(CLOSED_PORT_URL)
    with caplog.at_level(logging.WARNING, logger="kefu.realtime.bus"):
        for n in range(20):
            bus.publish("conv", {"n": n})
        bus.close()  # waits for the publisher thread
    warnings = [r for r in caplog.records if "publishing failed" in r.getMessage()]
    assert len(warnings) == 1


def test_redis_ready_times_out_while_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        bus = RedisBus(CLOSED_PORT_URL)
        sub = bus.subscribe("conv")
        assert await sub.ready(timeout=0.2) is False
        await bus.aclose()

    with caplog.at_level(logging.WARNING, logger="kefu.realtime.bus"):
        run(main())
    assert [r for r in caplog.records if "receiving failed" in r.getMessage()]


def test_redis_reader_reconnects_after_its_connection_is_killed_and_resyncs(
    redis_url: str, prefix: str, plain: redis.Redis
) -> None:
    name = f"kefu-test-{uuid.uuid4().hex[:8]}"  # to kill this bus's connection and no other
    named_url = f"{redis_url}{'&' if '?' in redis_url else '?'}client_name={name}"

    async def body(a: RedisBus, b: RedisBus) -> None:
        sub = a.subscribe("conv")
        assert await sub.ready()
        (reader,) = [c for c in plain.client_list() if c["name"] == name and int(c["sub"])]
        plain.client_kill_filter(_id=reader["id"])
        assert await next_event(sub) == {"type": "resync"}  # sent once resubscribed
        b.publish("conv", {"n": 1})
        assert await next_event(sub) == {"n": 1}
        await nothing_more(sub)

    with_buses(redis_url, prefix, body, a_url=named_url)


def test_redis_ready_that_timed_out_is_followed_by_a_resync(redis_url: str, prefix: str) -> None:
    async def body(a: RedisBus, b: RedisBus) -> None:
        sub = a.subscribe("conv")
        assert await sub.ready(timeout=0) is False  # the SUBSCRIBE is not even sent yet
        assert await next_event(sub) == {"type": "resync"}
        assert await sub.ready()

    with_buses(redis_url, prefix, body)


def test_redis_delivers_from_a_separate_process(redis_url: str, prefix: str) -> None:
    snippet = (
        "import sys\n"
        "from kefu.realtime.bus import RedisBus\n"
        "bus = RedisBus(sys.argv[1], sys.argv[2])\n"
        "for n in range(3):\n"
        "    bus.publish('conv', {'n': n, 'from': 'child'})\n"
        "bus.close()\n"
    )

    async def main() -> None:
        bus: EventBus = RedisBus(redis_url, prefix)
        sub = bus.subscribe("conv")
        assert await sub.ready()
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", snippet, redis_url, prefix, stderr=subprocess.PIPE
        )
        _, err = await child.communicate()
        assert child.returncode == 0, err.decode()
        assert [(await next_event(sub))["n"] for _ in range(3)] == [0, 1, 2]
        await bus.aclose()

    run(main())


def test_publish_is_thread_safe(redis_url: str, prefix: str) -> None:
    async def body(a: RedisBus, b: RedisBus) -> None:
        sub = a.subscribe("conv")
        assert await sub.ready()

        def publish(worker: int) -> None:
            for n in range(25):
                b.publish("conv", {"worker": worker, "n": n})

        def publish_from_four_threads() -> None:
            threads = [threading.Thread(target=publish, args=(w,)) for w in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        await asyncio.to_thread(publish_from_four_threads)
        events = [await next_event(sub) for _ in range(100)]
        for w in range(4):  # each thread's own order is kept
            assert [e["n"] for e in events if e["worker"] == w] == list(range(25))
        await nothing_more(sub)

    with_buses(redis_url, prefix, body)
