"""The background-job queue: dramatiq, on Redis when KEFU_REDIS_URL is set, else in-process.

Why dramatiq: it is a small, actively maintained, thread-based queue (our jobs are synchronous
database and CPU work), with retries with exponential backoff, dead-letter queues, and a Redis
broker that re-delivers a dead worker's unacknowledged messages, all built in. arq is
asyncio-only and keeps no dead letters; Celery brings a scheduler, a result backend and several
packages kefu doesn't need, and its prefork pool would load the models again per child.

The same actors run either way. In embedded mode the broker is dramatiq's in-memory one, and
the consumer threads live in the server process: nothing to install, nothing to run. With Redis,
any kefu process (server or `kefu worker`) can enqueue and consume; a job survives the process
that enqueued it.

Nothing of value lives only in the queue: the database is the record (training runs, alerts,
rollup watermarks), so a lost message (Redis restarted without persistence) costs a delay, and
the schedule or the next check enqueues it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Retries, ShutdownNotifications, TimeLimit

log = logging.getLogger("kefu.jobs")

QUEUE = "kefu"
NAMESPACE = "kefu-jobs"

# One time-limit watchdog per process, shared by every queue: dramatiq's runs a thread that
# never stops, started by the "process_boot" event that dramatiq's own launcher would send.
_TIME_LIMIT = TimeLimit()
_booted = threading.Lock()
_boot_done = False


def _boot_time_limit(broker: dramatiq.Broker) -> None:
    global _boot_done
    with _booted:
        if not _boot_done:
            _TIME_LIMIT.after_process_boot(broker)  # type: ignore[no-untyped-call]
            _boot_done = True


@dataclass(frozen=True)
class JobSpec:
    """One kind of job: its function and how hard to try."""

    name: str
    fn: Callable[..., Any]
    max_retries: int = 3
    min_backoff_ms: int = 1_000
    max_backoff_ms: int = 60_000
    time_limit_ms: int = 15 * 60_000


class Outcomes(dramatiq.Middleware):
    """Counts and logs each job's outcome: ok, retry, or dead (out of retries: dead-lettered)."""

    def __init__(self, record: Callable[[str, str, float], None] | None) -> None:
        self.record = record
        self.started: dict[str, float] = {}

    def before_process_message(self, broker: Any, message: Any) -> None:
        self.started[message.message_id] = time.perf_counter()

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        seconds = time.perf_counter() - self.started.pop(message.message_id, time.perf_counter())
        if exception is None:
            outcome = "ok"
        else:
            outcome = "dead" if message.failed else "retry"
            log.log(
                logging.ERROR if message.failed else logging.WARNING,
                "job %s %s failed (attempt %d): %s; %s",
                message.actor_name,
                message.message_id,
                message.options.get("retries", 0),
                exception,
                "dead-lettered" if message.failed else "will retry",
            )
        if self.record is not None:
            self.record(message.actor_name, outcome, seconds)

    def after_skip_message(self, broker: Any, message: Any) -> None:
        self.started.pop(message.message_id, None)


