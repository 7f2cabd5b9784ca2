"""Structured logs: the request and conversation ids every line carries, and the JSON format.

The ids live in context variables: the HTTP middleware sets the request id (and the
conversation id when the path names one), `ConversationService.post` the conversation id.
Starlette copies the context into the thread pool, so sync routes and the message path see
them too. With `KEFU_LOG_FORMAT=json` each record is one JSON object per line:
time (ISO-8601, UTC), level, logger, message, request_id, conversation_id, exc_info, plus any
`extra` fields; PII is masked in all of them, as the text format masks the message.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from kefu.privacy.pii import mask

request_id: ContextVar[str | None] = ContextVar("kefu_request_id", default=None)
conversation_id: ContextVar[str | None] = ContextVar("kefu_conversation_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Record attributes that are logging's own, or written out under other names below.
_SKIP = frozenset(RESERVED_ATTRS) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's coloured copy of the message
    "request_id",
    "conversation_id",
}


def accept_request_id(value: str | None) -> str:
    """The caller's request id if it is a sane token (so a proxy's id follows the request
    through our logs), else a new one: a hostile value never reaches a log line or header."""
    if value and _SANE_ID.fullmatch(value):
        return value
    return secrets.token_hex(16)  # 32 hex digits, like a uuid4 without the object


class JsonFormatter(BaseJsonFormatter):
    """One JSON object per record, the fields in a fixed order, strings masked for PII."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        created = datetime.fromtimestamp(record.created, tz=UTC)
        log_data["time"] = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message  # masked already by MaskingFilter on the handler
        # Read when the record is formatted, in the thread that logged it (stream handlers
        # format synchronously); a record may also carry its own (`extra=`), e.g. from a job.
        log_data["request_id"] = getattr(record, "request_id", None) or request_id.get()
        log_data["conversation_id"] = (
            getattr(record, "conversation_id", None) or conversation_id.get()
        )
        for key, value in message_dict.items():  # exc_info, stack_info, a dict message
            log_data[key] = _masked(value)
        for key, value in record.__dict__.items():
            if key not in _SKIP and not key.startswith("_") and key not in log_data:
                log_data[key] = _masked(value)


def _masked(value: Any) -> Any:
    """Strings (a traceback, an `extra` field) can carry what a customer typed."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def use_json(config: dict[str, Any]) -> dict[str, Any]:
    """Switch a logging dictConfig (uvicorn's, as `kefu serve` builds it) to JSON lines: every
    formatter becomes the JSON one, and the root logger writes through the same handler, so
    libraries' warnings are JSON too. Handlers and their filters (PII masking) stay."""
    formatter = {"()": f"{__name__}.JsonFormatter"}
    config["formatters"] = {name: dict(formatter) for name in config.get("formatters", {})}
    config["formatters"].setdefault("json", dict(formatter))
    handlers = config.get("handlers", {})
    for handler in handlers.values():
        if handler.get("formatter") not in config["formatters"]:
            handler["formatter"] = "json"
    if "default" in handlers:
        config.setdefault("root", {"handlers": ["default"], "level": "WARNING"})
        # gunicorn's own messages (worker started, worker timeout) under a pre-forking server
        config.setdefault("loggers", {}).setdefault(
            "gunicorn.error", {"handlers": ["default"], "level": "INFO", "propagate": False}
        )
    return config
