"""Gauges read at scrape time, from the database and the job broker, not counted as they change:
the numbers then agree whichever worker is scraped, and a restart loses nothing.

A failed read leaves its gauge out of that scrape (logged) instead of failing /metrics: the
scrape is how an operator finds out the database is in trouble.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from kefu.handoff.models import Handoff, HandoffStatus

if TYPE_CHECKING:
    from kefu.runtime import Runtime

log = logging.getLogger(__name__)


class RuntimeCollector:
    """`kefu_handoffs_waiting` and `kefu_job_queue_depth{queue}` for one runtime (tenant)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        waiting = self._waiting()
        if waiting is not None:
            yield GaugeMetricFamily(
                "kefu_handoffs_waiting",
                "Customers in the queue for a human agent now.",
                value=waiting,
            )
        depths = self._depths()
        if depths:
            family = GaugeMetricFamily(
                "kefu_job_queue_depth",
                "Background jobs waiting, by queue (a name ending in .dead: dead letters).",
                labels=("queue",),
            )
            for queue, count in sorted(depths.items()):
                family.add_metric((queue,), count)
            yield family

    def _waiting(self) -> int | None:
        try:
            with self.runtime.conversations.reads() as session:
                count = session.scalar(
                    select(func.count())
                    .select_from(Handoff)
                    .where(
                        Handoff.tenant_id == self.runtime.tenant.id,
                        Handoff.status == HandoffStatus.QUEUED,
                    )
                )
            return int(count or 0)
        except Exception as exc:  # a metrics scrape must survive a database outage
            log.warning("metrics: could not count waiting handoffs: %s", exc)
            return None

    def _depths(self) -> dict[str, int]:
        jobs = getattr(self.runtime, "jobs", None)
        depths = getattr(jobs, "depths", None)
        if not callable(depths):
            return {}
        try:
            found = depths()
            return {str(queue): int(count) for queue, count in dict(found).items()}
        except Exception as exc:  # the broker may be down: no sample, not a failed scrape
            log.warning("metrics: could not read the job queue depths: %s", exc)
            return {}
