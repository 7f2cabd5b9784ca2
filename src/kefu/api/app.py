"""The FastAPI app factory. Nothing happens at import time: `create_app(settings)` builds it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from kefu import __version__
from kefu.api import errors, jobs, protection
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
from kefu.runtime import Runtime
from kefu.web import routes as web
from kefu.web import widget


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """Build the app. Pass a runtime to share one (tests); otherwise it is built on startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or Runtime.build(settings)
        tasks = []
        if settings.retention_interval_minutes:
            tasks.append(
                asyncio.create_task(
                    jobs.retention_loop(app.state.runtime, settings.retention_interval_minutes * 60)
                )
            )
        if settings.analytics_refresh_seconds:
            tasks.append(
                asyncio.create_task(
                    jobs.analytics_loop(app.state.runtime, settings.analytics_refresh_seconds)
                )
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
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
    widget.install_cors(app, settings)  # last: outermost, so 429s carry CORS headers
    return app
