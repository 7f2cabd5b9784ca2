"""Prometheus metrics: the families, the calls that record into them, and the exposition.

The families are made on first use, not at import: `prometheus_client` picks in-process or
file-backed values when it is imported, and a pre-forking server must call
`prepare_multiprocess` before that happens. They live in a registry of their own (not the
library's global one), so nothing else's metrics leak into /metrics and tests can rebuild them.

Labels are bounded sets only: route templates (never raw paths), stage and event names, job
names and outcomes.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.registry import Collector, CollectorRegistry

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds. Requests: the message path's target is p95 <= 150 ms, so buckets crowd around it.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Model stages take well under a millisecond to tens of milliseconds on a CPU.
MODEL_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0)


class Families:
    """Every metric kefu records (the scrape-time gauges are in `kefu.observability.collectors`)."""

    def __init__(self) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
        )

        disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` series would double the scrape for nothing
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "kefu_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "route", "status"),
            registry=r,
        )
        self.http_seconds = Histogram(
            "kefu_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template.",
            ("method", "route"),
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.websockets = Gauge(
            "kefu_websocket_connections",
            "WebSocket connections open now (customers and agents).",
            multiprocess_mode="livesum",  # summed over the workers alive
            registry=r,
        )
        self.messages = Counter(
            "kefu_messages",
            "Customer messages answered, by the bot's decision (answer, flow, handoff, ...).",
            ("decision",),
            registry=r,
        )
        self.model_seconds = Histogram(
            "kefu_model_seconds",
            "Time in each model stage of understanding a message, and the whole turn.",
            ("stage",),
            buckets=MODEL_BUCKETS,
            registry=r,
        )
        self.handoffs = Counter(
            "kefu_handoffs",
            "Handoff events: queued, assigned, transferred, returned (to the bot), closed.",
            ("event",),
            registry=r,
        )
        self.jobs = Counter(
            "kefu_jobs",
            "Background jobs run, by job and outcome (ok, retry, dead).",
            ("job", "outcome"),
            registry=r,
        )
        self.job_seconds = Histogram(
            "kefu_job_duration_seconds",
            "Time background jobs ran, by job.",
            ("job",),
            buckets=JOB_BUCKETS,
            registry=r,
        )
        # Children by label values, resolved once: `labels()` validates and locks each call,
        # which the per-request path needn't pay. Keys are bounded like the labels themselves.
        self.children: dict[tuple[str, ...], tuple[Any, Any]] = {}


_families: Families | None = None
_making = threading.Lock()


def families() -> Families:
    global _families
    if _families is None:
        with _making:
            if _families is None:
                _families = Families()
    return _families


def reset() -> None:
    """Forget the families, so the next use makes them again (tests; multiprocess switch)."""
    global _families
    _families = None


# -- multiprocess mode (a pre-forking server) ---------------------------------------------


def prepare_multiprocess(directory: Path) -> None:
    """Call in the server's master before the app is imported: every process (the master's
    forks included) then writes its values to files in `directory`, and /metrics on any
    worker adds them all up. The directory is emptied: values of an earlier run would count."""
    directory.mkdir(parents=True, exist_ok=True)
    for child in directory.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    values: Any = sys.modules.get("prometheus_client.values")
    if values is not None:  # a library imported it already: choose the file-backed values now
        values.ValueClass = values.get_value_class()
    reset()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def worker_exited(pid: int) -> None:
    """Call when a worker process ends (gunicorn's child_exit): its live gauges stop counting."""
    if multiprocess_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


# -- recording ------------------------------------------------------------------------------


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    f = families()
    key = ("http", method, route, str(status))
    pair = f.children.get(key)
    if pair is None:
        pair = f.children[key] = (
            f.http_requests.labels(method, route, key[3]),
            f.http_seconds.labels(method, route),
        )
    pair[0].inc()
    pair[1].observe(seconds)


def websocket_opened() -> None:
    families().websockets.inc()


def websocket_closed() -> None:
    families().websockets.dec()


def message_answered(decision: str, seconds: float) -> None:
    """A customer message the bot handled; `seconds`: the whole turn (understand to reply)."""
    f = families()
    key = ("message", decision)
    pair = f.children.get(key)
    if pair is None:
        pair = f.children[key] = (f.messages.labels(decision), f.model_seconds.labels("turn"))
    pair[0].inc()
    pair[1].observe(seconds)


def stage_observer(stage: str) -> Callable[[float], None]:
    """`observe(seconds)` for one model stage, its label resolved once (hot path)."""
    return families().model_seconds.labels(stage).observe


def handoff_event(event: str) -> None:
    families().handoffs.labels(event).inc()


def record_job(job: str, outcome: str, seconds: float) -> None:
    """A background job finished one attempt. `outcome`: ok, retry (it will run again) or dead
    (out of retries, moved to the dead-letter queue)."""
    f = families()
    f.jobs.labels(job, outcome).inc()
    f.job_seconds.labels(job).observe(seconds)


# -- exposition -----------------------------------------------------------------------------


class _Forward:
    """Collects another registry (this process's families) into the scrape's registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterable[Any]:
        return self.source.collect()


def exposition(extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The /metrics body and its content type: this process's metrics, or with
    `PROMETHEUS_MULTIPROC_DIR` set every process's, plus `extra` collectors read now."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry()  # fresh per scrape: the multiprocess collector rereads files
    if multiprocess_dir() is not None:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Forward(families().registry))
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST
