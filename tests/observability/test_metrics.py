"""GET /metrics: Prometheus text that moves with the traffic, labelled by route template,
behind an optional token, and never broken by a failed read."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from kefu.api.app import create_app
from kefu.config import Settings
from kefu.observability import metrics
from kefu.observability.collectors import RuntimeCollector
from kefu.runtime import Runtime
from tests.conftest import start
from tests.handoff.test_live import Agent, say
from tests.handoff.test_live import agents as agents
from tests.observability.conftest import parse, scrape, value

MESSAGES = "/v1/conversations/{conversation_id}/messages"


def app_with(runtime: Runtime, settings: Settings, **changes: Any) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=changes), runtime))


def test_metrics_are_prometheus_text_with_every_family(client: TestClient) -> None:
    conv, auth = start(client, language="zh")
    say(client, conv, auth, "押金怎么退？")
    metrics.record_job("retrain", "ok", 1.5)
    names = {name for name, _ in scrape(client)}
    assert {
        "kefu_http_requests_total",
        "kefu_http_request_duration_seconds_bucket",
        "kefu_messages_total",
        "kefu_model_seconds_count",
        "kefu_handoffs_waiting",
        "kefu_jobs_total",
        "kefu_job_duration_seconds_sum",
        "kefu_websocket_connections",
    } <= names
    assert not any(name.endswith("_created") for name in names)  # half the series, no use
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_a_customer_message_moves_the_counters_and_the_model_timings(
    client: TestClient,
) -> None:
    conv, auth = start(client, language="zh")
    say(client, conv, auth, "押金怎么退？")
    samples = scrape(client)
    handled = {k: v for k, v in samples.items() if k[0] == "kefu_messages_total"}
    assert sum(handled.values()) == 1, handled
    for stage in ("encoder", "faq", "entities", "turn"):
        assert value(samples, "kefu_model_seconds_count", stage=stage) == 1, stage
    assert (value(samples, "kefu_model_seconds_sum", stage="turn") or 0) > 0
    assert value(samples, "kefu_http_requests_total", method="POST", route=MESSAGES, status="201")


def test_routes_are_labelled_by_template_never_by_raw_path(client: TestClient) -> None:
    for _ in range(2):
        conv, auth = start(client, language="en")
        say(client, conv, auth, "hello")
        assert client.get(f"/v1/conversations/{conv}", headers=auth).status_code == 200
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/v1/conversations/not-a-uuid", headers=auth).status_code == 404
    samples = scrape(client)
    routes = {dict(labels)["route"] for name, labels in samples if name.startswith("kefu_http")}
    assert not any(conv in route for route in routes)
    assert value(samples, "kefu_http_requests_total", method="POST", route=MESSAGES, status="201")
    one = "/v1/conversations/{conversation_id}"
    assert value(samples, "kefu_http_requests_total", method="GET", route=one, status="200") == 2
    assert value(samples, "kefu_http_requests_total", method="GET", route=one, status="404") == 1
    assert value(samples, "kefu_http_requests_total", method="GET", route="other", status="404")
    count = "kefu_http_request_duration_seconds_count"
    assert value(samples, count, method="POST", route=MESSAGES) == 2


def test_a_metrics_token_is_required_when_set(runtime: Runtime, settings: Settings) -> None:
    with app_with(runtime, settings, metrics_token=SecretStr("s3cret-scrape")) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-scrape"}):
            res = client.get("/metrics", headers=headers)
            assert res.status_code == 401, headers
            assert res.json()["error"]["code"] == "unauthorized"
            assert res.headers["www-authenticate"] == "Bearer"
        assert scrape(client, Authorization="Bearer s3cret-scrape")


def test_metrics_can_be_switched_off(runtime: Runtime, settings: Settings) -> None:
    with app_with(runtime, settings, metrics_enabled=False) as client:
        res = client.get("/metrics")
        assert res.status_code == 404 and res.json()["error"]["code"] == "not_found"
        assert client.get("/healthz").headers["x-request-id"]  # ids stay on
    samples = parse(metrics.exposition()[0].decode())
    assert not any(name.startswith("kefu_http") for name, _ in samples)


def test_rate_limited_requests_are_counted(runtime: Runtime, settings: Settings) -> None:
    with app_with(runtime, settings, rate_limit_ip="2/minute") as client:
        statuses = [client.get("/no/such/page") for _ in range(3)]
    assert [r.status_code for r in statuses] == [404, 404, 429]
    assert statuses[-1].headers["x-request-id"]
    samples = parse(metrics.exposition()[0].decode())
    assert value(samples, "kefu_http_requests_total", method="GET", route="other", status="429")


def test_handoff_events_and_the_waiting_queue(client: TestClient, agents: dict[str, Agent]) -> None:
    li = agents["xiaoli"]
    conv, auth = start(client, language="zh")
    say(client, conv, auth, "转人工")
    samples = scrape(client)
    assert value(samples, "kefu_handoffs_total", event="queued") == 1
    assert value(samples, "kefu_handoffs_waiting") == 1
    li.online()
    li.call("POST", f"/conversations/{conv}/close")
    samples = scrape(client)
    assert value(samples, "kefu_handoffs_waiting") == 0
    assert value(samples, "kefu_handoffs_total", event="assigned") == 1
    assert value(samples, "kefu_handoffs_total", event="closed") == 1


def test_websocket_connections_are_a_gauge(client: TestClient) -> None:
    conv, auth = start(client, language="zh")
    with client.websocket_connect(f"/v1/conversations/{conv}/ws", headers=auth):
        assert value(scrape(client), "kefu_websocket_connections") == 1
    assert value(scrape(client), "kefu_websocket_connections") == 0


def failing(*_: Any, **__: Any) -> Any:
    raise ConnectionError("connection refused 13800138000")


@pytest.fixture
def broken_runtime() -> Iterator[Any]:
    yield SimpleNamespace(
        conversations=SimpleNamespace(reads=failing),
        tenant=SimpleNamespace(id=1),
        jobs=SimpleNamespace(depths=failing),
    )


def test_failed_reads_leave_their_gauges_out_not_the_scrape(broken_runtime: Any) -> None:
    body, _ = metrics.exposition([RuntimeCollector(cast(Runtime, broken_runtime))])
    names = {name for name, _ in parse(body.decode())}
    assert "kefu_handoffs_waiting" not in names and "kefu_job_queue_depth" not in names


def test_job_queue_depths_and_job_outcomes(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Jobs:
        def depths(self) -> dict[str, int]:
            return {"default": 3, "default.dead": 1}

    monkeypatch.setattr(runtime, "jobs", cast(Any, Jobs()))
    metrics.record_job("analytics_refresh", "ok", 0.2)
    metrics.record_job("analytics_refresh", "retry", 0.1)
    metrics.record_job("analytics_refresh", "retry", 0.1)
    body, _ = metrics.exposition([RuntimeCollector(runtime)])
    samples = parse(body.decode())
    assert value(samples, "kefu_job_queue_depth", queue="default") == 3
    assert value(samples, "kefu_job_queue_depth", queue="default.dead") == 1
    job = "analytics_refresh"
    assert value(samples, "kefu_jobs_total", job=job, outcome="retry") == 2
    assert value(samples, "kefu_job_duration_seconds_count", job=job) == 3


def test_importing_kefu_does_not_import_prometheus_client() -> None:
    # A pre-forking server switches prometheus_client to shared files before it is imported.
    code = (
        "import sys, kefu.config, kefu.api.app, kefu.observability.metrics\n"
        "assert 'prometheus_client' not in sys.modules, 'imported too early'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
