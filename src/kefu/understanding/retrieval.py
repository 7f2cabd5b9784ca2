"""Hybrid FAQ retrieval: BM25 over words, BM25 over character n-grams, dense sentence vectors,
keyword coverage and exact matches, fused by a small logistic model into one calibrated score
(the probability that the entry answers the message), then one of three outcomes: answer,
clarify (the best candidates are too close to call: offer them), or no answer.

The fusion weights and the outcome thresholds are learned (`fit_fusion`) on development
queries: the knowledge base's own similar questions, each hidden from the index in turn, plus
out-of-scope messages. Every edit (`upsert`, `remove`) changes only the rows of one entry.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kefu.errors import KefuError
from kefu.knowledge.pack import LANGS, KnowledgeEntry
from kefu.text.normalize import key_of, match_key, normalize, normalize_aligned
from kefu.text.tokenize import Tokenizer
from kefu.understanding.bm25 import Bm25Index
from kefu.understanding.embeddings import Embedder
from kefu.understanding.ngram import faq_terms
from kefu.understanding.parse import FaqCandidate, FaqOutcome, MatchMethod

Outcome = FaqOutcome
FEATURES = ("dense", "words", "chars", "keywords", "exact")
CANDIDATES = 20  # rows per signal considered before fusing


@dataclass(frozen=True)
class Fusion:
    """Weights over FEATURES (+ bias) and the outcome thresholds.

    The defaults were fitted by `fit_fusion` on the bundled packs (leave-one-out similar
    questions; out-of-scope examples of the common pack's intents file), with the default
    embedder: `kefu train` refits them on the operator's own knowledge base."""

    weights: tuple[float, ...]
    bias: float
    answer: float = 0.5  # answer when the top score reaches this...
    margin: float = 0.1  # ...and leads the runner-up by this much
    clarify: float = 0.3  # otherwise offer the top candidates when the best reaches this

    def as_dict(self) -> dict[str, object]:
        return {"features": list(FEATURES), **self.__dict__}

    @classmethod
    def default_for(cls, embedder: Embedder | None) -> Fusion:
        """Defaults fitted by `fit_fusion` on the bundled packs: half of their leave-one-out
        similar questions plus 400 out-of-scope messages from the banking77 train and SMP2017
        dev splits (bench/faq_calibration.py); refitted on the operator's own knowledge by
        `kefu train`. Without a model, dense similarity carries no weight."""
        if embedder is None or embedder.name.startswith("hashed-ngram"):
            return cls((0.0, 0.67, 5.8, 6.3, 0.0), -5.7, 0.45, 0.3, 0.3)
        return cls((10.0, -0.1, 1.6, 4.16, 0.0), -9.29, 0.35, 0.3, 0.2)

    def score(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        z = features @ np.asarray(self.weights) + self.bias
        out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        # A message that is one of the bank's questions, once normalised, is that question:
        # development queries never contain such a match, so its weight can't be learned.
        return np.where(features[:, 4] > 0, np.maximum(out, 0.99), out)

    def outcome(self, candidates: Sequence[FaqCandidate]) -> Outcome:
        if not candidates:
            return "none"
        top = candidates[0].score
        second = candidates[1].score if len(candidates) > 1 else 0.0
        if candidates[0].method == "exact" and (
            len(candidates) == 1 or candidates[1].method != "exact"
        ):
            return "answer"  # the message is one of the bank's questions, and only one entry's
        if top >= self.answer and top - second >= self.margin:
            return "answer"
        if top >= self.clarify:
            return "clarify"
        return "none"


@dataclass
class _Row:
    entry: str
    question: str
    words: Counter[str]
    chars: Counter[str]


# Analysed questions by tokenizer dictionary, then by text: a knowledge change rebuilds the
# index, and re-analysing thousands of unchanged questions made every edit take seconds. Only
# the latest dictionary's are kept. The counters are shared between indexes, never modified.
_ANALYSED: dict[str, dict[str, tuple[str, Counter[str], Counter[str], str]]] = {}
_ANALYSED_MAX = 200_000


@dataclass
class _Entry:
    rows: list[int] = field(default_factory=list)
    keywords: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()


class HybridFaqIndex:
    def __init__(
        self,
        tokenizer: Tokenizer,
        embedder: Embedder | None = None,
        fusion: Fusion | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.embedder = embedder
        self.fusion = fusion or Fusion.default_for(embedder)
        self._rows: list[_Row | None] = []
        self._entries: dict[str, _Entry] = {}
        self._exact: dict[str, set[str]] = {}
        self._words = Bm25Index()
        self._chars = Bm25Index()
        dim = embedder.dim if embedder else 1
        self._vectors = np.zeros((64, dim), dtype=np.float32)
        self._alive = np.zeros(64, dtype=bool)

    # -- edits ------------------------------------------------------------------------------
    def upsert(self, entry: KnowledgeEntry, vectors: npt.NDArray[np.float32] | None = None) -> None:
        """Index (or re-index) one entry; a disabled entry is removed. `vectors` may carry the
        entry's question vectors (stored with the entry), in `questions()` order."""
        if not entry.enabled:
            self.remove(entry.id)
            return
        keywords = [k for lang in LANGS for k in entry.keywords.get(lang)]
        questions = [q for lang in LANGS for q in entry.questions(lang)]
        self.upsert_questions(entry.id, questions, keywords, vectors)

    def upsert_questions(
        self,
        entry_id: str,
        questions: Sequence[str],
        keywords: Sequence[str] = (),
        vectors: npt.NDArray[np.float32] | None = None,
    ) -> None:
        """Index one entry from its questions (any language) and keywords."""
        self.remove(entry_id)
        if self.embedder is not None and (vectors is None or len(vectors) != len(questions)):
            vectors = self.embedder.embed(list(questions))
        state = _Entry(keywords=tuple(k for k in (normalize(x) for x in keywords) if k))
        analysed = _ANALYSED.get(self.tokenizer.signature)
        if analysed is None:
            # Another dictionary (keywords changed): its predecessors' analyses are stale.
            _ANALYSED.clear()
            analysed = _ANALYSED.setdefault(self.tokenizer.signature, {})
        exacts: set[str] = set()
        for i, question in enumerate(questions):
            row = len(self._rows)
            found = analysed.get(question)
            if found is None:
                key = match_key(question)
                exact = key_of(normalize(question))
                found = (key, self._word_terms(question), faq_terms(key), exact)
                if len(analysed) < _ANALYSED_MAX:
                    analysed[question] = found
            key, words, chars, exact = found
            record = _Row(entry_id, question, words, chars)
            self._rows.append(record)
            self._words.add(row, record.words)
            self._chars.add(row, record.chars)
            self._grow(row + 1)
            self._alive[row] = True
            if vectors is not None:
                self._vectors[row] = vectors[i]
            state.rows.append(row)
            self._exact.setdefault(exact, set()).add(entry_id)
            exacts.add(exact)
        state.exact = tuple(exacts)
        self._entries[entry_id] = state

    def remove(self, entry_id: str) -> None:
        state = self._entries.pop(entry_id, None)
        if state is None:
            return
        for row in state.rows:
            record = self._rows[row]
            assert record is not None
            self._words.remove(row, record.words)
            self._chars.remove(row, record.chars)
            self._rows[row] = None
            self._alive[row] = False
        for key in state.exact:
            owners = self._exact.get(key)
            if owners is not None:
                owners.discard(entry_id)
                if not owners:
                    del self._exact[key]

    def _grow(self, size: int) -> None:
        if size <= len(self._alive):
            return
        capacity = max(size, 2 * len(self._alive))
        vectors = np.zeros((capacity, self._vectors.shape[1]), dtype=np.float32)
        vectors[: len(self._vectors)] = self._vectors
        alive = np.zeros(capacity, dtype=bool)
        alive[: len(self._alive)] = self._alive
        self._vectors, self._alive = vectors, alive

    def _word_terms(self, text: str) -> Counter[str]:
        return Counter(t.text for t in self.tokenizer.tokenize(normalize_aligned(text)))

    # -- queries ----------------------------------------------------------------------------
    @property
    def entry_ids(self) -> list[str]:
        return list(self._entries)

    def questions(self) -> list[tuple[int, str, str]]:
        """(row, entry id, question) of every indexed question."""
        return [(i, r.entry, r.question) for i, r in enumerate(self._rows) if r is not None]

    def features(
        self,
        text: str,
        vector: npt.NDArray[np.float32] | None = None,
        exclude: Iterable[int] = (),
        skip: Collection[str] = (),
    ) -> tuple[list[str], npt.NDArray[np.float64], list[int]]:
        """Candidate entries for `text`, their feature rows (FEATURES order) and the row of
        each entry's best-matching question. `exclude` hides rows (leave-one-out); `skip`
        hides whole entries (not valid today), before the top rows are picked, so they can't
        crowd out the others."""
        normalized = normalize(text)
        key = key_of(normalized)
        if not key or not self._entries:
            return [], np.zeros((0, len(FEATURES))), []
        hidden = set(exclude)
        for entry_id in skip:
            state = self._entries.get(entry_id)
            if state is not None:
                hidden.update(state.rows)
        size = len(self._rows)
        signals = [
            np.zeros(size),
            self._words.scores(self._word_terms(text), size),
            self._chars.scores(faq_terms(match_key(text)), size),
        ]
        if self.embedder is not None:
            if vector is None:
                vector = self.embedder.embed([text])[0]
            signals[0] = (self._vectors[:size] @ vector).astype(np.float64)
        # Per entry: the best value of each signal over its questions, among each signal's
        # top rows (dead and hidden rows can't compete).
        best: dict[str, list[float]] = {}
        best_row: dict[str, tuple[float, int]] = {}
        blocked = ~self._alive[:size]
        if hidden:
            blocked = blocked.copy()
            blocked[list(hidden)] = True
        for column, signal in enumerate(signals):
            signal[blocked] = -1.0
            top = np.argpartition(-signal, min(CANDIDATES, size - 1))[:CANDIDATES]
            for row in top[signal[top] > 0].tolist():
                record = self._rows[row]
                assert record is not None
                value = float(signal[row])
                values = best.setdefault(record.entry, [0.0] * len(FEATURES))
                values[column] = max(values[column], min(value, 1.5))
                if value > best_row.get(record.entry, (-9.0, 0))[0]:
                    best_row[record.entry] = (value, row)
        hidden_questions = {key_of(normalize(r.question)) for i in hidden if (r := self._rows[i])}
        if key not in hidden_questions:
            for entry_id in self._exact.get(key, ()):
                if entry_id in skip:
                    continue
                best.setdefault(entry_id, [0.0] * len(FEATURES))[4] = 1.0
                best_row.setdefault(entry_id, (1.0, self._entries[entry_id].rows[0]))
        for entry_id, values in best.items():
            terms = self._entries[entry_id].keywords
            if terms:
                values[3] = sum(1 for t in terms if t in normalized) / len(terms)
        ids = list(best)
        return ids, np.asarray([best[i] for i in ids]), [best_row[i][1] for i in ids]

    def rank(
        self,
        text: str,
        top_k: int = 3,
        vector: npt.NDArray[np.float32] | None = None,
        exclude: Iterable[int] = (),
        skip: Collection[str] = (),
    ) -> tuple[FaqCandidate, ...]:
        ids, features, rows = self.features(text, vector, exclude, skip)
        if not ids:
            return ()
        scores = self.fusion.score(features)
        order = np.argsort(-scores)[:top_k]
        out = []
        for i in order:
            method: MatchMethod = (
                "exact" if features[i, 4] else "keyword" if features[i, 3] >= 0.5 else "similarity"
            )
            record = self._rows[rows[i]]
            out.append(
                FaqCandidate(
                    ids[i], round(float(scores[i]), 4), method, record.question if record else ""
                )
            )
        return tuple(out)


def save_fusion(fusion: Fusion, path: Path, embedder: Embedder | None) -> None:
    data = {**fusion.as_dict(), "embedder": embedder.name if embedder else None}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


def load_fusion(path: Path, embedder: Embedder | None) -> Fusion | None:
    """The fusion `kefu train` fitted, or None when it was fitted for another embedder."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("embedder") != (embedder.name if embedder else None):
            return None
        if list(data["features"]) != list(FEATURES):
            return None
        return Fusion(
            tuple(float(w) for w in data["weights"]),
            float(data["bias"]),
            float(data["answer"]),
            float(data["margin"]),
            float(data["clarify"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KefuError(f"cannot read {path}: {exc}", code="model_error") from None


# -- learning the fusion -------------------------------------------------------------------


@dataclass(frozen=True)
class DevQuery:
    text: str
    entry: str | None  # None: the knowledge base cannot answer it
    exclude: tuple[int, ...] = ()


def leave_one_out(index: HybridFaqIndex, standard: set[str], limit: int = 0) -> list[DevQuery]:
    """Each similar (non-standard) question as a query with its own row hidden."""
    queries = [
        DevQuery(q, entry, (row,)) for row, entry, q in index.questions() if q not in standard
    ]
    if limit and len(queries) > limit:
        step = len(queries) / limit
        queries = [queries[int(i * step)] for i in range(limit)]
    return queries


def fit_logistic(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], l2: float = 1e-2
) -> tuple[npt.NDArray[np.float64], float]:
    """Logistic regression by Newton's method (IRLS): five features don't justify importing
    scikit-learn (seconds, ~100 MB) into a server that refits after knowledge edits."""
    design = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(design.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -30, 30)))
        grad = design.T @ (p - y) + l2 * np.r_[w[:-1], 0.0]
        hess = (design * (p * (1 - p))[:, None]).T @ design + l2 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w[:-1], float(w[-1])


# What a reply is worth to the customer (`_fit_thresholds`): a right answer 1, a wrong one -1
# (worse than none); offering candidates 0.5 when the right one is among them, else -0.25;
# no answer 0 for a question the base could answer, 1 for one it cannot.


def fit_fusion(index: HybridFaqIndex, queries: Sequence[DevQuery]) -> Fusion:
    """Fit the weights on (query, candidate) pairs, then the thresholds by expected utility."""
    xs: list[npt.NDArray[np.float64]] = []
    ys: list[float] = []
    per_query: list[tuple[list[str], npt.NDArray[np.float64], str | None]] = []
    vectors = (
        index.embedder.embed([q.text for q in queries]) if index.embedder is not None else None
    )
    for n, query in enumerate(queries):
        ids, features, _ = index.features(
            query.text, None if vectors is None else vectors[n], query.exclude
        )
        per_query.append((ids, features, query.entry))
        if ids:
            xs.append(features)
            ys += [1.0 if i == query.entry else 0.0 for i in ids]
    if not xs or not any(ys) or all(ys):
        return index.fusion
    weights, bias = fit_logistic(np.vstack(xs), np.asarray(ys))
    fusion = Fusion(tuple(float(w) for w in weights), bias)
    top1, top2, right, offered, answerable = [], [], [], [], []
    for ids, features, gold in per_query:
        scores = fusion.score(features) if ids else np.zeros(0)
        order = np.argsort(-scores)[:3]
        top1.append(float(scores[order[0]]) if ids else 0.0)
        top2.append(float(scores[order[1]]) if len(order) > 1 else 0.0)
        right.append(bool(ids) and ids[order[0]] == gold)
        offered.append(any(ids[i] == gold for i in order))
        answerable.append(gold is not None)
    return _fit_thresholds(
        fusion, *(np.asarray(v) for v in (top1, top2, right, offered, answerable))
    )


def _fit_thresholds(
    fusion: Fusion,
    top1: npt.NDArray[np.float64],
    top2: npt.NDArray[np.float64],
    right: npt.NDArray[np.bool_],
    offered: npt.NDArray[np.bool_],
    answerable: npt.NDArray[np.bool_],
) -> Fusion:
    """Grid search of (answer, margin, clarify) maximising the utility above."""
    if_answer = np.where(right, 1.0, -1.0)
    if_clarify = np.where(offered, 0.5, -0.25)
    if_none = np.where(answerable, 0.0, 1.0)
    # Answerable and unanswerable queries weigh the same in total, whatever their counts: the
    # share of out-of-scope traffic is the operator's, not the development set's.
    weight = np.where(answerable, 1.0 / max(1, answerable.sum()), 1.0 / max(1, (~answerable).sum()))
    best, best_value = fusion, -math.inf
    for answer in np.arange(0.2, 0.96, 0.05):
        for margin in (0.0, 0.05, 0.1, 0.2, 0.3):
            answered = (top1 >= answer) & (top1 - top2 >= margin)
            for clarify in np.arange(0.1, answer + 1e-9, 0.05):
                clarified = ~answered & (top1 >= clarify)
                utility = np.where(answered, if_answer, np.where(clarified, if_clarify, if_none))
                value = float(utility @ weight)
                if value > best_value:
                    best_value = value
                    best = Fusion(
                        fusion.weights,
                        fusion.bias,
                        round(float(answer), 2),
                        margin,
                        round(float(clarify), 2),
                    )
    return best
