"""`kefu eval entities --test FILE`: span-exact precision/recall of the entity extractor.

Each line: {"text": ..., "spans": [{"type", "start", "end", "value"}], "now": ISO time?}.
A predicted entity is correct when type, start and end all match a gold span; among those,
`value_accuracy` is the share whose normalised value equals the gold value (1.0 and 1 are
equal; dict keys compared as JSON)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kefu.evaluation.data import count_lines, read_jsonl
from kefu.evaluation.metrics import peak_rss_mb, percentile_ms
from kefu.understanding.entities import EntityExtractor

Progress = Callable[[str, float], None]


class GoldSpan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(min_length=1)
    start: int = Field(ge=0)
    end: int = Field(ge=1)
    value: Any = None


class EntityRow(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    text: str = Field(min_length=1)
    spans: list[GoldSpan] = Field(default_factory=list)
    now: dt.datetime | None = None

    @model_validator(mode="after")
    def _spans_inside(self) -> EntityRow:
        for span in self.spans:
            if not span.start < span.end <= len(self.text):
                raise ValueError(f"span {span.start}:{span.end} outside the text")
        return self


def _same_value(gold: Any, predicted: Any) -> bool:
    return json.dumps(gold, sort_keys=True, default=str) == json.dumps(
        predicted, sort_keys=True, default=str
    ) or (
        isinstance(gold, int | float) and isinstance(predicted, int | float) and gold == predicted
    )


def _score(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def evaluate_entities(
    test: Path,
    extractor: EntityExtractor,
    now: dt.datetime,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """`now` is the message time for rows that don't carry their own."""
    report = progress or (lambda stage, done: None)
    total = max(count_lines(test), 1)
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    values_right = 0
    timings: list[float] = []
    examples = 0
    for examples, row in enumerate(read_jsonl(test, EntityRow), 1):
        started = time.perf_counter()
        predicted = extractor.extract(row.text, row.now or now)
        timings.append(time.perf_counter() - started)
        gold = {(s.type, s.start, s.end): s.value for s in row.spans}
        for entity in predicted:
            key = (entity.type, entity.start, entity.end)
            if key in gold:
                tp[entity.type] += 1
                values_right += _same_value(gold.pop(key), entity.value)
            else:
                fp[entity.type] += 1
        for kind, _, _ in gold:
            fn[kind] += 1
        if examples % 200 == 0:
            report("testing", examples / total)
    report("testing", 1.0)
    matched = sum(tp.values())
    per_type = {
        kind: {**_score(tp[kind], fp[kind], fn[kind]), "support": tp[kind] + fn[kind]}
        for kind in sorted(set(tp) | set(fp) | set(fn))
    }
    return {
        "task": "entities",
        "examples": examples,
        **_score(matched, sum(fp.values()), sum(fn.values())),
        "value_accuracy": round(values_right / matched, 4) if matched else 0.0,
        "per_type": per_type,
        "p50_ms": percentile_ms(timings, 50),
        "p95_ms": percentile_ms(timings, 95),
        "rss_mb": peak_rss_mb(),
    }
