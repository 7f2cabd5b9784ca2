"""Conversation paths beyond the happy one: handoff states, knowledge reload, races between
processes without Redis, concurrent starts, and tenant isolation."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select, update

from kefu.config import Settings
from kefu.conversations.models import Conversation, ConversationStatus, Customer, Message
from kefu.errors import NotFound
from kefu.knowledge.pack import parse_pack
from kefu.knowledge.service import import_pack
from kefu.privacy.crypto import blind_index, keyring_of
from kefu.runtime import Runtime, prepare_database
from tests.knowledge.test_pack import GOOD


def test_second_handoff_request_says_already_waiting(runtime: Runtime) -> None:
    conv = runtime.conversations.start()
    first = runtime.conversations.post(conv.id, "转人工")
    assert first.status is ConversationStatus.WAITING_AGENT
    second = runtime.conversations.post(conv.id, "转人工")
    assert second.replies[0].payload == {"kind": "handoff"}
    assert "排队" in second.replies[0].text
    # FAQ questions are still answered while waiting.
    faq = runtime.conversations.post(conv.id, "押金怎么退")
    assert faq.replies[0].payload["faq"] == "bike.deposit_refund"  # type: ignore[index]


def test_bot_stays_silent_while_an_agent_owns_the_conversation(runtime: Runtime) -> None:
    conv = runtime.conversations.start()
    with runtime.sessions.begin() as session:
        session.execute(
            update(Conversation)
            .where(Conversation.id == conv.id)
            .values(status=ConversationStatus.WITH_AGENT)
        )
    posted = runtime.conversations.post(conv.id, "押金怎么退")
    assert posted.replies == [] and posted.status is ConversationStatus.WITH_AGENT
    assert [m.text for m in runtime.conversations.messages(conv.id)] == ["押金怎么退"]


def test_running_server_picks_up_imported_knowledge(runtime: Runtime) -> None:
    runtime.conversations.bot._check_interval = 0.0  # check on every message
    conv = runtime.conversations.start()
    question = "How do I get my deposit back?"
    before = runtime.conversations.post(conv.id, question)
    assert before.replies[0].payload["faq"] == "bike.deposit_refund"  # type: ignore[index]
    with runtime.sessions.begin() as session:
        import_pack(
            session, runtime.tenant, parse_pack(GOOD.replace("demo.deposit", "bike.deposit_refund"))
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reply = runtime.conversations.post(conv.id, question).replies[0]
        if reply.text == "Call 400-000-0000.":
            break
        time.sleep(0.05)
    else:
        raise AssertionError("imported knowledge never reached the running engine")


def test_same_client_id_from_two_processes_without_redis_is_stored_once(
    settings: Settings, runtime: Runtime
) -> None:
    """Two runtimes (as two processes would be) share no lock: the unique constraint decides."""
    other = Runtime.build(settings)
    try:
        conv = runtime.conversations.start()
        barrier = threading.Barrier(8)

        def post(i: int) -> None:
            rt = runtime if i % 2 else other
            barrier.wait()
            rt.conversations.post(conv.id, "押金怎么退", "same-id")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(post, range(8)))
        with runtime.sessions() as session:
            count = session.scalar(
                select(func.count(Message.id)).where(Message.client_message_id == "same-id")
            )
        assert count == 1
    finally:
        other.close()


def test_concurrent_starts_for_one_customer_share_the_customer(runtime: Runtime) -> None:
    barrier = threading.Barrier(8)

    def start(_: int) -> None:
        barrier.wait()
        runtime.conversations.start(customer_external_id="rider-42")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(start, range(8)))
    with runtime.sessions() as session:
        customers = session.scalar(
            select(func.count(Customer.id)).where(
                Customer.external_id_hash == blind_index(keyring_of(runtime.engine), "rider-42")
            )
        )
        conversations = session.scalar(select(func.count(Conversation.id)))
    assert (customers, conversations) == (1, 8)


def test_tenants_sharing_a_database_see_only_their_own_conversations(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    other_settings = settings.model_copy(update={"tenant": "other-operator"})
    prepare_database(other_settings)
    other = Runtime.build(other_settings)
    try:
        conv = runtime.conversations.start()
        runtime.conversations.post(conv.id, "押金怎么退")
        for call in (
            lambda: other.conversations.get(conv.id),
            lambda: other.conversations.messages(conv.id),
            lambda: other.conversations.post(conv.id, "hi"),
        ):
            try:
                call()
            except NotFound:
                continue
            raise AssertionError("another tenant reached this conversation")
        assert other.tenant.id != runtime.tenant.id
    finally:
        other.close()
