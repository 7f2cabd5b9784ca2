"""The FastAPI app factory. Nothing happens at import time: `create_app(settings)` builds it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from kefu import __version__
from kefu.api import errors, observability, protection
from kefu.api.limits import BodyLimit, frame_limit
from kefu.api.routes import (
    accounts,
    agent,
    agent_ws,
    analytics,
    auth,
    console,
    conversations,
    escalation,
    health,
    intents,
    knowledge,
    privacy,
    review,
    training,
    ws,
)
from kefu.config import Settings
from kefu.jobs import JOBS_GRACE_S, Jobs
from kefu.observability.metrics import record_job
from kefu.runtime import Models, Runtime
from kefu.web import routes as web
from kefu.web import widget


def create_app(
    settings: Settings, runtime: Runtime | None = None, models: Models | None = None
) -> FastAPI:
    """Build the app. Pass a runtime to share one (tests); otherwise it is built on startup,
    with `models` if they were loaded before the server forked its workers."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or Runtime.build(settings, models=models)
        # Retention, rollups, alerts, webhooks and retraining: queued (kefu.jobs), and run by
        # this process's job threads or, with Redis, by whichever kefu process is free.
        background = Jobs(app.state.runtime, record=record_job).start()
        # Blocking request work (sync routes, run_in_threadpool) shares this many threads.
        to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        try:
            yield
        finally:
            # uvicorn has drained requests by now; jobs get what is left of the master's budget
            # (kefu.server: graceful_timeout = grace + JOBS_GRACE_S + a margin).
            await run_in_threadpool(background.stop, JOBS_GRACE_S)
            if owned:
                app.state.runtime.close()
            app.state.protection.close()

    app = FastAPI(
        title="kefu",
        version=__version__,
        description="Customer-service bot API. Start a conversation, then send messages with "
        "its token as `Authorization: Bearer <token>`.",
        lifespan=lifespan,
    )
    if runtime is not None:
        app.state.runtime = runtime
    errors.install(app)
    app.include_router(health.router)
    app.include_router(conversations.router)
    app.include_router(ws.router)
    app.include_router(auth.router)
    app.include_router(accounts.router)
    app.include_router(console.router)
    app.include_router(agent.router)
    app.include_router(agent_ws.router)
    app.include_router(escalation.router)
    app.include_router(knowledge.router)
    app.include_router(intents.router)
    app.include_router(review.router)
    app.include_router(training.router)
    app.include_router(analytics.router)
    app.include_router(privacy.router)
    app.include_router(web.router)
    app.include_router(widget.router)
    app.add_middleware(BodyLimit, max_bytes=frame_limit(settings.max_message_chars))
    protection.install(app, settings)  # after BodyLimit: its middleware must run first
    observability.install(app, settings)  # after protection: counts its 429s too
    widget.install_cors(app, settings)  # last: outermost, so 429s carry CORS headers
    return app
