"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from kefu.api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> dict[str, Any]:
    """The database (and Redis, when configured) answers; 503 with the reason otherwise."""
    checks = await run_in_threadpool(runtime.check_ready)
    return {"status": "ok", "checks": checks}
