"""kefu's background jobs, what they do, and the process-side wiring (`Jobs`).

Jobs (all idempotent: a job run twice, or redelivered after its worker died, does no harm):
- `analytics.refresh(tenant)`: bring the rollups up to date; then queue the alert check.
- `analytics.alerts(tenant)`: record new hot-topic spikes; queue a webhook post for each due.
- `webhook.hot_topic(tenant, alert)`: post one alert; a failed post is retried by the queue with
  backoff and dead-lettered when out of attempts (its row says `failed`, with the last error).
- `retention.purge()`: anonymise or delete what is past its retention.
- `training.run(tenant, run)`: a console retraining.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kefu.analytics.alerts_webhook import MAX_ATTEMPTS
from kefu.jobs.queue import JobQueue, JobSpec
from kefu.jobs.schedule import Periodic, Schedule

if TYPE_CHECKING:
    from kefu.runtime import Runtime

log = logging.getLogger("kefu.jobs")
HOUR_MS = 3_600_000
# On shutdown, how long running jobs get to finish before their messages are left to another
# process (on Redis) or the next schedule.
JOBS_GRACE_S = 10.0


def job_specs(runtime: Runtime, send: Callable[..., None]) -> list[JobSpec]:
    settings = runtime.settings
    engine = runtime.engine
    tz = ZoneInfo(settings.timezone)

    def analytics_refresh(tenant_id: int) -> None:
        from kefu.analytics.refresh import refresh

        try:
            refresh(engine, tenant_id, tz)
        finally:  # alerts read the rollups as they are, refreshed or not
            if settings.analytics_webhook_url:
                send("analytics.alerts", tenant_id)

    def analytics_alerts(tenant_id: int) -> None:
        from kefu.analytics.alerts_webhook import FAILED, record_due

        for alert in record_due(engine, tenant_id, tz, settings, now=datetime.now(UTC)):
            # A failed post is the queue's to retry, with backoff; new ones and those whose
            # poster died are queued here.
            if alert.status != FAILED:
                send("webhook.hot_topic", tenant_id, alert.id)

    def hot_topic_webhook(tenant_id: int, alert_id: int) -> None:
        from kefu.analytics.alerts_webhook import deliver

        alert = deliver(engine, tenant_id, alert_id, settings)
        if alert is not None:
            log.info("hot topic %s: webhook sent", alert.key)

    def retention_purge() -> None:
        from kefu.privacy import retention

        for r in retention.purge_all(runtime.system_sessions, pii=runtime.pii):
            if r.conversations:
                log.info(
                    "retention: %s %d conversations of tenant %s", r.mode, r.conversations, r.tenant
                )

    def training_run(tenant_id: int, run_id: int) -> None:
        runtime.training.execute(tenant_id, run_id)

    return [
        JobSpec("analytics.refresh", analytics_refresh, max_retries=2, time_limit_ms=2 * HOUR_MS),
        JobSpec("analytics.alerts", analytics_alerts, max_retries=2),
        # A webhook that is down gets MAX_ATTEMPTS tries over several minutes, then the job
        # is dead-lettered (and the alert's row says failed, with the last error).
        JobSpec(
            "webhook.hot_topic",
            hot_topic_webhook,
            max_retries=MAX_ATTEMPTS - 1,
            min_backoff_ms=10_000,
            max_backoff_ms=300_000,
        ),
        JobSpec("retention.purge", retention_purge, max_retries=2, time_limit_ms=2 * HOUR_MS),
        # A failed training is recorded on its run and is not worth repeating by itself.
        # Its time limit stays under the 30 minutes after which a run counts as interrupted.
        JobSpec("training.run", training_run, max_retries=0, time_limit_ms=25 * 60_000),
    ]


def periodic(runtime: Runtime) -> list[Periodic]:
    settings = runtime.settings
    return [
        Periodic("analytics.refresh", settings.analytics_refresh_seconds, (runtime.tenant.id,)),
        Periodic("retention.purge", settings.retention_interval_minutes * 60),
    ]


class Jobs:
    """One process's part in the job system: it enqueues (the schedule, retraining), and
    consumes on `threads` threads. Embedded mode (no Redis) always consumes, on at least two
    threads (so a retraining doesn't wait behind a long rollup), started when the first job is
    queued."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        threads: int | None = None,
        record: Callable[[str, str, float], None] | None = None,
    ) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.threads = settings.jobs_threads if threads is None else threads
        self.queue = JobQueue(settings.redis_url, job_specs(runtime, self.send), record=record)
        self.schedule = Schedule(periodic(runtime), self.send, runtime.redis)

    def start(self, *, schedule: bool = True) -> Jobs:
        self.runtime.jobs = self
        self.runtime.training.dispatch = self._dispatch_training
        if self.queue.distributed:
            self.queue.start(self.threads)
        if schedule:
            self.schedule.start()
        return self

    def send(self, name: str, *args: Any) -> None:
        if not self.queue.distributed:
            self.queue.start(max(2, self.threads))
        self.queue.send(name, *args)

    def _dispatch_training(self, tenant_id: int, run_id: int) -> None:
        self.send("training.run", tenant_id, run_id)

    def depths(self) -> dict[str, int]:
        return self.queue.depths()

    def stop(self, timeout_s: float = 10.0) -> None:
        self.schedule.stop()
        self.queue.stop(timeout_s)
        if self.runtime.jobs is self:
            self.runtime.jobs = None
            self.runtime.training.dispatch = None
