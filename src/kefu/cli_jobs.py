"""`kefu worker` (a process that only runs background jobs) and `kefu jobs` (queue status, run
one now)."""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated, Any

import typer
from rich.table import Table

from kefu.cli_admin import JsonOpt, out
from kefu.config import Settings
from kefu.errors import InvalidInput, KefuError

jobs_app = typer.Typer(help="Background jobs: queue depths, dead letters, run one now.")
# Jobs an operator may start by hand (the others are queued by kefu itself, with arguments).
RUNNABLE = ("analytics.refresh", "analytics.alerts", "retention.purge")


def _runtime(settings: Settings) -> Any:
    from kefu.runtime import Runtime, open_engine

    return Runtime.build(settings, engine=open_engine(settings))


def worker_command(
    threads: Annotated[
        int, typer.Option(min=1, max=32, help="Jobs run at once in this process.")
    ] = 2,
) -> None:
    """Run background jobs (retraining, rollups, retention, alerts, webhooks) from Redis until
    SIGTERM or Ctrl-C; servers can then leave them out (KEFU_JOBS_THREADS=0)."""
    import logging.config

    from kefu.cli import masked_log_config
    from kefu.jobs import Jobs
    from kefu.observability.metrics import record_job

    settings = Settings()
    logging.config.dictConfig(masked_log_config(settings.log_format))
    if not settings.redis_url:
        raise KefuError(
            "kefu worker takes jobs from Redis: set KEFU_REDIS_URL (without Redis, "
            "`kefu serve` runs the jobs itself)"
        )
    runtime = _runtime(settings)
    jobs = Jobs(runtime, threads=threads, record=record_job).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    out.print(f"kefu worker: {threads} job threads on {settings.redis_url.split('@')[-1]}")
    done.wait()
    out.print("stopping: jobs in progress get their grace period")
    jobs.stop(settings.shutdown_grace_seconds)
    runtime.close()


@jobs_app.command("status")
def jobs_status(as_json: JsonOpt = False) -> None:
    """Queue depths and the newest dead-lettered jobs."""
    from kefu.jobs.queue import JobQueue

    settings = Settings()
    if not settings.redis_url:
        out.print("embedded mode: jobs are queued and run inside the server process")
        return
    queue = JobQueue(settings.redis_url, [])
    try:
        depths, dead = queue.depths(), queue.dead_letters()
    finally:
        queue.stop()
    if as_json:
        out.print_json(json.dumps({"depths": depths, "dead": dead}, default=str))
        return
    table = Table("queue", "messages")
    for name, count in depths.items():
        table.add_row(name, str(count))
    out.print(table)
    if dead:
        table = Table("dead job", "args", "attempts", "last error")
        for d in dead:
            table.add_row(d["job"], json.dumps(d["args"]), str(d["attempts"]), d["error"])
        out.print(table)


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(RUNNABLE)}.")],
    wait: Annotated[bool, typer.Option(help="Wait until it has run (embedded: always).")] = False,
) -> None:
    """Queue a job now instead of waiting for its schedule."""
    from kefu.jobs import Jobs

    if name not in RUNNABLE:
        raise InvalidInput(f"unknown job {name!r}: one of {', '.join(RUNNABLE)}")
    settings = Settings()
    runtime = _runtime(settings)
    jobs = Jobs(runtime, threads=0).start(schedule=False)
    try:
        args = () if name == "retention.purge" else (runtime.tenant.id,)
        jobs.send(name, *args)
        if wait or not settings.redis_url:
            jobs.queue.join(3600)
            out.print(f"{name}: done")
        else:
            out.print(f"{name}: queued")
    finally:
        jobs.stop()
        runtime.close()
