"""Pre-forking server: each worker writes its metrics to the shared directory and /metrics on
any of them adds every worker's up; a worker that exited stops counting in live gauges."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kefu.observability import metrics
from tests.observability.conftest import scrape, value

# A worker's life in a few lines: what the app and the jobs record in one process.
WORKER = """
import os, sys
from pathlib import Path
from kefu.observability import metrics
if sys.argv[2] == "first":
    metrics.prepare_multiprocess(Path(sys.argv[1]))  # as the master does, before any import
else:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]  # a fork inherits it
metrics.http_request("GET", "/healthz", 200, 0.01)
metrics.message_answered("answer", 0.004)
metrics.record_job("retrain", "ok", 2.0)
metrics.websocket_opened()
print(os.getpid())
"""


def run_worker(directory: Path, role: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(directory), role],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return int(done.stdout.strip())


def test_metrics_of_all_workers_add_up(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    (shared / "counter_999999.db").write_bytes(b"stale")  # an earlier run's: emptied first
    first = run_worker(shared, "first")
    second = run_worker(shared, "second")
    assert not (shared / "counter_999999.db").exists()
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(shared))
    samples = scrape(client)  # this process is a third worker, serving the scrape
    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    assert value(samples, "kefu_http_requests_total", **healthz) == 2
    assert value(samples, "kefu_messages_total", decision="answer") == 2
    assert value(samples, "kefu_jobs_total", job="retrain", outcome="ok") == 2
    assert value(samples, "kefu_model_seconds_count", stage="turn") == 2
    assert value(samples, "kefu_handoffs_waiting") == 0  # scrape-time gauges still there
    assert value(samples, "kefu_websocket_connections") == 2
    metrics.worker_exited(first)  # gunicorn's child_exit
    samples = scrape(client)
    assert value(samples, "kefu_websocket_connections") == 1  # live gauges: the living only
    assert value(samples, "kefu_jobs_total", job="retrain", outcome="ok") == 2  # counters stay
    assert second != first
