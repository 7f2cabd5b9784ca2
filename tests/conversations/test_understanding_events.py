"""The message path carries the whole Parse into the turn event: intent (after `kefu train`),
entities, sentiment and the FAQ outcome, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from kefu.cli import app
from kefu.config import Settings
from kefu.conversations.models import TurnEvent
from kefu.runtime import Runtime, prepare_database
from kefu.understanding.engine import NluEngine
from kefu.understanding.faq import FaqMatcher


def test_turn_event_records_intent_entities_and_sentiment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare_database(settings)
    monkeypatch.setenv("KEFU_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("KEFU_DATABASE_URL", settings.effective_database_url)
    res = CliRunner().invoke(app, ["train"])
    assert res.exit_code == 0, res.output
    runtime = Runtime.build(settings)
    try:
        conversation = runtime.conversations.start(language="zh", channel="test")
        runtime.conversations.post(
            conversation.id, "气死了！车B123456刹车坏了，13812345678 给我回电", str(uuid.uuid4())
        )
        with runtime.sessions() as session:
            event = session.scalars(select(TurnEvent)).one()
        summary = event.understanding
        assert event.intent == summary["intent"] == "bike.report_fault"
        assert {e["type"] for e in summary["entities"]} >= {"bike_code", "phone"}
        assert summary["sentiment"]["polarity"] == "negative"
        assert "anger" in summary["sentiment"]["levels"]
        assert summary["faq_outcome"] in ("answer", "clarify", "none")
    finally:
        runtime.close()


def test_question_vectors_are_stored_with_entries_and_reused(settings: Settings) -> None:
    from kefu.knowledge.models import KnowledgeEntryRow
    from kefu.knowledge.pack import parse_pack
    from kefu.knowledge.service import import_pack
    from kefu.tenants.models import Tenant
    from tests.knowledge.test_pack import GOOD

    prepare_database(settings)
    Runtime.build(settings).close()
    with Runtime.build(settings).sessions() as session:
        rows = session.scalars(select(KnowledgeEntryRow)).all()
        assert rows and all(r.vectors and r.vectors_key for r in rows)
        before = {r.entry_id: r.vectors_key for r in rows}
    # A rebuild encodes nothing: every entry's vectors are still valid.
    runtime = Runtime.build(settings)
    try:
        assert matcher_of(runtime).fresh_vectors == {}
        # A new or edited entry is encoded, and only that one.
        with runtime.sessions.begin() as session:
            import_pack(session, session.get_one(Tenant, runtime.tenant.id), parse_pack(GOOD))
        runtime.conversations.bot.refresh(force=True)
        assert set(matcher_of(runtime).fresh_vectors) == {"demo.deposit"}
    finally:
        runtime.close()
    with Runtime.build(settings).sessions() as session:
        after = {r.entry_id: r.vectors_key for r in session.scalars(select(KnowledgeEntryRow))}
    assert all(after[k] == v for k, v in before.items())


def matcher_of(runtime: Runtime) -> FaqMatcher:
    understander = runtime.conversations.bot.pipeline.understander
    assert isinstance(understander, NluEngine)
    return understander.faq


def test_a_model_trained_while_serving_is_picked_up_without_a_restart(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare_database(settings)
    runtime = Runtime.build(settings)
    try:
        assert matcher_engine(runtime).intents is None
        monkeypatch.setenv("KEFU_DATA_DIR", str(settings.data_dir))
        monkeypatch.setenv("KEFU_DATABASE_URL", settings.effective_database_url)
        assert CliRunner().invoke(app, ["train"]).exit_code == 0
        runtime.conversations.bot.refresh()
        first = matcher_engine(runtime).intents
        assert first is not None
        # A broken model written later is refused; the bot keeps the one it has.
        current = settings.effective_models_dir / "intent" / "current"
        current.write_text("no-such-version\n")
        runtime.conversations.bot.refresh()
        assert matcher_engine(runtime).intents is first
    finally:
        runtime.close()


def matcher_engine(runtime: Runtime) -> NluEngine:
    understander = runtime.conversations.bot.pipeline.understander
    assert isinstance(understander, NluEngine)
    return understander
