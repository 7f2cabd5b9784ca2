from __future__ import annotations

from anyio import to_thread
from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.config import Settings
from kefu.runtime import Runtime


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_database(client: TestClient) -> None:
    res = client.get("/readyz")
    assert res.status_code == 200
    assert res.json()["checks"]["database"] == "ok"


def test_readyz_is_503_when_database_is_gone(client: TestClient) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.engine.dispose()
    original = runtime.engine.url
    from sqlalchemy import create_engine

    runtime.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        res = client.get("/readyz")
        assert res.status_code == 503
        assert res.json()["error"]["code"] == "not_ready"
    finally:
        runtime.engine = create_engine(original)


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v1/conversations/{conversation_id}/messages" in spec["paths"]


def test_blocking_request_work_gets_the_configured_threads(
    settings: Settings, runtime: Runtime
) -> None:
    settings.request_threads = 3
    with TestClient(create_app(settings, runtime)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.portal is not None
        tokens = client.portal.call(lambda: to_thread.current_default_thread_limiter().total_tokens)
        assert tokens == 3
