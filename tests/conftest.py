"""Shared fixtures. Storage-backed tests run on SQLite and on PostgreSQL (`db_url` is
parametrised); PostgreSQL and Redis tests skip with a reason locally when the service is down,
and fail under CI=true, where a missing service is a broken environment."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.config import Settings
from kefu.runtime import Runtime, prepare_database

POSTGRES_URL = os.environ.get(
    "KEFU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_missing(name: str, reason: str) -> None:
    message = f"{name} unavailable: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: integration services must be running)")
    pytest.skip(f"{message}; start it to run this test (see DEVELOPERS.md)")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.Error as exc:
        service_missing("PostgreSQL", str(exc).strip().splitlines()[0])
    return dsn


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh schema per test, so tests never see each other's rows."""
    schema = f"kefu_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing("Redis", str(exc))
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kefu.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def settings_for(tmp_path: Path, db_url: str, redis_url: str | None = None) -> Settings:
    """Settings for a test: its own data dir, no .env file, no KEFU_* from the environment's
    Redis or secret key."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=db_url,
        redis_url=redis_url,
        secret_key=None,
    )


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return settings_for(tmp_path, db_url)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    prepare_database(settings)
    rt = Runtime.build(settings)
    yield rt
    rt.close()


@pytest.fixture
def client(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime)) as test_client:
        yield test_client


def start(client: TestClient, **body: object) -> tuple[str, dict[str, str]]:
    """Start a conversation; return its id and the auth header for it."""
    res = client.post("/v1/conversations", json=body or None)
    assert res.status_code == 201, res.text
    data = res.json()
    return data["id"], {"Authorization": f"Bearer {data['token']}"}


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory with the intent model trained on the bundled packs and the FAQ
    fusion fitted (`kefu train`), made once per test session (~10 s)."""
    from kefu.stories import StoryRunner

    models = tmp_path_factory.mktemp("models")
    StoryRunner(models_dir=models).close()  # trains into `models` on first use
    return models


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A temporary SQLite file as the configured database, for in-process `kefu` commands."""
    url = f"sqlite:///{tmp_path / 'kefu.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KEFU_DATABASE_URL", url)
    for name in ("KEFU_REDIS_URL", "KEFU_SECRET_KEY", "KEFU_MODELS_DIR"):
        monkeypatch.delenv(name, raising=False)
    return url
