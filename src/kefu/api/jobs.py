"""Scheduled work inside the server process (embedded mode): the retention purge and the
analytics rollups.

Runs on a worker thread so the event loop keeps serving. Every kefu process runs it; a run is
idempotent and works in small transactions, so two processes overlapping cost only time.
(Issue 9 moves scheduled jobs onto a Redis-backed queue for multi-worker deployments.)
"""

from __future__ import annotations

import asyncio
import logging
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool

from kefu.privacy import retention
from kefu.runtime import Runtime

log = logging.getLogger("kefu.jobs")
FIRST_RUN_DELAY_S = 60.0


async def retention_loop(runtime: Runtime, interval_s: float) -> None:
    await asyncio.sleep(min(FIRST_RUN_DELAY_S, interval_s))
    while True:
        try:
            results = await run_in_threadpool(
                retention.purge_all, runtime.system_sessions, pii=runtime.pii
            )
            for r in results:
                if r.conversations:
                    log.info(
                        "retention: %s %d conversations of tenant %s",
                        r.mode,
                        r.conversations,
                        r.tenant,
                    )
        except Exception:  # keep the schedule alive; the next run retries
            log.exception("retention run failed")
        await asyncio.sleep(interval_s)


async def analytics_loop(runtime: Runtime, interval_s: float) -> None:
    """Keep the dashboard's rollups fresh (each run reads only what changed since the last),
    then post new hot-topic spikes to the webhook, if one is configured."""
    from kefu.analytics.alerts_webhook import check_and_notify
    from kefu.analytics.refresh import refresh

    settings = runtime.settings
    tz = ZoneInfo(settings.timezone)
    await asyncio.sleep(min(FIRST_RUN_DELAY_S, interval_s))
    while True:
        try:
            await run_in_threadpool(refresh, runtime.engine, runtime.tenant.id, tz)
        except Exception:  # keep the schedule alive; the next run retries
            log.exception("analytics refresh failed")
        if settings.analytics_webhook_url:
            try:  # alerts read the rollups as they are, refreshed or not
                sent = await run_in_threadpool(
                    check_and_notify, runtime.engine, runtime.tenant.id, tz, settings
                )
                for alert in sent:
                    log.info("hot topic %s: webhook %s", alert.key, alert.status)
            except Exception:
                log.exception("hot-topic alert check failed")
        await asyncio.sleep(interval_s)
