"""`kefu eval intent`: train on one file, measure on another."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kefu.evaluation.data import read_labelled
from kefu.evaluation.metrics import macro_f1, peak_rss_mb, percentile_ms
from kefu.understanding.embeddings import Embedder
from kefu.understanding.intents import IntentConfig, train_intents

Progress = Callable[[str, float], None]


def evaluate_intents(
    train: Path,
    test: Path,
    embedder: Embedder,
    *,
    oos_label: str | None = None,
    config: IntentConfig | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    report = progress or (lambda stage, done: None)
    train_rows = read_labelled(train)
    test_rows = read_labelled(test)
    started = time.perf_counter()
    model = train_intents(
        train_rows, embedder, config=config, oos_label=oos_label, progress=progress
    )
    train_s = time.perf_counter() - started
    gold: list[str] = []
    predicted: list[str | None] = []
    timings: list[float] = []
    for n, (text, label) in enumerate(test_rows, 1):
        t0 = time.perf_counter()
        # One message as the engine would see it: encode (uncached) + classify. The whole
        # parse (retrieval, entities, sentiment too) is timed by bench/parse_speed.py.
        vector = embedder.embed([text])[0]
        prediction = model.predict(text, vector)
        timings.append(time.perf_counter() - t0)
        gold.append(label)
        predicted.append(prediction.label if prediction.label is not None else oos_label)
        if n % 200 == 0 or n == len(test_rows):
            report("testing", n / len(test_rows))
    correct = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p)
    result: dict[str, Any] = {
        "task": "intent",
        "train_examples": len(train_rows),
        "test_examples": len(test_rows),
        "labels": len(model.labels),
        "accuracy": round(correct / len(gold), 4) if gold else 0.0,
        "macro_f1": round(macro_f1(gold, predicted), 4),
        "train_s": round(train_s, 2),
        "p50_ms": percentile_ms(timings, 50),
        "p95_ms": percentile_ms(timings, 95),
        "rss_mb": peak_rss_mb(),
        "embedder": embedder.name,
    }
    if oos_label is not None:
        oos = [p == oos_label for g, p in zip(gold, predicted, strict=True) if g == oos_label]
        result["oos_recall"] = round(sum(oos) / len(oos), 4) if oos else None
        result["threshold"] = round(model.threshold, 4)
    return result
