"""Idempotency and strict per-conversation ordering under concurrency, on both databases,
with in-process locks and with Redis locks (as used across worker processes)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from kefu.config import Settings
from kefu.conversations.models import Role
from kefu.runtime import Runtime, prepare_database
from tests.conftest import start

QUESTIONS = ["押金怎么退", "开不了锁", "怎么开发票", "几点可以入住", "转人工", "hello"]


def _assert_turns_in_order(messages: list[dict[str, object]], sent: int) -> None:
    customers = [m for m in messages if m["role"] == "customer"]
    assert len(customers) == sent
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    # Each customer message is followed by its own replies before the next customer message.
    current = None
    for m in messages:
        if m["role"] == "customer":
            current = m["id"]
        else:
            assert m["reply_to"] == current


def test_twenty_concurrent_posts_are_stored_and_answered_in_order(client: TestClient) -> None:
    conv, auth = start(client)
    barrier = threading.Barrier(20)

    def post(i: int) -> int:
        barrier.wait()
        res = client.post(
            f"/v1/conversations/{conv}/messages",
            json={"text": QUESTIONS[i % len(QUESTIONS)], "client_message_id": f"m{i}"},
            headers=auth,
        )
        return res.status_code

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(post, range(20)))
    assert codes == [201] * 20
    messages = client.get(f"/v1/conversations/{conv}/messages?limit=500", headers=auth).json()
    _assert_turns_in_order(messages["messages"], 20)


def test_concurrent_retries_of_one_message_store_it_once(client: TestClient) -> None:
    conv, auth = start(client)
    barrier = threading.Barrier(10)

    def post(_: int) -> dict[str, object]:
        barrier.wait()
        return client.post(
            f"/v1/conversations/{conv}/messages",
            json={"text": "押金怎么退", "client_message_id": "retry-me"},
            headers=auth,
        ).json()

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(post, range(10)))
    assert sum(1 for r in results if not r["duplicate"]) == 1
    assert len({r["message"]["id"] for r in results}) == 1  # type: ignore[index]
    messages = client.get(f"/v1/conversations/{conv}/messages", headers=auth).json()["messages"]
    assert [m["role"] for m in messages] == ["customer", "bot"]


@pytest.fixture
def redis_runtime(settings: Settings, redis_url: str) -> Runtime:
    settings = settings.model_copy(update={"redis_url": redis_url})
    prepare_database(settings)
    return Runtime.build(settings)


def test_two_runtimes_sharing_redis_locks_keep_order(redis_runtime: Runtime) -> None:
    """Two independent runtimes (as two worker processes would be) on one database."""
    other = Runtime.build(redis_runtime.settings)
    try:
        conv = redis_runtime.conversations.start()
        barrier = threading.Barrier(20)

        def post(i: int) -> None:
            rt = redis_runtime if i % 2 else other
            barrier.wait()
            rt.conversations.post(conv.id, QUESTIONS[i % len(QUESTIONS)], f"m{i}")

        with ThreadPoolExecutor(20) as pool:
            list(pool.map(post, range(20)))
        stored = redis_runtime.conversations.messages(conv.id, limit=500)
        rows: list[dict[str, object]] = [
            {"id": m.id, "seq": m.seq, "role": m.role.value, "reply_to": m.reply_to_id}
            for m in stored
        ]
        _assert_turns_in_order(rows, 20)
        assert sum(1 for m in stored if m.role is Role.CUSTOMER) == 20
    finally:
        other.close()
        redis_runtime.close()
