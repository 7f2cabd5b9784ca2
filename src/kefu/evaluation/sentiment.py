"""`kefu eval sentiment`: the bundled model, or one trained on --train, measured on --test."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kefu.evaluation.data import SentimentRow, read_jsonl
from kefu.evaluation.metrics import macro_f1, peak_rss_mb, percentile_ms
from kefu.text.normalize import normalize_aligned
from kefu.text.tokenize import Tokenizer
from kefu.understanding.embeddings import Embedder
from kefu.understanding.sentiment import SentimentModel, train_sentiment

Progress = Callable[[str, float], None]


def _key(text: str) -> str:
    return "".join(text.split())


def fit_sentiment(
    train: Path,
    embedder: Embedder,
    progress: Progress | None = None,
    tokenizer: Tokenizer | None = None,
) -> tuple[SentimentModel, set[str]]:
    """A sentiment model trained on a JSONL file, and the (whitespace-free) texts it saw."""
    report = progress or (lambda stage, done: None)
    tokenizer = tokenizer or Tokenizer()  # each one holds its own ~57 MB dictionary
    rows = list(read_jsonl(train, SentimentRow))
    vectors = np.zeros((len(rows), embedder.dim), dtype=np.float32)
    tokens = []
    for i, row in enumerate(rows):
        vectors[i] = embedder.embed([row.text])[0]
        tokens.append(tokenizer.tokenize(normalize_aligned(row.text)))
        if i % 200 == 0 or i == len(rows) - 1:
            report("embedding", (i + 1) / len(rows))
    model = train_sentiment(
        [r.text for r in rows], [r.label for r in rows], tokens, vectors, embedder.name
    )
    return model, {_key(r.text) for r in rows}


def evaluate_sentiment(
    test: Path,
    embedder: Embedder,
    *,
    train: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    report = progress or (lambda stage, done: None)
    tokenizer = Tokenizer()
    seen: set[str] = set()
    started = time.perf_counter()
    if train is None:
        model = SentimentModel.load()
        train_s = None
    else:
        model, seen = fit_sentiment(train, embedder, progress, tokenizer)
        train_s = round(time.perf_counter() - started, 2)
    if model.embedder != embedder.name:
        from kefu.errors import KefuError

        raise KefuError(
            f"the sentiment model needs the embedder {model.embedder!r}, not {embedder.name!r}"
        )
    gold: list[str] = []
    predicted: list[str] = []
    unseen_right = unseen = 0
    timings: list[float] = []
    tests = list(read_jsonl(test, SentimentRow))
    for n, row in enumerate(tests, 1):
        t0 = time.perf_counter()
        tokens_ = tokenizer.tokenize(normalize_aligned(row.text))
        result = model.predict(row.text, tokens_, embedder.embed([row.text])[0])
        timings.append(time.perf_counter() - t0)
        label = "1" if result.positive >= 0.5 else "0"
        gold.append(str(row.label))
        predicted.append(label)
        if train is not None and _key(row.text) not in seen:
            unseen += 1
            unseen_right += label == str(row.label)
        if n % 200 == 0 or n == len(tests):
            report("testing", n / len(tests))
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    out: dict[str, Any] = {
        "task": "sentiment",
        "model": "bundled" if train is None else f"trained on {train.name}",
        "test_examples": len(tests),
        "accuracy": round(correct / len(tests), 4) if tests else 0.0,
        "macro_f1": round(macro_f1(gold, predicted), 4),
        "p50_ms": percentile_ms(timings, 50),
        "p95_ms": percentile_ms(timings, 95),
        "rss_mb": peak_rss_mb(),
    }
    if train is not None:
        out["train_s"] = train_s
        out["unseen_examples"] = unseen
        out["accuracy_unseen"] = round(unseen_right / unseen, 4) if unseen else None
    return out
