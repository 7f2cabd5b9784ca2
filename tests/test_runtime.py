"""Redis connectivity: the runtime reports it in /readyz when KEFU_REDIS_URL is set."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.config import Settings
from kefu.runtime import Runtime, prepare_database


def test_readyz_reports_redis(settings: Settings, redis_url: str) -> None:
    settings = settings.model_copy(update={"redis_url": redis_url})
    prepare_database(settings)
    runtime = Runtime.build(settings)
    try:
        assert runtime.redis is not None and runtime.redis.ping()
        with TestClient(create_app(settings, runtime)) as client:
            assert client.get("/readyz").json()["checks"] == {"database": "ok", "redis": "ok"}
    finally:
        runtime.close()


def test_readyz_is_503_when_redis_is_unreachable(settings: Settings) -> None:
    settings = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    prepare_database(settings)
    runtime = Runtime.build(settings)
    try:
        with TestClient(create_app(settings, runtime)) as client:
            res = client.get("/readyz")
            assert res.status_code == 503
            assert "redis" in res.json()["error"]["message"]
    finally:
        runtime.close()


def test_concurrent_preparation_of_a_new_database(settings: Settings) -> None:
    """Several servers started at once on a new database: one migrates, the others wait."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: prepare_database(settings), range(3)))
    assert sorted(len(r) for r in results) == [0, 0, 3]  # the bundled packs, seeded once
