"""When the database or Redis goes away: fast, retryable 503s (never a 500 or a hang) while the
database is gone, messages still answered in order while Redis is, and recovery without a
restart when they come back. (tests/scale/ does the same with real server processes.)"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from kefu.api.app import create_app
from kefu.conversations.locks import DatabaseLocks, FallbackLocks
from kefu.runtime import Runtime, prepare_database
from tests.conftest import settings_for, start


@pytest.fixture
def own_database(postgres_server: str) -> Iterator[tuple[str, str]]:
    """A database of its own, so this test can refuse connections to it alone."""
    name = f"kefu_down_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _refuse(admin_dsn: str, name: str, refuse: bool) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(not refuse).lower()}')
        if refuse:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


def test_database_gone_gives_fast_503_with_retry_after_and_recovers(
    tmp_path: Path, postgres_server: str, own_database: tuple[str, str]
) -> None:
    name, url = own_database
    settings = settings_for(tmp_path, url)
    prepare_database(settings)
    runtime = Runtime.build(settings)
    try:
        with TestClient(create_app(settings, runtime)) as client:
            cid, auth = start(client)
            path = f"/v1/conversations/{cid}/messages"
            assert (
                client.post(
                    path, json={"text": "押金怎么退", "client_message_id": "m1"}, headers=auth
                ).status_code
                == 201
            )
            _refuse(postgres_server, name, True)
            for attempt in ("m2", "m2", "m3"):
                began = time.perf_counter()
                res = client.post(
                    path, json={"text": "还在吗", "client_message_id": attempt}, headers=auth
                )
                took = time.perf_counter() - began
                assert res.status_code == 503, res.text
                assert res.headers["Retry-After"] == "2"
                assert res.json()["error"]["code"] == "database_unavailable"
                assert took < 2.0, took
            ready = client.get("/readyz")
            assert ready.status_code == 503 and "Retry-After" in ready.headers

            _refuse(postgres_server, name, False)
            res = client.post(
                path, json={"text": "还在吗", "client_message_id": "m2"}, headers=auth
            )
            assert res.status_code == 201, res.text
            assert client.get("/readyz").status_code == 200
            listed = client.get(path, headers=auth).json()["messages"]
            mine = [m for m in listed if m["role"] == "customer"]
            # m2 was refused twice, then stored once; m3 was never acknowledged.
            assert [m["text"] for m in mine] == ["押金怎么退", "还在吗"]
    finally:
        runtime.close()


def test_messages_keep_their_order_while_redis_is_unreachable(
    tmp_path: Path, postgres_url: str
) -> None:
    # Nothing listens on port 1: every Redis call fails at once, as during a restart.
    settings = settings_for(tmp_path, postgres_url, redis_url="redis://127.0.0.1:1/0")
    prepare_database(settings)
    runtime = Runtime.build(settings)
    try:
        locks = runtime.conversations.locks
        assert isinstance(locks, FallbackLocks) and isinstance(locks.fallback, DatabaseLocks)
        with TestClient(create_app(settings, runtime)) as client:
            cid, auth = start(client)
            for n in range(3):
                res = client.post(
                    f"/v1/conversations/{cid}/messages",
                    json={"text": f"第{n}个问题：押金怎么退", "client_message_id": f"r{n}"},
                    headers=auth,
                )
                assert res.status_code == 201, res.text
            seqs = [
                m["seq"]
                for m in client.get(f"/v1/conversations/{cid}/messages", headers=auth).json()[
                    "messages"
                ]
            ]
            assert seqs == sorted(seqs) and len(seqs) == 6
    finally:
        runtime.close()


def test_database_locks_serialise_one_conversation(postgres_url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(postgres_url)
    locks = DatabaseLocks(engine)
    conversation = uuid.uuid4()
    order: list[str] = []
    import threading

    def turn(name: str) -> None:
        with locks.lock(conversation):
            order.append(f"{name}+")
            time.sleep(0.05)
            order.append(f"{name}-")

    threads = [threading.Thread(target=turn, args=(n,)) for n in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    # Never two inside at once: every entry is followed by its own exit.
    assert all(order[i][0] == order[i + 1][0] for i in range(0, 6, 2))
