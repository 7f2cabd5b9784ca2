"""A real `kefu serve --workers 2`: /metrics adds up both workers whichever one answers, and
`KEFU_LOG_FORMAT=json` makes every log line of the server JSON (gunicorn's included)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kefu.testing import Server
from tests.observability.conftest import parse, value

N = 30
TOKEN = "scrape-token-123"


@pytest.fixture
def server(tmp_path: Path, postgres_url: str, redis_url: str) -> Iterator[Server]:
    srv = Server(
        tmp_path / "var",
        workers=2,
        KEFU_DATABASE_URL=postgres_url,
        KEFU_REDIS_URL=redis_url,
        KEFU_LOG_FORMAT="json",
        KEFU_METRICS_TOKEN=TOKEN,
        KEFU_RATE_LIMIT_IP="100000/minute",
    )
    try:
        srv.start(timeout=90)
        yield srv
    finally:
        srv.stop()


@pytest.mark.timeout(150)
def test_two_workers_report_one_sum_and_log_json(server: Server) -> None:
    assert len(server.worker_pids()) == 2
    for _ in range(N):
        with httpx.Client(base_url=server.url) as fresh:  # a new connection: either worker
            assert fresh.post("/v1/conversations", json={"language": "en"}).status_code == 201
    for _ in range(6):
        with httpx.Client(base_url=server.url) as fresh:
            assert fresh.get("/metrics").status_code == 401
            res = fresh.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        samples = parse(res.text)
        started = {"method": "POST", "route": "/v1/conversations", "status": "201"}
        assert value(samples, "kefu_http_requests_total", **started) == N
        assert value(samples, "kefu_handoffs_waiting") == 0
    server.stop()
    lines = [line for line in server.log.read_text().splitlines() if line.startswith("{")]
    loggers = {json.loads(line)["logger"] for line in lines}
    assert {"gunicorn.error", "uvicorn.error"} <= loggers, loggers
