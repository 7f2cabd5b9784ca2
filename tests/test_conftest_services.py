"""The suite's contract for missing services: skip with a reason locally, fail under CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = "tests/test_runtime.py::test_readyz_reports_redis"


def run(ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": ci, "KEFU_TEST_REDIS_URL": "redis://127.0.0.1:1/0"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            TARGET,
            "-k",
            "sqlite",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_service_skips_locally_with_reason() -> None:
    res = run("")
    assert res.returncode == 0, res.stdout
    assert "skipped" in res.stdout and "Redis unavailable" in res.stdout


def test_missing_service_fails_under_ci() -> None:
    res = run("true")
    assert res.returncode == 1, res.stdout
    assert "CI=true: integration services must be running" in res.stdout
