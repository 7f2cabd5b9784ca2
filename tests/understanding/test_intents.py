from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from kefu.understanding.embeddings import make_embedder
from kefu.understanding.features import TfidfVocabulary, lexical_terms
from kefu.understanding.intents import IntentModel, ModelError, train_intents

EXAMPLES = [
    *[
        (t, "refund")
        for t in (
            "帮我退款",
            "这单给我退钱",
            "refund my ride",
            "i want my money back",
            "多扣了钱要退",
            "charged twice please refund",
            "退一下车费",
            "退款",
        )
    ],
    *[
        (t, "fault")
        for t in (
            "车坏了",
            "刹车失灵",
            "the brake is broken",
            "flat tyre on bike",
            "链条掉了",
            "seat is broken",
            "车把歪了",
            "报修",
        )
    ],
    *[
        (t, "greet")
        for t in ("你好", "在吗", "hello", "hi there", "早上好", "good morning", "哈喽", "hey")
    ],
    *[
        (t, "out_of_scope")
        for t in (
            "今天天气怎么样",
            "讲个笑话",
            "what's the weather",
            "tell me a joke",
            "股票涨了吗",
            "who won the game",
            "1+1等于几",
            "recommend a movie",
        )
    ],
]


@pytest.fixture(scope="module")
def model() -> IntentModel:
    return train_intents(EXAMPLES, make_embedder("use-multilingual"), oos_label="out_of_scope")


def test_lexical_terms_cover_chinese_ngrams_and_english_words() -> None:
    terms = lexical_terms("退押金 refund deposit")
    assert {"z退", "z退押", "z退押金", "wrefund", "brefund deposit", "c ref"} <= set(terms)
    assert lexical_terms("") == Counter()


def test_tfidf_rows_are_unit_length_and_ignore_unknown_terms() -> None:
    vocab = TfidfVocabulary.fit([lexical_terms("退押金"), lexical_terms("押金")])
    cols, weights = vocab.row(lexical_terms("押金 unknown"))
    assert len(cols) and np.isclose(np.linalg.norm(weights), 1.0)
    assert vocab.row(Counter({"never-seen": 1}))[0].size == 0


def test_predicts_paraphrases_in_both_languages(model: IntentModel) -> None:
    embed = make_embedder("use-multilingual")
    for text, label in [
        ("能不能把钱退给我", "refund"),
        ("my bike's brake doesn't work", "fault"),
        ("您好", "greet"),
    ]:
        prediction = model.predict(text, embed.embed([text])[0])
        assert prediction.label == label, (text, prediction)
        assert 0 < prediction.confidence <= 1
        assert (
            abs(sum(p for _, p in model.predict(text, embed.embed([text])[0], top=4).ranking) - 1)
            < 1e-3
        )


def test_out_of_scope_is_none(model: IntentModel) -> None:
    embed = make_embedder("use-multilingual")
    prediction = model.predict("明天会下雨吗", embed.embed(["明天会下雨吗"])[0])
    assert prediction.label is None and prediction.ranking


def test_hostile_and_empty_text_never_raise(model: IntentModel) -> None:
    embed = make_embedder("use-multilingual")
    for text in ("", "\u200b\u200b", "🚲" * 500, "'; DROP TABLE intents; --" * 300, "<script>x"):
        model.predict(text, embed.embed([text])[0])


def test_artifact_is_versioned_and_loads_fast(model: IntentModel, tmp_path: Path) -> None:
    first = model.save(tmp_path)
    time.sleep(1.1)
    second = model.save(tmp_path)
    assert first != second and (tmp_path / "current").read_text().strip() == second.name
    started = time.perf_counter()
    loaded = IntentModel.load(tmp_path)
    assert time.perf_counter() - started < 0.5
    assert loaded.version == second.name and loaded.labels == model.labels
    vector = make_embedder("use-multilingual").embed(["车坏了"])[0]
    assert loaded.predict("车坏了", vector) == model.predict("车坏了", vector)
    assert IntentModel.load(first).version == first.name  # an older version stays loadable


def test_missing_or_foreign_artifacts_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="kefu train"):
        IntentModel.load(tmp_path)
    (tmp_path / "meta.json").write_text('{"format": 99, "kind": "intent"}')
    (tmp_path / "model.npz").write_bytes(b"")
    with pytest.raises(ModelError):
        IntentModel.load(tmp_path)


def test_one_intent_is_not_enough() -> None:
    with pytest.raises(ModelError, match="two intents"):
        train_intents([("a", "x"), ("b", "x")], make_embedder("hashed-ngram-64"))


def test_two_intents_train_with_the_model_free_embedder() -> None:
    data = [
        ("refund please", "a"),
        ("give money back", "a"),
        ("bike broken", "b"),
        ("brake broken", "b"),
    ]
    model = train_intents(data, make_embedder("hashed-ngram-64"))
    vector = make_embedder("hashed-ngram-64").embed(["broken bike"])[0]
    assert model.predict("broken bike", vector).label == "b"
