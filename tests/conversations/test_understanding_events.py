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
