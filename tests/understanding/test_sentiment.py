from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kefu.errors import KefuError
from kefu.text.normalize import normalize_aligned
from kefu.text.tokenize import Tokenizer
from kefu.understanding.embeddings import make_embedder
from kefu.understanding.emotion import EmotionScorer
from kefu.understanding.sentiment import SentimentModel, hashed_terms, train_sentiment

TOKENIZER = Tokenizer()


def predict(model: SentimentModel, text: str):  # type: ignore[no-untyped-def]
    vector = make_embedder("use-multilingual").embed([text])[0]
    return model.predict(text, TOKENIZER.tokenize(normalize_aligned(text)), vector)


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return SentimentModel.load()


@pytest.mark.parametrize(
    ("text", "polarity"),
    [
        ("服务太差了，车还坏了，气死我了", "negative"),
        ("师傅很热情，房间干净，非常满意！", "positive"),
        ("The bike was broken and nobody helped me. Terrible.", "negative"),
        ("Great stay, the host was lovely, thanks!", "positive"),
        ("押金怎么退？", "neutral"),
        ("How do I unlock the bike?", "neutral"),
    ],
)
def test_bundled_model_polarity_in_both_languages(
    model: SentimentModel, text: str, polarity: str
) -> None:
    assert predict(model, text).polarity == polarity


def test_emotions_come_with_levels(model: SentimentModel) -> None:
    angry = predict(model, "什么垃圾服务，我要投诉！！")
    assert angry.levels.get("anger") == "strong" and angry.emotions["anger"] >= 2
    urgent = predict(model, "急！！车锁不上一直在扣费，快点处理")
    assert "anxiety" in urgent.levels
    happy = predict(model, "thanks so much, that was super helpful 👍")
    assert "satisfaction" in happy.levels and "anger" not in happy.levels
    assert predict(model, "不满意").emotions["anger"] > 0  # negated satisfaction reads as anger


def test_lexicon_examples_hold() -> None:
    scorer = EmotionScorer.default()
    for cases in scorer.examples.values():
        for case in cases:
            found = {e for e, s in scorer.score(case["text"]).items() if scorer.level(s)}
            assert found == set(case["expect"]), case


def test_hostile_input_never_raises(model: SentimentModel) -> None:
    for text in (
        "",
        "\u200b" * 50,
        "🤬" * 3000,
        "<script>alert(1)</script>",
        "'; DROP TABLE--" * 500,
    ):
        result = predict(model, text)
        assert 0.0 <= result.positive <= 1.0


def test_hashed_terms_are_unit_length() -> None:
    index, values = hashed_terms(
        "押金怎么退 deposit", TOKENIZER.tokenize(normalize_aligned("押金怎么退"))
    )
    assert len(index) == len(values) and np.isclose(np.linalg.norm(values), 1.0)


def test_train_save_and_load_round_trip(tmp_path: Path) -> None:
    texts = [
        "很好",
        "非常满意",
        "太棒了",
        "good",
        "great",
        "差评",
        "太差了",
        "垃圾",
        "bad",
        "awful",
    ]
    labels = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    embedder = make_embedder("use-multilingual")
    vectors = embedder.embed(texts)
    tokens = [TOKENIZER.tokenize(normalize_aligned(t)) for t in texts]
    model = train_sentiment(texts, labels, tokens, vectors, embedder.name)
    model.save(tmp_path / "m.npz")
    loaded = SentimentModel.load(tmp_path / "m.npz")
    assert predict(loaded, "很好很满意").positive == predict(model, "很好很满意").positive
    assert predict(loaded, "很好很满意").positive > predict(loaded, "太差了垃圾").positive
    with pytest.raises(KefuError, match="positive and negative"):
        train_sentiment(texts[:3], labels[:3], tokens[:3], vectors[:3], embedder.name)
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(KefuError, match="cannot read"):
        SentimentModel.load(tmp_path / "bad.npz")