class JobQueue:
    """Declares the jobs on a broker, sends them, and (`start`) consumes them on threads."""

    def __init__(
        self,
        redis_url: str | None,
        jobs: list[JobSpec],
        *,
        record: Callable[[str, str, float], None] | None = None,
    ) -> None:
        # "after" hooks run in reverse order: Outcomes sees what Retries decided.
        middleware = [
            Outcomes(record),
            AgeLimit(),
            _TIME_LIMIT,
            ShutdownNotifications(),
            Retries(max_retries=3),
        ]
        self.redis_url = redis_url
        self.broker: dramatiq.Broker
        if redis_url:
            self.broker = RedisBroker(  # type: ignore[no-untyped-call]
                url=redis_url,
                namespace=NAMESPACE,
                middleware=middleware,
                socket_timeout=5,
                socket_connect_timeout=3,
            )
        else:
            self.broker = StubBroker(middleware=middleware)
        self.actors: dict[str, dramatiq.Actor[Any, Any]] = {}
        for spec in jobs:
            self.actors[spec.name] = dramatiq.Actor(
                spec.fn,
                broker=self.broker,
                actor_name=spec.name,
                queue_name=QUEUE,
                priority=0,
                options={
                    "max_retries": spec.max_retries,
                    "min_backoff": spec.min_backoff_ms,
                    "max_backoff": spec.max_backoff_ms,
                    "time_limit": spec.time_limit_ms,
                },
            )
        self._worker: dramatiq.Worker | None = None

    @property
    def distributed(self) -> bool:
        return self.redis_url is not None

    def send(self, name: str, *args: Any, delay_ms: int | None = None) -> None:
        """Enqueue a job. Raises redis.RedisError when Redis can't take it."""
        actor = self.actors[name]
        if delay_ms:
            actor.send_with_options(args=args, delay=delay_ms)
        else:
            actor.send(*args)

    def start(self, threads: int) -> None:
        """Consume jobs on `threads` threads of this process (0: none, only enqueue)."""
        if threads <= 0 or self._worker is not None:
            return
        _boot_time_limit(self.broker)
        # worker_timeout: how often idle threads look up from the queue (ms); it bounds
        # shutdown and how soon a delayed retry runs.
        self._worker = dramatiq.Worker(self.broker, worker_threads=threads, worker_timeout=500)
        self._worker.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop consuming: jobs running get `timeout_s` to finish; unfinished ones stay queued
        (on Redis, another process takes them up after the heartbeat timeout)."""
        if self._worker is not None:
            self._worker.stop(timeout=int(timeout_s * 1000))
            self._worker = None
        self.broker.close()

    def join(self, timeout_s: float = 30.0) -> None:
        """Until every queued job has run (tests, and `kefu jobs run --wait`)."""
        if isinstance(self.broker, StubBroker):
            self.broker.join(QUEUE, timeout=int(timeout_s * 1000), fail_fast=False)
        else:
            self.broker.join(QUEUE, timeout=int(timeout_s * 1000))
        if self._worker is not None:
            self._worker.join()

    def depths(self) -> dict[str, int]:
        """Waiting, delayed (retries) and dead-lettered messages per queue."""
        if isinstance(self.broker, StubBroker):
            waiting = self.broker.queues.get(QUEUE)
            delayed = self.broker.queues.get(f"{QUEUE}.DQ")
            return {
                QUEUE: waiting.qsize() if waiting else 0,
                f"{QUEUE}.delayed": delayed.qsize() if delayed else 0,
                f"{QUEUE}.dead": len(self.broker.dead_letters_by_queue.get(QUEUE, [])),
            }
        client: redis.Redis = self.broker.client  # type: ignore[attr-defined]
        prefix = f"{NAMESPACE}:{QUEUE}"
        with client.pipeline(transaction=False) as pipe:
            pipe.llen(prefix)
            pipe.llen(f"{prefix}.DQ")
            pipe.zcard(f"{prefix}.XQ")
            waiting, delayed, dead = pipe.execute()
        return {QUEUE: waiting, f"{QUEUE}.delayed": delayed, f"{QUEUE}.dead": dead}

    def dead_letters(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest dead-lettered jobs: name, arguments, attempts, when, last error."""
        messages: list[Any]
        # Redis keeps a dead message as it was last queued: one attempt, and the last
        # error, behind the in-memory broker's copy.
        stored_before_last_try = not isinstance(self.broker, StubBroker)
        if isinstance(self.broker, StubBroker):
            messages = list(self.broker.dead_letters_by_queue.get(QUEUE, []))[-limit:]
        else:
            client: redis.Redis = self.broker.client  # type: ignore[attr-defined]
            key = f"{NAMESPACE}:{QUEUE}.XQ"
            ids: list[bytes] = list(client.zrevrange(key, 0, limit - 1))  # type: ignore[arg-type]
            raw: list[Any] = list(client.hmget(f"{key}.msgs", ids)) if ids else []
            messages = [dramatiq.Message.decode(r) for r in raw if r]
        out = []
        for m in messages:
            options = m.options
            out.append(
                {
                    "job": m.actor_name,
                    "args": list(m.args),
                    "attempts": options.get("retries", 0) + int(stored_before_last_try),
                    "enqueued_at": m.message_timestamp,
                    "error": ((options.get("traceback") or "").strip().splitlines() or [""])[-1],
                }
            )
        return out
