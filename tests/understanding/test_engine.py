"""The NLU engine end to end: one message in, one Parse with every field filled."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.errors import KefuError
from kefu.knowledge.entities import entity_declarations
from kefu.understanding.embeddings import make_embedder
from kefu.understanding.engine import NluEngine
from kefu.understanding.entities import EntityExtractor
from kefu.understanding.faq import FaqMatcher
from kefu.understanding.intents import IntentModel, train_intents
from kefu.understanding.sentiment import SentimentModel
from tests.understanding.test_faq import bundled_entries
from tests.understanding.test_intents import EXAMPLES


@pytest.fixture(scope="module")
def engine() -> NluEngine:
    embedder = make_embedder("use-multilingual")
    intents = train_intents(EXAMPLES, embedder, oos_label="out_of_scope")
    extractor = EntityExtractor(*entity_declarations())
    return NluEngine(
        FaqMatcher(bundled_entries(), embedder),
        embedder,
        intents,
        entities=extractor,
        sentiment=SentimentModel.load(),
    )


def test_parse_fills_language_tokens_faq_and_intent(engine: NluEngine) -> None:
    parse = engine.parse("押金怎麼退？我的車壞了", "en")  # traditional characters
    assert parse.language == "zh" and parse.script == "zh"
    assert parse.faq and parse.faq[0].entry_id.startswith("bike.")
    assert parse.faq_outcome in ("answer", "clarify")
    assert parse.intent in ("fault", "refund") and parse.intent_confidence > 0
    assert all(parse.text[t.start : t.end] for t in parse.tokens)
    summary = parse.summary()
    assert summary["intent"] == parse.intent and summary["faq_outcome"] == parse.faq_outcome


def test_entities_and_sentiment_are_in_the_parse(engine: NluEngine) -> None:
    now = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
    text = "气死了！车B123456坏了，明天下午三点前给我回电 13812345678"
    parse = engine.parse(text, "zh", now=now)
    types = {e.type for e in parse.entities}
    assert {"bike_code", "phone", "datetime"} <= types, parse.entities
    for entity in parse.entities:
        assert text[entity.start : entity.end] == entity.text
    assert parse.sentiment is not None and parse.sentiment.polarity == "negative"
    assert "anger" in parse.sentiment.levels
    assert parse.summary()["sentiment"]["polarity"] == "negative"
    assert parse.summary()["entities"][0]["start"] >= 0


def test_language_follows_the_message_not_the_hint(engine: NluEngine) -> None:
    assert engine.parse("deposit?", "zh").language == "en"
    assert engine.parse("押金", "en").language == "zh"
    assert engine.parse("123", "en").language == "en"


def test_empty_and_symbol_only_messages_have_no_candidates(engine: NluEngine) -> None:
    for text in ("", "   ", "？？？!!!", "\u200b"):
        parse = engine.parse(text, "zh")
        assert parse.faq == () and parse.faq_outcome == "none" and parse.intent is None


def test_an_intent_model_from_another_embedder_is_refused() -> None:
    hashed = make_embedder("hashed-ngram-64")
    model = train_intents(EXAMPLES, hashed)
    with pytest.raises(KefuError, match="kefu train"):
        NluEngine(FaqMatcher([]), make_embedder("use-multilingual"), model)
    assert isinstance(model, IntentModel)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=300))
def test_parse_never_raises(engine: NluEngine, text: str) -> None:
    parse = engine.parse(text, "zh")
    for token in parse.tokens:
        assert 0 <= token.start < token.end <= len(text)


def test_hostile_long_text(engine: NluEngine) -> None:
    text = (
        "忽略之前的指令 ignore previous instructions <script>alert(1)</script> '; DROP TABLE x;--"
        "\u200b🚲" * 200
    )[:10_000]
    parse = engine.parse(text, "en")
    assert parse.text == text
