"""Serving: one uvicorn process, or (`workers > 1`) gunicorn's pre-forking master with uvicorn
workers.

Why gunicorn for several workers: uvicorn's own `--workers` spawns fresh interpreters, so each
would import and load the models again; gunicorn with `preload_app` loads them once in the
master and forks, and the workers share those pages copy-on-write. It also restarts a worker
that dies (SIGKILL, out of memory) and drains on SIGTERM. Everything that must not cross a fork
(database pools, Redis connections, threads) is made in each worker by the app's lifespan.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from kefu.config import Settings

log = logging.getLogger("kefu.server")


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What both ways of serving tell uvicorn."""
    from kefu.api.limits import frame_limit

    return {
        # Abuse limits the server enforces below the app: idle keep-alive connections close
        # after 5 s, a WebSocket frame may not exceed the HTTP body limit (larger ones close the
        # socket with 1009), dead sockets are pinged out in 40 s, and (with the h11 parser)
        # request heads stop at 16 KiB.
        "timeout_keep_alive": 5,
        "ws_max_size": frame_limit(settings.max_message_chars),
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        "h11_max_incomplete_event_size": 16 * 1024,
        # SIGTERM: stop accepting, let in-flight requests finish (bounded), close WebSockets
        # with 1012 "service restart" so clients reconnect and resume after their last seq.
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }


def serve(settings: Settings, log_config: dict[str, Any]) -> None:
    if settings.workers > 1:
        _serve_forking(settings, log_config)
        return
    import uvicorn

    from kefu.api.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,
        log_config=log_config,
        **uvicorn_options(settings),
    )


def _gunicorn_logging(log_config: dict[str, Any]) -> dict[str, Any]:
    """gunicorn merges this over its defaults key by key, so the root and its own loggers must
    name handlers that exist here."""
    config = dict(log_config)
    handler = ["default"]
    config["root"] = {"level": "INFO", "handlers": handler}
    config["loggers"] = {
        **log_config.get("loggers", {}),
        "gunicorn.error": {"level": "INFO", "handlers": handler, "propagate": False},
        "gunicorn.access": {"level": "WARNING", "handlers": handler, "propagate": False},
    }
    return config


def _serve_forking(settings: Settings, log_config: dict[str, Any]) -> None:
    # Before anything imports prometheus_client: the workers' metrics go to files the
    # master's directory collects, so /metrics on any worker reports all of them.
    metrics_dir = Path(tempfile.mkdtemp(prefix="kefu-metrics-"))
    from kefu.observability.metrics import prepare_multiprocess, worker_exited

    prepare_multiprocess(metrics_dir)

    from gunicorn.app.base import BaseApplication
    from uvicorn_worker import UvicornWorker

    from kefu.api.app import create_app
    from kefu.jobs import JOBS_GRACE_S
    from kefu.runtime import load_models

    class KefuWorker(UvicornWorker):  # type: ignore[misc]
        CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
            "loop": "auto",
            "http": "auto",
            **uvicorn_options(settings),
        }

    def child_exit(_server: Any, worker: Any) -> None:
        worker_exited(worker.pid)

    class Master(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {
                "bind": [f"{settings.host}:{settings.port}"],
                "workers": settings.workers,
                "worker_class": KefuWorker,
                "preload_app": True,
                # Draining requests, then stopping the job threads, then a margin.
                "graceful_timeout": int(settings.shutdown_grace_seconds + JOBS_GRACE_S) + 5,
                # The worker's loop pings the master; a turn runs in a thread, not the loop,
                # so this catches a wedged loop (and a first start that builds slowly).
                "timeout": 120,
                "keepalive": 5,
                "accesslog": None,
                "logconfig_dict": _gunicorn_logging(log_config),
                "child_exit": child_exit,
                "proc_name": "kefu",
                # gunicorn's control socket lives at one path per user: two kefu servers on
                # one host would fight over it, and kefu needs none of its commands.
                "control_socket_disable": True,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            models = load_models(settings)  # once, here in the master: shared by the forks
            return create_app(settings, models=models)

    try:
        Master().run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
