"""Telemetry in the app: request ids and HTTP metrics on every request, and GET /metrics.

`Telemetry` is plain ASGI (no BaseHTTPMiddleware: that would run each request in a second task
and copy its body). It labels requests by route template, read from the scope the router fills
in, so label values stay a bounded set whatever paths clients send.
"""

from __future__ import annotations

import hmac
import re
import time

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kefu.api.errors import error_body
from kefu.config import Settings
from kefu.observability import logs, metrics
from kefu.observability.collectors import RuntimeCollector

# Conversation ids in paths: /v1/conversations/{id}/..., /v1/agent/conversations/{id}, ...
CONVERSATION_IN_PATH = re.compile(r"/conversations/([0-9a-fA-F-]{36})(?:/|$)")
UNMATCHED = "other"

# Label values must be bounded: a client may send any method name.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _route_of(scope: Scope) -> str:
    """The matched route's template (`/v1/conversations/{conversation_id}/messages`)."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class Telemetry:
    def __init__(self, app: ASGIApp, record: bool = True) -> None:
        self.app = app
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = logs.accept_request_id(_header(scope, b"x-request-id"))
        found = CONVERSATION_IN_PATH.search(scope["path"])
        rid_token = logs.request_id.set(rid)
        cid_token = logs.conversation_id.set(found.group(1).lower() if found else None)
        try:
            if scope["type"] == "http":
                await self._http(scope, receive, send, rid)
            else:
                await self._websocket(scope, receive, send)
        finally:
            logs.conversation_id.reset(cid_token)
            logs.request_id.reset(rid_token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        started = time.perf_counter()
        status = 500  # if the app raises before answering, the server error page is a 500
        header = (b"x-request-id", rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.record:
                seconds = time.perf_counter() - started
                method = scope["method"] if scope["method"] in _METHODS else "other"
                metrics.http_request(method, _route_of(scope), status, seconds)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.record:
            await self.app(scope, receive, send)
            return
        opened = False

        async def counting_send(message: Message) -> None:
            nonlocal opened
            if message["type"] == "websocket.accept" and not opened:
                opened = True
                metrics.websocket_opened()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            if opened:
                metrics.websocket_closed()


def _authorized(request: Request, token: str) -> bool:
    scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        supplied.strip().encode(), token.encode()
    )


def install(app: FastAPI, settings: Settings) -> None:
    """Add GET /metrics (unless `metrics_enabled` is off: then it is a 404) and the telemetry
    middleware. Call after `protection.install`: the last middleware added runs first, so
    its 429s are counted and carry a request id."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None

    # Sync: the scrape reads the database (waiting handoffs), so it runs in the thread pool.
    def scrape(request: Request) -> Response:
        if token is not None and not _authorized(request, token):
            return JSONResponse(
                error_body("unauthorized", "metrics need Authorization: Bearer <metrics token>"),
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        runtime = getattr(request.app.state, "runtime", None)
        collectors = [RuntimeCollector(runtime)] if runtime is not None else []
        body, content_type = metrics.exposition(collectors)
        return Response(body, headers={"Content-Type": content_type})

    if settings.metrics_enabled:
        app.add_api_route("/metrics", scrape, methods=["GET"], include_in_schema=False)
    app.add_middleware(Telemetry, record=settings.metrics_enabled)
