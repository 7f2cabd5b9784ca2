"""Structured logs: JSON lines from `kefu serve`'s logging config, carrying the request and
conversation ids, PII masked; request ids echoed, hostile ones replaced."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import logging.config
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kefu.cli import masked_log_config
from kefu.dialogue.turns import TurnResult
from kefu.observability import logs
from kefu.runtime import Runtime
from tests.conftest import start

PHONE = "13800138000"
EMAIL = "wang.xiaoming@example.com"
LOGGERS = ("", "kefu", "uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """`kefu serve`'s logging in json format, its handler writing into a buffer; the logging
    set-up is put back afterwards."""
    saved = {}
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    logging.config.dictConfig(masked_log_config("json"))
    buffer = io.StringIO()
    handler = logging.getLogger("kefu").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_json_config_keeps_masking_on_every_handler() -> None:
    config = masked_log_config("json")
    assert all("mask_pii" in h.get("filters", []) for h in config["handlers"].values())
    assert {f["()"] for f in config["formatters"].values()} == {
        "kefu.observability.logs.JsonFormatter"
    }
    assert masked_log_config()["formatters"]["default"].get("()") != (
        "kefu.observability.logs.JsonFormatter"
    )


def test_log_lines_of_a_request_carry_its_ids_with_pii_masked(
    client: TestClient, runtime: Runtime, json_lines: io.StringIO
) -> None:
    log = logging.getLogger("kefu.test")

    def observe(result: TurnResult) -> None:  # a log line from inside the message path
        log.info("customer wrote %s", result.parse.text)
        try:
            raise ValueError(f"could not reach {EMAIL}")
        except ValueError:
            log.exception("a failure with %s", PHONE)

    runtime.conversations.observers.append(observe)
    conv, auth = start(client, language="zh")
    res = client.post(
        f"/v1/conversations/{conv}/messages",
        json={"text": f"我的手机号是{PHONE}，邮箱{EMAIL}，押金怎么退"},
        headers={**auth, "X-Request-ID": "req-42.a_b"},
    )
    runtime.conversations.observers.remove(observe)
    assert res.status_code == 201 and res.headers["x-request-id"] == "req-42.a_b"
    raw = json_lines.getvalue()
    assert PHONE not in raw and EMAIL not in raw
    wrote, failed = (r for r in records(json_lines) if r["logger"] == "kefu.test")
    for record in (wrote, failed):
        assert record["request_id"] == "req-42.a_b"
        assert record["conversation_id"] == conv
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    assert (wrote["level"], failed["level"]) == ("INFO", "ERROR")
    assert wrote["message"].startswith("customer wrote ")
    assert "ValueError" in failed["exc_info"]


def test_ids_are_not_left_behind_after_the_request(
    client: TestClient, json_lines: io.StringIO
) -> None:
    client.get("/healthz")
    logging.getLogger("kefu.test").warning("between requests")
    (record,) = records(json_lines)
    assert record["request_id"] is None and record["conversation_id"] is None
    assert logs.request_id.get() is None


def test_a_turn_outside_a_request_carries_its_conversation_id(runtime: Runtime) -> None:
    seen: list[str | None] = []
    runtime.conversations.observers.append(lambda _: seen.append(logs.conversation_id.get()))
    conv = runtime.conversations.start(language="zh")
    # As a job or `kefu chat` would: no middleware, a context of its own.
    contextvars.copy_context().run(runtime.conversations.post, conv.id, "押金怎么退")
    assert seen == [str(conv.id)]


HOSTILE = ["has spaces", "x" * 65, "<script>alert(1)</script>", "id\u00e9", "a/b", "a\tb", ""]


def test_hostile_request_ids_are_replaced(client: TestClient) -> None:
    for sent in HOSTILE:
        res = client.get("/healthz", headers=[(b"x-request-id", sent.encode("utf-8"))])
        echoed = res.headers["x-request-id"]
        assert echoed != sent and re.fullmatch(r"[0-9a-f]{32}", echoed), sent


def test_a_request_without_an_id_gets_a_new_one_each_time(client: TestClient) -> None:
    first, second = (client.get("/healthz").headers["x-request-id"] for _ in range(2))
    assert first != second and re.fullmatch(r"[0-9a-f]{32}", first)
    assert client.get("/healthz", headers={"X-Request-ID": "A" * 64}).headers["x-request-id"] == (
        "A" * 64
    )
