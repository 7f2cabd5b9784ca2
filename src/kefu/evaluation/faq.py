"""`kefu eval faq`: build an index from a knowledge-base file, answer a test file."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kefu.evaluation.data import DataError, FaqTestRow, KbRow, read_jsonl
from kefu.evaluation.metrics import percentile_ms
from kefu.text.tokenize import Tokenizer
from kefu.understanding.embeddings import Embedder
from kefu.understanding.retrieval import DevQuery, HybridFaqIndex, fit_fusion, leave_one_out

Progress = Callable[[str, float], None]


def evaluate_faq(
    kb: Path,
    test: Path,
    embedder: Embedder | None,
    *,
    dev: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Top-1/top-3 over answerable test rows, and how well "no answer" is given to the rows
    whose id is null. The fusion and thresholds are fitted on the kb's own similar questions
    (each hidden in turn) plus `dev` rows when given: never on the test file."""
    report = progress or (lambda stage, done: None)
    rows = list(read_jsonl(kb, KbRow))
    ids = [r.id for r in rows]
    if len(set(ids)) != len(ids):
        raise DataError(f"{kb}: duplicate ids in the knowledge base")
    index = HybridFaqIndex(Tokenizer(), embedder)
    for n, row in enumerate(rows, 1):
        index.upsert_questions(row.id, [row.question, *row.similar])
        if n % 20 == 0 or n == len(rows):
            report("indexing", n / len(rows))
    queries = leave_one_out(index, {r.question for r in rows}, limit=3000)
    if dev is not None:
        queries += [DevQuery(d.text, d.id) for d in read_jsonl(dev, FaqTestRow)]
    report("fitting", 0.0)
    index.fusion = fit_fusion(index, queries)
    report("fitting", 1.0)
    known = set(ids)
    tests = list(read_jsonl(test, FaqTestRow))
    top1 = top3 = answerable = 0
    said_none = said_none_right = unanswerable = 0
    timings: list[float] = []
    for n, case in enumerate(tests, 1):
        if case.id is not None and case.id not in known:
            raise DataError(f"{test}:{n}: id {case.id!r} is not in the knowledge base")
        started = time.perf_counter()
        ranked = index.rank(case.text, 3)
        outcome = index.fusion.outcome(ranked)
        timings.append(time.perf_counter() - started)
        if case.id is None:
            unanswerable += 1
        else:
            answerable += 1
            top1 += bool(ranked) and ranked[0].entry_id == case.id
            top3 += any(c.entry_id == case.id for c in ranked)
        if outcome == "none":
            said_none += 1
            said_none_right += case.id is None
        if n % 200 == 0 or n == len(tests):
            report("testing", n / len(tests))
    return {
        "task": "faq",
        "kb_entries": len(rows),
        "test_examples": len(tests),
        "top1": round(top1 / answerable, 4) if answerable else None,
        "top3": round(top3 / answerable, 4) if answerable else None,
        "no_answer_precision": round(said_none_right / said_none, 4) if said_none else None,
        "no_answer_recall": round(said_none_right / unanswerable, 4) if unanswerable else None,
        "answer_threshold": index.fusion.answer,
        "p50_ms": percentile_ms(timings, 50),
        "p95_ms": percentile_ms(timings, 95),
        "embedder": embedder.name if embedder else "none",
    }
