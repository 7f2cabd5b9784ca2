"""`kefu eval match`: is text_b a paraphrase of text_a?

The pair score is the FAQ index's notion of similarity, reduced to a pair: dense cosine,
character and word overlap, length ratio; a logistic fit on --dev weighs them and the
threshold maximising dev accuracy is applied to --test. Without --dev, the score is the plain
cosine (or character overlap without a model) at a threshold of 0.5 on a 0..1 scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kefu.evaluation.data import PairRow, read_jsonl
from kefu.evaluation.metrics import auc
from kefu.text.normalize import match_key
from kefu.understanding.embeddings import Embedder
from kefu.understanding.features import lexical_terms
from kefu.understanding.retrieval import fit_logistic

Progress = Callable[[str, float], None]
Floats = npt.NDArray[np.float64]


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def pair_features(
    pairs: Sequence[PairRow], embedder: Embedder | None, progress: Progress, stage: str
) -> Floats:
    out = np.zeros((len(pairs), 6))
    step = 256
    for start in range(0, len(pairs), step):
        chunk = pairs[start : start + step]
        if embedder is not None:
            a = embedder.embed([p.text_a for p in chunk])
            b = embedder.embed([p.text_b for p in chunk])
            out[start : start + len(chunk), 0] = (a * b).sum(axis=1)
        for i, pair in enumerate(chunk, start):
            ka, kb = match_key(pair.text_a), match_key(pair.text_b)
            ta, tb = lexical_terms(ka), lexical_terms(kb)
            chars_a = {t for t in ta if t[0] in "zc"}
            chars_b = {t for t in tb if t[0] in "zc"}
            words_a = {t for t in ta if t[0] in "wb"}
            words_b = {t for t in tb if t[0] in "wb"}
            out[i, 1] = _overlap(chars_a, chars_b)
            out[i, 2] = _overlap(words_a, words_b)
            out[i, 3] = min(len(ka), len(kb)) / max(1, len(ka), len(kb))
            digits_a = {c for c in ka if c.isdigit()}
            digits_b = {c for c in kb if c.isdigit()}
            out[i, 4] = float(digits_a != digits_b)  # "3 days" vs "5 days" differ in meaning
            out[i, 5] = out[i, 0] * out[i, 1]
        progress(stage, min(1.0, (start + step) / len(pairs)))
    return out


def _best_threshold(scores: Floats, labels: npt.NDArray[np.int64]) -> float:
    best, best_acc = 0.5, -1.0
    for cut in np.unique(np.round(scores, 3)):
        acc = float(np.mean((scores >= cut) == (labels == 1)))
        if acc > best_acc:
            best, best_acc = float(cut), acc
    return best


def evaluate_match(
    test: Path,
    embedder: Embedder | None,
    *,
    dev: Path | None = None,
    folds: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """With `folds` (and no dev file), cross-fitting: each fold of the test file is scored by
    a scorer and threshold fitted on the other folds only, for sets that have no dev split."""
    report = progress or (lambda stage, done: None)
    test_rows = list(read_jsonl(test, PairRow))
    x_test = pair_features(test_rows, embedder, report, "test pairs")
    y_test = np.asarray([r.label for r in test_rows])
    column = 0 if embedder is not None else 1
    predicted: npt.NDArray[np.bool_] | None = None
    if dev is None and folds > 1:
        fold_of = np.random.default_rng(0).permutation(len(test_rows)) % folds
        scores = np.zeros(len(test_rows))
        predicted = np.zeros(len(test_rows), dtype=bool)
        cuts = []
        for k in range(folds):
            fit, held = fold_of != k, fold_of == k
            weights, bias = fit_logistic(x_test[fit], y_test[fit].astype(np.float64))
            fold_scores = 1.0 / (1.0 + np.exp(-np.clip(x_test @ weights + bias, -30, 30)))
            cut = _best_threshold(fold_scores[fit], y_test[fit])
            cuts.append(cut)
            scores[held] = fold_scores[held]
            predicted[held] = fold_scores[held] >= cut
        threshold = float(np.mean(cuts))
    elif dev is not None:
        dev_rows = list(read_jsonl(dev, PairRow))
        x_dev = pair_features(dev_rows, embedder, report, "dev pairs")
        y_dev = np.asarray([r.label for r in dev_rows])
        weights, bias = fit_logistic(x_dev, y_dev.astype(np.float64))

        def score(x: Floats) -> Floats:
            out: Floats = 1.0 / (1.0 + np.exp(-np.clip(x @ weights + bias, -30, 30)))
            return out

        threshold = _best_threshold(score(x_dev), y_dev)
        scores = score(x_test)
    else:
        scores = x_test[:, column]
        threshold = 0.5
    if predicted is None:
        predicted = scores >= threshold
    accuracy = float(np.mean(predicted == (y_test == 1))) if len(y_test) else 0.0
    return {
        "task": "match",
        "test_pairs": len(test_rows),
        "accuracy": round(accuracy, 4),
        "auc": round(auc(scores.tolist(), y_test.tolist()), 4),
        "threshold": round(threshold, 4),
        "positive_share": round(float(np.mean(y_test == 1)), 4) if len(y_test) else None,
        "threshold_from": "dev"
        if dev is not None
        else f"{folds}-fold cross-fitting"
        if folds > 1
        else "default",
        "embedder": embedder.name if embedder else "none",
    }
