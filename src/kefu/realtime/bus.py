"""The event bus: publish a notification on a channel; every subscription to it, in this process
or (with Redis) in another, receives it.

Delivery is best effort by design: the database is the record, the bus only says "look again".
A subscriber that may have missed events gets `{"type": "resync"}` and refills from the
database: after its queue overflowed, after the Redis connection came back, and after a
`ready()` that timed out. So consumers tolerate duplicates (dedupe by seq or id) and treat
events as read-only (local subscribers share one decoded dict).

A WebSocket handler: `sub = bus.subscribe(channel)`, `await sub.ready()`, read what it missed
from the database, then forward `await sub.get()` (or `async for event in sub`); `sub.close()`
in a `finally`. A subscription belongs to the event loop it was made in; `publish` and `close`
work from any thread. `publish` never raises for Redis trouble (it logs and drops); it raises
TypeError for an event JSON cannot carry, in both buses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

Event = dict[str, Any]  # JSON-serialisable
BACKOFF_S = (0.1, 5.0)  # reader reconnect delay: first, then doubling up to this
WARN_EVERY_S = 60.0  # a flapping Redis logs at most one warning a minute
OUTBOX_SIZE = 10_000  # events waiting for the publisher thread; beyond it they are dropped


def resync() -> Event:
    return {"type": "resync"}


class SubscriptionClosed(RuntimeError):
    """`Subscription.get()` after the subscription or its bus was closed."""


class Subscription(Protocol):
    @property
    def channels(self) -> frozenset[str]: ...
    async def get(self) -> Event: ...  # waits for the next event
    def __aiter__(self) -> AsyncIterator[Event]: ...  # ends when closed
    def add(self, channel: str) -> None: ...
    def remove(self, channel: str) -> None: ...
    async def ready(self, timeout: float | None = 5.0) -> bool: ...
    def close(self) -> None: ...  # idempotent; unsubscribes


class EventBus(Protocol):
    def publish(self, channel: str, event: Event) -> None: ...
    def subscribe(self, *channels: str, maxsize: int = 1000) -> Subscription: ...
    async def aclose(self) -> None: ...
    def close(self) -> None: ...


_CLOSED: Event = {"type": "closed"}  # queue sentinel, compared by identity


class _Subscription:
    """A bounded queue bound to the subscriber's loop; no task of its own, so idle ones are
    cheap. Its queue is only touched in the loop's thread."""

    def __init__(self, hub: _Hub, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.hub, self.loop = hub, asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.channels: frozenset[str] = frozenset()
        self.closed = False
        self.resync_pending = False  # RedisBus: owe a resync once every channel is confirmed

    async def get(self) -> Event:
        event = _CLOSED if self.closed else await self._queue.get()
        if event is _CLOSED:
            raise SubscriptionClosed("subscription closed")
        return event

    async def __aiter__(self) -> AsyncIterator[Event]:
        with contextlib.suppress(SubscriptionClosed):
            while True:
                yield await self.get()

    def add(self, channel: str) -> None:
        if not self.closed and channel not in self.channels:
            self.hub.add(self, channel)

    def remove(self, channel: str) -> None:
        if channel in self.channels:
            self.hub.remove(self, channel)

    async def ready(self, timeout: float | None = 5.0) -> bool:
        """True once every channel is live (Redis confirmed the SUBSCRIBE): anything published
        from then on arrives. False after `timeout`; a resync then follows once live."""
        return await self.hub.wait_ready(self, timeout)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.hub.forget(self)
            self.call_in_loop(self._replace_all, _CLOSED)

    def call_in_loop(self, fn: Callable[..., object], *args: Any) -> None:
        if threading.get_ident() == self._thread:
            fn(*args)
        else:
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is left to read
                self.loop.call_soon_threadsafe(fn, *args)

    def put(self, event: Event, channel: str | None = None) -> None:
        if self.closed or (channel is not None and channel not in self.channels):
            return  # closed or unsubscribed since the event was scheduled
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            # A stuck consumer: what it holds is stale once it refills from the database, so one
            # resync marker replaces it all and memory stays bounded.
            self._replace_all(resync())

    def _replace_all(self, event: Event) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(event)


class _Hub:
    """Local fan-out shared by both buses: channel -> live subscriptions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # subscriptions change in the loop; publish reads anywhere
        self._subs: dict[str, set[_Subscription]] = {}
        self._all: set[_Subscription] = set()  # with or without channels, to close them all
        self._closed = False

    def subscribe(self, *channels: str, maxsize: int = 1000) -> Subscription:
        if self._closed:
            raise RuntimeError("event bus closed")
        sub = _Subscription(self, maxsize)
        self._attach(sub)
        with self._lock:
            self._all.add(sub)
        for channel in channels:
            sub.add(channel)
        return sub

    def add(self, sub: _Subscription, channel: str) -> None:
        with self._lock:
            sub.channels |= {channel}
            first = channel not in self._subs
            self._subs.setdefault(channel, set()).add(sub)
        if first:
            self._wanted_changed(sub)

    def remove(self, sub: _Subscription, channel: str) -> None:
        with self._lock:
            sub.channels -= {channel}
            subs = self._subs.get(channel, set())
            subs.discard(sub)
            last = not subs and self._subs.pop(channel, None) is not None
        if last:
            self._wanted_changed(sub)

    def forget(self, sub: _Subscription) -> None:
        for channel in sub.channels:
            self.remove(sub, channel)
        with self._lock:
            self._all.discard(sub)

    def _snapshot(self, channel: str | None = None) -> list[_Subscription]:
        with self._lock:
            return list(self._all if channel is None else self._subs.get(channel, ()))

    def _attach(self, sub: _Subscription) -> None:
        """A new subscription, before its channels are added."""

    def _wanted_changed(self, sub: _Subscription) -> None:
        """A channel got its first subscriber or lost its last one."""

    async def wait_ready(self, sub: _Subscription, timeout: float | None) -> bool:
        return not sub.closed

    def _close_subscriptions(self) -> None:
        self._closed = True
        for sub in self._snapshot():
            sub.close()


class LocalBus(_Hub):
    """In-process fan-out: embedded mode, one worker process."""

    def publish(self, channel: str, event: Event) -> None:
        data = json.dumps(event)  # so an event Redis could not carry fails in embedded mode too
        if subs := self._snapshot(channel):
            shared = json.loads(data)  # a copy: the publisher may reuse its dict
            for sub in subs:
                sub.call_in_loop(sub.put, shared, channel)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        self._close_subscriptions()


class RedisBus(_Hub):
    """Redis pub/sub between worker processes. A process hears its own publications back from
    Redis, which is how its local subscribers get them (once). Receiving takes one connection
    and one reader task per process, in the loop of the first subscription, which all others
    share. Pub/sub ignores the database number: deployments sharing a server need prefixes."""

    def __init__(self, url: str, prefix: str = "kefu:") -> None:
        super().__init__()
        self._url, self._prefix = url, prefix
        self._publisher = _Publisher(url)
        self._outage = _Outage("event bus: receiving")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: asyncio.Task[None] | None = None
        self._syncer: asyncio.Task[None] | None = None
        self._pubsub: aioredis.client.PubSub | None = None
        self._requested: set[str] = set()  # SUBSCRIBE sent on the current connection
        self._confirmed: set[str] = set()  # ... and confirmed by Redis
        self._waiters: list[asyncio.Future[None]] = []

    def publish(self, channel: str, event: Event) -> None:
        self._publisher.put(self._prefix + channel, json.dumps(event))

    def _attach(self, sub: _Subscription) -> None:
        if self._reader and not self._reader.done() and self._loop and not self._loop.is_closed():
            if sub.loop is not self._loop:
                raise RuntimeError("all subscriptions of a RedisBus must share one event loop")
            return
        self._loop = sub.loop
        self._reader = sub.loop.create_task(self._read(), name="kefu-event-bus-reader")

    def _wanted_changed(self, sub: _Subscription) -> None:
        sub.call_in_loop(self._request_sync)

    async def wait_ready(self, sub: _Subscription, timeout: float | None) -> bool:
        live = False
        try:
            async with asyncio.timeout(timeout):
                while not sub.closed and not sub.channels <= self._confirmed:
                    waiter = asyncio.get_running_loop().create_future()
                    self._waiters.append(waiter)
                    await waiter
            live = not sub.closed
        except TimeoutError:
            pass
        finally:  # timed out or cancelled: the caller goes on without us, so tell it when live
            if not live and not sub.channels <= self._confirmed:
                sub.resync_pending = True
        return live

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _request_sync(self) -> None:
        if self._closed or self._pubsub is None or self._loop is None:
            return  # closing; or disconnected, and the reader subscribes all when reconnected
        if self._syncer is None or self._syncer.done():
            self._syncer = self._loop.create_task(self._sync())

    async def _sync(self) -> None:
        """Bring the connection's channels in line with what local subscribers want: one task
        at a time, looping until nothing changed while it awaited."""
        while (pubsub := self._pubsub) is not None:
            with self._lock:
                wanted = set(self._subs)
            add, drop = wanted - self._requested, self._requested - wanted
            if not add and not drop:
                return
            self._requested = wanted
            self._confirmed -= drop
            try:
                if add:
                    await pubsub.subscribe(*(self._prefix + c for c in add))
                if drop:
                    await pubsub.unsubscribe(*(self._prefix + c for c in drop))
            except Exception:  # broken connection: make sure the reader notices and starts over
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _read(self) -> None:
        # No retries inside redis-py: this loop reconnects and knows to resubscribe and resync.
        client = aioredis.Redis.from_url(self._url, retry=AsyncRetry(NoBackoff(), 0))
        delay, lost = BACKOFF_S[0], False
        try:
            while True:
                pubsub = client.pubsub()
                try:
                    await pubsub.connect()  # type: ignore[no-untyped-call]
                    self._pubsub, self._requested, self._confirmed = pubsub, set(), set()
                    if lost:  # everyone may have missed events: resync once their channels are live
                        for sub in self._snapshot():
                            sub.resync_pending = True
                    delay, lost = BACKOFF_S[0], False
                    self._outage.recovered()
                    self._request_sync()
                    while True:
                        if message := await pubsub.get_message(timeout=None):
                            self._dispatch(message)
                except Exception as exc:
                    lost = True
                    self._outage.failed(exc)
                finally:
                    self._pubsub, self._requested, self._confirmed = None, set(), set()
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_S[1])
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind, raw = message["type"], message["channel"]
        channel = raw.decode()[len(self._prefix) :] if isinstance(raw, bytes) else ""
        if kind == "message":
            try:
                event = json.loads(message["data"])
            except ValueError:
                event = None
            if not isinstance(event, dict):
                log.warning("event bus: ignoring a message that is not a JSON object on %r", raw)
                return
            for sub in self._snapshot(channel):
                sub.put(event, channel)
        elif kind == "subscribe":
            self._confirmed.add(channel)
            for sub in self._snapshot(channel):
                if sub.resync_pending and sub.channels <= self._confirmed:
                    sub.resync_pending = False
                    sub.put(resync())
            self._wake_waiters()
        elif kind == "unsubscribe":
            self._confirmed.discard(channel)

    async def aclose(self) -> None:
        tasks = self._stop()
        here = asyncio.get_running_loop()
        await asyncio.gather(*(t for t in tasks if t.get_loop() is here), return_exceptions=True)
        await asyncio.to_thread(self._publisher.close)

    def close(self) -> None:
        self._stop()
        self._publisher.close()

    def _stop(self) -> list[asyncio.Task[None]]:
        self._close_subscriptions()
        tasks = [t for t in (self._syncer, self._reader) if t is not None and not t.done()]
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: its tasks are gone already
                for task in tasks:
                    self._loop.call_soon_threadsafe(task.cancel)
                self._loop.call_soon_threadsafe(self._wake_waiters)
        return tasks


class _Publisher:
    """PUBLISH from one background thread, in call order, so `publish()` never waits on Redis:
    not in a request thread, and above all not in the event loop."""

    def __init__(self, url: str) -> None:
        # Short timeouts, no retries: a notification late by seconds is worth no more than none.
        self._client = redis.Redis.from_url(
            url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        self._outbox: queue.Queue[tuple[str, str] | None] = queue.Queue(OUTBOX_SIZE)
        self._outage = _Outage("event bus: publishing")
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def put(self, channel: str, data: str) -> None:
        with self._lock:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kefu-bus-pub", daemon=True)
                self._thread.start()
        try:
            self._outbox.put_nowait((channel, data))
        except queue.Full:
            self._outage.failed("too many events waiting", dropped=1)

    def _run(self) -> None:
        while (item := self._outbox.get()) is not None:
            batch = [item]  # send what piled up in one round trip
            while len(batch) < 100 and not self._outbox.empty():
                if (item := self._outbox.get_nowait()) is None:
                    break
                batch.append(item)
            try:
                pipe = self._client.pipeline(transaction=False)
                for channel, data in batch:
                    pipe.publish(channel, data)
                pipe.execute()
            except Exception as exc:  # the thread must survive anything
                self._outage.failed(exc, dropped=len(batch))
            else:
                self._outage.recovered()
            if item is None:
                return

    def close(self) -> None:
        """Send what is waiting, briefly: an unreachable Redis must not hold up shutdown."""
        with self._lock:
            self._closed, thread = True, self._thread
        if thread is not None:
            with contextlib.suppress(queue.Full):
                self._outbox.put(None, timeout=1.0)
            thread.join(timeout=2.0)
        self._client.close()


class _Outage:
    """One warning when Redis becomes unreachable (at most one a minute), one note when back."""

    def __init__(self, what: str) -> None:
        self._what, self._lock = what, threading.Lock()
        self._down, self._dropped, self._warned_at = False, 0, -WARN_EVERY_S

    def failed(self, error: object, dropped: int = 0) -> None:
        with self._lock:
            self._dropped += dropped
            warn = not self._down and time.monotonic() - self._warned_at >= WARN_EVERY_S
            self._down = True
            if warn:
                self._warned_at = time.monotonic()
        if warn:
            log.warning("%s failed; events are dropped until Redis is back: %s", self._what, error)

    def recovered(self) -> None:
        if self._down:  # unlocked read first: this runs on every successful send
            with self._lock:
                self._down, dropped, self._dropped = False, self._dropped, 0
            log.info("%s works again (%d events dropped meanwhile)", self._what, dropped)


def make_bus(redis_url: str | None) -> EventBus:
    """RedisBus when a URL is given, else LocalBus. Pub/sub ignores Redis's database number,
    so the channel prefix carries it: deployments kept apart by database stay apart here too."""
    if not redis_url:
        return LocalBus()
    db = redis.connection.parse_url(redis_url).get("db", 0)  # type: ignore[no-untyped-call]
    return RedisBus(redis_url, prefix=f"kefu:{db}:")
