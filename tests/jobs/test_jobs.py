"""The background-job queue: in-process without Redis, shared through Redis with it; retries
with backoff, dead letters, and a schedule that enqueues each period once across processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import redis

from kefu.analytics.alerts_webhook import WebhookFailed, deliver
from kefu.analytics.models import SentAlert
from kefu.config import Settings
from kefu.jobs.queue import QUEUE, JobQueue, JobSpec
from kefu.jobs.schedule import Periodic, Schedule
from kefu.runtime import Runtime


class Calls:
    def __init__(self, fail_times: int = 0) -> None:
        self.args: list[tuple[object, ...]] = []
        self.fail_times = fail_times
        self.lock = threading.Lock()

    def __call__(self, *args: object) -> None:
        with self.lock:
            self.args.append(args)
            if len(self.args) <= self.fail_times:
                raise RuntimeError(f"failure {len(self.args)}")


@pytest.fixture(params=["memory", "redis"])
def broker_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "memory":
        yield None
    else:
        yield request.getfixturevalue("redis_url")


def _queue(url: str | None, *specs: JobSpec, outcomes: list[tuple[str, str]] | None = None):  # type: ignore[no-untyped-def]
    record = None if outcomes is None else (lambda job, out, _s: outcomes.append((job, out)))
    return JobQueue(url, list(specs), record=record)


def test_a_job_runs_once_with_its_arguments(broker_url: str | None) -> None:
    calls = Calls()
    queue = _queue(broker_url, JobSpec("echo", calls))
    queue.start(2)
    try:
        queue.send("echo", 1, "two")
        queue.join(20)
        assert calls.args == [(1, "two")]
        assert queue.depths()[QUEUE] == 0
    finally:
        queue.stop()


def test_a_failing_job_is_retried_with_backoff_then_dead_lettered(
    broker_url: str | None,
) -> None:
    outcomes: list[tuple[str, str]] = []
    flaky, broken = Calls(fail_times=1), Calls(fail_times=99)
    queue = _queue(
        broker_url,
        JobSpec("flaky", flaky, max_retries=3, min_backoff_ms=10, max_backoff_ms=50),
        JobSpec("broken", broken, max_retries=2, min_backoff_ms=10, max_backoff_ms=50),
        outcomes=outcomes,
    )
    queue.start(1)
    try:
        queue.send("flaky", "a")
        queue.send("broken", "b")
        deadline = time.monotonic() + 30
        while queue.depths()[f"{QUEUE}.dead"] < 1 or len(flaky.args) < 2:
            assert time.monotonic() < deadline, (outcomes, queue.depths())
            time.sleep(0.05)
        assert len(flaky.args) == 2  # failed once, then succeeded
        assert len(broken.args) == 3  # the first try and two retries
        assert sorted(outcomes) == sorted(
            [
                ("flaky", "retry"),
                ("flaky", "ok"),
                ("broken", "retry"),
                ("broken", "retry"),
                ("broken", "dead"),
            ]
        )
        dead = queue.dead_letters()
        assert [(d["job"], d["args"], d["attempts"]) for d in dead] == [("broken", ["b"], 3)]
        assert dead[0]["error"].startswith("RuntimeError: failure")
    finally:
        queue.stop()


def test_a_job_over_its_time_limit_is_stopped_and_dead_lettered(broker_url: str | None) -> None:
    outcomes: list[tuple[str, str]] = []
    finished: list[bool] = []

    def stuck() -> None:
        for _ in range(100):  # Python-level steps: where the watchdog's exception lands
            time.sleep(0.05)
        finished.append(True)

    queue = _queue(
        broker_url, JobSpec("stuck", stuck, max_retries=0, time_limit_ms=300), outcomes=outcomes
    )
    queue.start(1)
    try:
        queue.send("stuck")
        deadline = time.monotonic() + 20
        while queue.depths()[f"{QUEUE}.dead"] < 1:
            assert time.monotonic() < deadline, outcomes
            time.sleep(0.05)
        assert outcomes == [("stuck", "dead")] and not finished
    finally:
        queue.stop()


def test_queues_share_one_time_limit_watchdog() -> None:
    before = threading.active_count()
    for _ in range(5):
        queue = _queue(None, JobSpec("echo", Calls()))
        queue.start(1)
        queue.stop()
    assert threading.active_count() <= before + 1  # the watchdog, started at most once


def test_jobs_sent_by_one_process_run_in_another_through_redis(redis_url: str) -> None:
    calls = Calls()
    sender = _queue(redis_url, JobSpec("echo", calls))  # enqueues only: no threads
    consumer = _queue(redis_url, JobSpec("echo", calls))
    consumer.start(1)
    try:
        for n in range(5):
            sender.send("echo", n)
        deadline = time.monotonic() + 20
        while len(calls.args) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert sorted(a[0] for a in calls.args) == [0, 1, 2, 3, 4]  # type: ignore[type-var]
    finally:
        consumer.stop()
        sender.stop()


def test_a_period_is_enqueued_once_however_many_processes_schedule_it(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    sent: list[str] = []
    now = [1_000_000.0]
    entries = [Periodic("refresh", 60, (1,)), Periodic("purge", 3600)]
    schedules = [
        Schedule(entries, lambda job, *a: sent.append(job), client, clock=lambda: now[0])
        for _ in range(3)
    ]
    for s in schedules:
        s.tick()
    assert sorted(sent) == ["purge", "refresh"]
    for s in schedules:  # same period: nothing more
        s.tick()
    assert len(sent) == 2
    now[0] += 60  # next minute: refresh again, not purge
    for s in schedules:
        s.tick()
    assert sorted(sent) == ["purge", "refresh", "refresh"]
    client.close()


def test_a_period_that_could_not_be_enqueued_is_tried_again() -> None:
    sent: list[str] = []
    down = [True]

    def send(job: str, *args: object) -> None:
        if down[0]:
            raise redis.ConnectionError("Redis is restarting")
        sent.append(job)

    schedule = Schedule([Periodic("refresh", 60)], send, None, clock=lambda: 120.0)
    assert schedule.tick() == []
    down[0] = False
    assert schedule.tick() == ["refresh"]
    assert schedule.tick() == []


def test_the_server_queues_and_runs_its_jobs_in_process(runtime: Runtime) -> None:
    from kefu.jobs import Jobs

    jobs = Jobs(runtime, threads=0).start(schedule=False)  # embedded: one thread regardless
    try:
        assert runtime.jobs is jobs
        jobs.send("analytics.refresh", runtime.tenant.id)
        jobs.send("retention.purge")
        jobs.queue.join(60)
        assert jobs.depths() == {QUEUE: 0, f"{QUEUE}.delayed": 0, f"{QUEUE}.dead": 0}
    finally:
        jobs.stop()
    assert runtime.jobs is None


def test_the_webhook_job_posts_an_alert_once_and_raises_to_be_retried(
    runtime: Runtime, settings: Settings
) -> None:
    hook = settings.model_copy(update={"analytics_webhook_url": "http://hooks.example/kefu"})
    with runtime.sessions.begin() as session:
        alert = SentAlert(
            tenant_id=runtime.tenant.id,
            key="place:国贸:2026-11-24:8",
            payload={"type": "kefu.hot_topic"},
            status="pending",
            attempts=0,
            created_at=datetime.now(UTC),
        )
        session.add(alert)
        session.flush()
        alert_id = alert.id
    statuses = [503, 200]
    posted: list[bytes] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        posted.append(request.content)
        return httpx.Response(statuses.pop(0))

    client = httpx.Client(transport=httpx.MockTransport(endpoint))
    tenant = runtime.tenant.id
    with pytest.raises(WebhookFailed, match="HTTP 503"):
        deliver(runtime.engine, tenant, alert_id, hook, client=client)
    sent = deliver(runtime.engine, tenant, alert_id, hook, client=client)  # the retry
    assert sent is not None and sent.status == "sent" and sent.attempts == 2
    assert deliver(runtime.engine, tenant, alert_id, hook, client=client) is None  # done
    assert len(posted) == 2
