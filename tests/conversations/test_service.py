"""The conversation service without HTTP: persistence guarantees."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kefu.config import Settings
from kefu.conversations.models import Message, TurnEvent
from kefu.errors import Conflict, InvalidInput, NotFound
from kefu.runtime import Runtime


def test_turn_event_records_understanding_decision_and_latency(runtime: Runtime) -> None:
    conv = runtime.conversations.start()
    posted = runtime.conversations.post(conv.id, "押金怎么退", "a")
    with runtime.sessions() as session:
        event = session.scalar(select(TurnEvent).where(TurnEvent.message_id == posted.message.id))
    assert event is not None
    assert event.decision == "answer"
    assert event.faq_entry_id == "bike.deposit_refund"
    assert event.language == "zh"
    assert 0 < event.score <= 1  # type: ignore[operator]
    assert event.latency_ms >= 0
    assert event.understanding["faq"][0]["entry_id"] == "bike.deposit_refund"


def test_message_is_stored_even_when_answering_fails(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv = runtime.conversations.start()

    def broken(*_: object) -> None:
        raise RuntimeError("pipeline crashed")

    monkeypatch.setattr(runtime.conversations.bot.pipeline, "handle", broken)
    with pytest.raises(RuntimeError):
        runtime.conversations.post(conv.id, "押金怎么退", "first-try")
    monkeypatch.undo()
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(Message.id))) == 1
    # The retry answers the stored message instead of storing a second one.
    posted = runtime.conversations.post(conv.id, "押金怎么退", "first-try")
    assert not posted.duplicate
    assert posted.replies and posted.replies[0].payload["faq"] == "bike.deposit_refund"  # type: ignore[index]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(Message.id))) == 2


def test_validation_errors(runtime: Runtime) -> None:
    conv = runtime.conversations.start()
    with pytest.raises(InvalidInput):
        runtime.conversations.post(conv.id, " \u200b ")
    with pytest.raises(InvalidInput):
        runtime.conversations.post(conv.id, "x" * (runtime.settings.max_message_chars + 1))
    import uuid

    with pytest.raises(NotFound):
        runtime.conversations.post(uuid.uuid4(), "hi")
    runtime.conversations.close(conv.id)
    with pytest.raises(Conflict):
        runtime.conversations.post(conv.id, "hi")


def test_messages_survive_a_restart(settings: Settings, runtime: Runtime) -> None:
    conv = runtime.conversations.start()
    runtime.conversations.post(conv.id, "押金怎么退", "before-restart")
    runtime.close()
    again = Runtime.build(settings)
    try:
        texts = [m.text for m in again.conversations.messages(conv.id)]
        assert texts[0] == "押金怎么退" and len(texts) == 2
        retry = again.conversations.post(conv.id, "押金怎么退", "before-restart")
        assert retry.duplicate
    finally:
        again.close()
