"""Every error leaves the API as JSON `{"error": {"code", "message"}}`; mapped here, once."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from kefu.errors import (
    Conflict,
    Forbidden,
    InvalidData,
    InvalidInput,
    KefuError,
    NotFound,
    NotReady,
    Unauthorized,
)
from kefu.privacy.crypto import EncryptionError

log = logging.getLogger("kefu.api")

# Seconds a client is asked to wait after a 503: long enough for a database or Redis restart
# or failover to make progress, short enough that customers barely notice.
RETRY_AFTER_S = 2
# The database can't be reached (down, restarting, refusing connections, pool exhausted):
# a retryable 503, not a 500. Logged at most every few seconds, not once per request.
DATABASE_DOWN = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)
_LOG_EVERY_S = 5.0
_last_logged = [0.0]


class UnsupportedMediaType(KefuError):
    """A body in a format the API doesn't take (HTTP's concern, so it lives here)."""

    code = "unsupported_media_type"


class TooManyRequests(KefuError):
    """Over a rate limit (api/protection.py); `retry_after` seconds become Retry-After."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(f"{message}; retry in {retry_after} s")
        self.retry_after = max(1, retry_after)


STATUS: dict[type[KefuError], int] = {
    UnsupportedMediaType: 415,
    TooManyRequests: 429,
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    NotReady: 503,
    # Keys missing or data that won't decrypt: the deployment's fault, not the caller's.
    EncryptionError: 500,
}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def status_for(exc: KefuError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _describe(errors: list[Any]) -> tuple[str, str]:
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return (
            "invalid_json",
            f"request body is not valid JSON: {first.get('ctx', {}).get('error', '')}",
        )
    loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    return "invalid_request", f"{loc}: {first.get('msg', 'invalid value')}"


def install(app: FastAPI) -> None:
    @app.exception_handler(KefuError)
    async def _domain(request: Request, exc: KefuError) -> JSONResponse:
        if isinstance(exc, EncryptionError):
            log.error("encryption error on %s %s: %s", request.method, request.url.path, exc)
        if isinstance(exc, TooManyRequests):
            return JSONResponse(
                error_body(exc.code, exc.message, retry_after=exc.retry_after),
                status_code=429,
                headers={"Retry-After": str(exc.retry_after)},
            )
        extra = {"problems": exc.problems} if isinstance(exc, InvalidData) else {}
        status = status_for(exc)
        headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
        return JSONResponse(
            error_body(exc.code, exc.message, **extra), status_code=status, headers=headers
        )

    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        now = time.monotonic()
        if now - _last_logged[0] >= _LOG_EVERY_S:
            _last_logged[0] = now
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            log.warning(
                "database unavailable on %s %s: %s",
                request.method,
                request.url.path,
                detail[0] if detail else type(exc).__name__,
            )
        return JSONResponse(
            error_body(
                "database_unavailable", "the database is unavailable; retry in a few seconds"
            ),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    for exc_class in DATABASE_DOWN:
        app.add_exception_handler(exc_class, _database_down)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        code, message = _describe(list(exc.errors()))
        status = 400 if code == "invalid_json" else 422
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")}
            for e in exc.errors()
        ]
        return JSONResponse(error_body(code, message, details=details), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "error")
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # FastAPI's catch-all for bodies json.loads can't take (e.g. nested too deeply).
            code, exc.detail = "invalid_json", "request body could not be parsed as JSON"
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal_error", "internal error; it has been logged"), status_code=500
        )
