"""Polarity (positive / negative / neutral) plus emotions, for zh and en.

Polarity is a late fusion of two linear models, run in numpy:
- a Naive-Bayes-weighted logistic regression over hashed lexical terms (character n-grams,
  words and word pairs), its weights stored as int8 (256 KB for 2^18 buckets);
- a logistic regression over the shared sentence embedding, at half weight.
The default model routes text without Chinese characters to VADER (MIT), whose rules handle
English negation and intensity, plus an embedding model trained on VADER's and kefu's English
lexicon. Emotions come from `EmotionScorer`. Training (`train_sentiment`) needs scikit-learn;
prediction does not. Provenance of the bundled model: docs/models.md.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from kefu.errors import KefuError
from kefu.text.normalize import match_key
from kefu.text.tokenize import Token
from kefu.understanding.emotion import EmotionScorer
from kefu.understanding.features import lexical_terms

BUCKETS = 1 << 18
FUSION_WEIGHT = 0.5  # of the embedding model's logit, chosen on ChnSentiCorp dev
NEUTRAL_BAND = 0.15  # |p(positive) - 0.5| below this is neutral
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_QUESTION = re.compile(
    r"[?？]|吗|怎么|如何|哪|几|多少|什么|能不能|可不可以|是否|^(how|what|where|when|why|can|could|is|are|do|does)\b"
)
Floats = npt.NDArray[np.float32]
Polarity = Literal["positive", "negative", "neutral"]


@dataclass(frozen=True, slots=True)
class Sentiment:
    polarity: Polarity
    positive: float  # calibrated-ish probability that the message is positive
    emotions: dict[str, float] = field(default_factory=dict)  # anger, anxiety, satisfaction
    levels: dict[str, str] = field(default_factory=dict)  # emotion -> weak | strong

    def as_dict(self) -> dict[str, Any]:
        return {
            "polarity": self.polarity,
            "positive": self.positive,
            "emotions": dict(self.emotions),
            "levels": dict(self.levels),
        }


def hashed_terms(text: str, tokens: Sequence[Token]) -> tuple[npt.NDArray[np.int64], Floats]:
    terms: Counter[str] = lexical_terms(match_key(text))
    words = [t.text for t in tokens]
    terms.update("j" + w for w in words)
    terms.update("k" + a + "|" + b for a, b in pairwise(words))
    buckets: Counter[int] = Counter()
    for term, count in terms.items():
        buckets[zlib.crc32(term.encode("utf-8")) & (BUCKETS - 1)] += count
    if not buckets:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    index = np.fromiter(buckets.keys(), np.int64, len(buckets))
    weights = 1.0 + np.log(np.fromiter(buckets.values(), np.float32, len(buckets)))
    return index, (weights / np.linalg.norm(weights)).astype(np.float32)


class SentimentModel:
    def __init__(self, arrays: dict[str, Any], emotions: EmotionScorer | None = None) -> None:
        self.weights = np.asarray(arrays["w_q"], dtype=np.int8)
        self.scale = float(arrays["scale"])
        self.bias = float(arrays["b"])
        self.u = np.asarray(arrays["u"], dtype=np.float32)
        self.ub = float(arrays["ub"])
        self.embedder = str(arrays["embedder"])
        self.route_english = bool(arrays["route_english"])
        self.emotions = emotions or EmotionScorer.default()
        self._vader: Any = None
        if self.route_english:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            self._vader = SentimentIntensityAnalyzer()
            self.u_en = np.asarray(arrays["u_en"], dtype=np.float32)
            self.ub_en = float(arrays["ub_en"])
            self.vader_weight = float(arrays["vader_w"])

    @classmethod
    def load(cls, path: Path | None = None) -> SentimentModel:
        """A saved model, or the one bundled with kefu."""
        source = path or Path(str(resources.files("kefu.understanding") / "models/sentiment.npz"))
        try:
            with np.load(source) as arrays:
                return cls(dict(arrays))
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise KefuError(
                f"cannot read the sentiment model {source}: {exc}", code="model_error"
            ) from None

    def logit(self, text: str, tokens: Sequence[Token], vector: Floats | None) -> float:
        if self._vader is not None and not _HAN.search(text):
            score = self.vader_weight * float(self._vader.polarity_scores(text[:2000])["compound"])
            if vector is not None:
                score += float(vector @ self.u_en) + self.ub_en
            return score
        index, values = hashed_terms(text, tokens)
        score = float(values @ self.weights[index].astype(np.float32)) * self.scale + self.bias
        if vector is not None:
            score += FUSION_WEIGHT * (float(vector @ self.u) + self.ub)
        return score

    def predict(self, text: str, tokens: Sequence[Token], vector: Floats | None) -> Sentiment:
        positive = float(1.0 / (1.0 + np.exp(-np.clip(self.logit(text, tokens, vector), -30, 30))))
        emotions = self.emotions.score(text)
        levels = {e: lv for e, s in emotions.items() if (lv := self.emotions.level(s))}
        polarity: Polarity = "positive" if positive >= 0.5 else "negative"
        # A plain question with no emotion in it is not a complaint, whatever the words lean.
        asks = bool(_QUESTION.search(text.strip().lower()))
        if abs(positive - 0.5) < NEUTRAL_BAND or (asks and not levels):
            polarity = "neutral"
        return Sentiment(polarity, round(positive, 4), emotions, levels)

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {
            "w_q": self.weights,
            "scale": self.scale,
            "b": self.bias,
            "u": self.u.astype(np.float16),
            "ub": self.ub,
            "embedder": self.embedder,
            "route_english": self.route_english,
        }
        if self.route_english:
            arrays |= {
                "u_en": self.u_en.astype(np.float16),
                "ub_en": self.ub_en,
                "vader_w": self.vader_weight,
            }
        # Written beside and renamed over: a server reloading never reads half a file.
        partial = path.with_name(path.name + ".partial.npz")
        np.savez_compressed(partial, **arrays)
        partial.replace(path)


def _nb_ratio(x: Any, y: npt.NDArray[np.int64], alpha: float = 1.0) -> Floats:
    binary = x.copy()
    binary.data[:] = 1
    p = alpha + np.asarray(binary[y == 1].sum(0)).ravel()
    q = alpha + np.asarray(binary[y == 0].sum(0)).ravel()
    ratio: Floats = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
    return ratio


def train_sentiment(
    texts: Sequence[str],
    labels: Sequence[int],
    tokens: Sequence[Sequence[Token]],
    vectors: Floats,
    embedder: str,
    *,
    c_terms: float = 30.0,
    c_dense: float = 1.0,
    english: tuple[Floats, npt.NDArray[np.int64]] | None = None,
) -> SentimentModel:
    """Fit both halves on labelled texts (1 positive, 0 negative). With `english` (vectors and
    labels of English lexicon terms), the model routes non-Chinese text to VADER + that."""
    from scipy.sparse import csr_matrix, diags
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels, dtype=np.int64)
    if len(set(y.tolist())) < 2:
        raise KefuError(
            "sentiment training needs positive and negative examples", code="model_error"
        )
    rows = [hashed_terms(t, tok) for t, tok in zip(texts, tokens, strict=True)]
    indptr = np.cumsum([0] + [len(i) for i, _ in rows])
    x = csr_matrix(
        (np.concatenate([v for _, v in rows]), np.concatenate([i for i, _ in rows]), indptr),
        shape=(len(texts), BUCKETS),
        dtype=np.float32,
    )
    ratio = _nb_ratio(x, y)
    terms = LogisticRegression(C=c_terms, max_iter=5000, solver="liblinear").fit(
        x @ diags(ratio), y
    )
    w = (terms.coef_.ravel() * ratio).astype(np.float32)  # the NB ratio folded into the weights
    scale = float(np.abs(w).max() / 127.0) or 1.0
    dense = LogisticRegression(C=c_dense, max_iter=3000).fit(vectors, y)
    arrays: dict[str, Any] = {
        "w_q": np.clip(np.round(w / scale), -127, 127).astype(np.int8),
        "scale": scale,
        "b": float(terms.intercept_[0]),
        "u": dense.coef_.ravel().astype(np.float32),
        "ub": float(dense.intercept_[0]),
        "embedder": embedder,
        "route_english": english is not None,
    }
    if english is not None:
        en = LogisticRegression(C=0.3, max_iter=3000).fit(english[0], english[1])
        arrays |= {"u_en": en.coef_.ravel(), "ub_en": float(en.intercept_[0]), "vader_w": 2.0}
    return SentimentModel(arrays)
