"""The evaluation gate: which examples are held out, what each compared model trains on, how
models are scored, and the verdict.

The gate compares two *training sets*, the new examples and those the model in service was
trained on, under one protocol: E is the held-out part of the new examples (`split_examples`);
one model is trained on each set without E's texts (`protocol`, `compare`), and both are scored
on E. The model that goes live is trained on all the new examples, by the caller:
`kefu.knowledge.training` (a console retraining) or `kefu train`. Nothing here touches the
database or the models directory.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kefu.knowledge.intents import OUT_OF_SCOPE
from kefu.text.normalize import match_key
from kefu.understanding.embeddings import CachedEmbedder, Embedder
from kefu.understanding.intents import (
    IntentConfig,
    IntentModel,
    ModelError,
    Progress,
    train_intents,
)

logger = logging.getLogger(__name__)

SPLIT_ID = "sha256-1in5-min5-half"  # change it whenever `split_examples` changes
EVAL_BUCKETS = 5  # one example in five is held out...
MIN_EXAMPLES = 5  # ...from labels with at least this many...
WORSE_BY = 0.001  # a candidate losing more than this in accuracy or macro F1 is refused
# Where each step of one `train_intents` call ends in its progress, its vectors computed
# beforehand: the first fit (calibrating) costs about three times the warm-started final one.
TRAIN_STEPS = {"embedding": 0.05, "calibrating": 0.7, "training": 1.0}
Examples = list[tuple[str, str]]


def split_hash(text: str, label: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{label}\n{text}".encode()).digest()[:8], "big")


@dataclass(frozen=True)
class Split:
    train: Examples
    evaluation: Examples
    held_out_labels: tuple[str, ...]  # labels with enough examples to give some to evaluation


def split_examples(examples: Sequence[tuple[str, str]]) -> Split:
    """Deterministic: an example's side depends on its (label, text) hash and, only when more
    than half of a small label would go to evaluation, on its label's other examples. Labels
    with fewer than MIN_EXAMPLES examples keep them all for training."""
    counts = Counter(label for _, label in examples)
    held = {label for label, n in counts.items() if n >= MIN_EXAMPLES}
    candidates: dict[str, list[tuple[int, str]]] = {}
    for text, label in examples:
        h = split_hash(text, label)
        if label in held and h % EVAL_BUCKETS == 0:
            candidates.setdefault(label, []).append((h, text))
    chosen = {
        (text, label)
        for label, rows in candidates.items()
        for _, text in sorted(rows)[: counts[label] // 2]  # most stay for training
    }
    train = [ex for ex in examples if ex not in chosen]
    evaluation = [ex for ex in examples if ex in chosen]
    return Split(train, evaluation, tuple(sorted(held)))


@dataclass(frozen=True)
class Protocol:
    evaluation: Examples  # E: the held-out part of the new examples
    candidate_train: Examples  # the new examples without E's texts
    current_train: Examples | None  # the current model's examples without E's texts (None: unknown)


def protocol(new: Sequence[tuple[str, str]], old: Sequence[tuple[str, str]] | None) -> Protocol:
    """What each compared model trains on. An example whose text (as matched: case, width and
    punctuation aside) is in E is left out of both sets, whatever its label, so neither model
    has seen an evaluation text, not even under another label in the older examples."""
    evaluation = split_examples(new).evaluation
    unseen = {match_key(text) for text, _ in evaluation}

    def without(examples: Sequence[tuple[str, str]]) -> Examples:
        return [(text, label) for text, label in examples if match_key(text) not in unseen]

    return Protocol(evaluation, without(new), None if old is None else without(old))


@dataclass(frozen=True)
class Scores:
    examples: int
    accuracy: float | None  # None: nothing to evaluate on
    macro_f1: float | None
    per_intent: dict[str, float]  # F1 of every label in the gold set

    def as_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1}


NO_SCORES = Scores(0, None, None, {})


def score(gold: Sequence[str], predicted: Sequence[str]) -> Scores:
    """Accuracy and F1 averaged over the gold labels (the same set for every model scored on
    these examples, so macro F1s compare)."""
    if not gold:
        return NO_SCORES
    pairs = list(zip(gold, predicted, strict=True))
    tp = Counter(g for g, p in pairs if g == p)
    fp = Counter(p for g, p in pairs if g != p)
    fn = Counter(g for g, p in pairs if g != p)
    per = {g: 2 * tp[g] / (2 * tp[g] + fp[g] + fn[g]) for g in sorted(set(gold))}
    macro = sum(per.values()) / len(per)
    rounded = {g: round(f1, 4) for g, f1 in per.items()}
    return Scores(len(gold), round(sum(tp.values()) / len(gold), 4), round(macro, 4), rounded)


def score_model(
    model: IntentModel, examples: Sequence[tuple[str, str]], vectors: Any, oos_label: str
) -> Scores:
    """The model's answers as served (threshold included; out of scope counts as `oos_label`)
    against the examples' labels; `vectors[i]` is example i's sentence vector."""
    predicted = [
        model.predict(text, vectors[i]).label or oos_label for i, (text, _) in enumerate(examples)
    ]
    return score([label for _, label in examples], predicted)


def is_worse(mine: Scores, theirs: Scores) -> bool:
    def drop(a: float | None, b: float | None) -> float:
        return (a or 0.0) - (b or 0.0)

    return (
        drop(theirs.accuracy, mine.accuracy) > WORSE_BY
        or drop(theirs.macro_f1, mine.macro_f1) > WORSE_BY
    )


def check_examples(examples: Sequence[tuple[str, str]]) -> None:
    if not examples:
        raise ModelError("there are no training examples: add intents with examples first")
    if len({label for _, label in examples}) < 2:
        raise ModelError("training needs at least two intents with examples")


def position(ends: dict[str, float], stage: str, fraction: float) -> float | None:
    """Where `fraction` of `stage` lies on the whole; None for a stage not in `ends`."""
    if stage not in ends:
        return None
    stages = list(ends)
    at = stages.index(stage)
    low, high = ends[stages[at - 1]] if at else 0.0, ends[stage]
    return low + (high - low) * min(max(fraction, 0.0), 1.0)


def within(report: Progress, stage: str, low: float = 0.0, high: float = 1.0) -> Progress:
    """Progress for one `train_intents` call, reported as [low, high] of `stage`."""

    def inner(step: str, done: float) -> None:
        at = position(TRAIN_STEPS, step, done)
        if at is not None:
            report(stage, low + (high - low) * at)

    return inner


def embed_once(embedder: Embedder, texts: Sequence[str], report: Progress) -> Embedder:
    """Encode each distinct text once (stage `embedding`); the encoder returned answers those
    texts from memory, so the run's three trainings and its scoring share the vectors."""
    distinct = list(dict.fromkeys(texts))
    cache = CachedEmbedder(embedder, size=max(1, len(distinct)))
    step = max(1, len(distinct) // 50)
    for start in range(0, len(distinct), step):
        cache.embed(distinct[start : start + step])
        report("embedding", min(1.0, (start + step) / len(distinct)))
    report("embedding", 1.0)
    return cache


@dataclass(frozen=True)
class Comparison:
    plan: Protocol
    candidate: Scores  # the new examples' model (minus E) on E
    current: Scores | None  # the current examples' model (minus E) on E; None: not comparable


def compare(
    examples: Sequence[tuple[str, str]],
    current_examples: Sequence[tuple[str, str]] | None,
    embedder: Embedder,
    *,
    oos_label: str = OUT_OF_SCOPE,
    config: IntentConfig | None = None,
    progress: Progress | None = None,
) -> Comparison:
    """Train one model per training set without E and score both on E (stages `comparing`,
    `evaluating`). Without `current_examples` only the new set is scored: the protocol's
    held-out estimate. Raises ModelError when the new set can't make a model."""
    report = progress or (lambda stage, done: None)
    plan = protocol(examples, current_examples)
    if not plan.evaluation:
        report("evaluating", 1.0)
        return Comparison(plan, NO_SCORES, None if current_examples is None else NO_SCORES)
    options: dict[str, Any] = {"config": config, "oos_label": oos_label}
    half = 1.0 if plan.current_train is None else 0.5
    mine = train_intents(
        plan.candidate_train, embedder, progress=within(report, "comparing", 0, half), **options
    )
    theirs = None
    if plan.current_train is not None:
        try:
            theirs = train_intents(
                plan.current_train, embedder, progress=within(report, "comparing", half), **options
            )
        except ModelError as exc:  # e.g. fewer than two intents left without E
            logger.info("the current examples can't make a model to compare: %s", exc.message)
    report("evaluating", 0.0)
    vectors = embedder.embed([text for text, _ in plan.evaluation])
    candidate = score_model(mine, plan.evaluation, vectors, oos_label)
    current = None if theirs is None else score_model(theirs, plan.evaluation, vectors, oos_label)
    report("evaluating", 1.0)
    return Comparison(plan, candidate, current)


def evaluation_meta(comparison: Comparison) -> dict[str, Any]:
    """What a saved model records about its training set's held-out score."""
    plan, scores = comparison.plan, comparison.candidate
    return {
        "split": SPLIT_ID,
        "examples": len(plan.evaluation),
        "train_examples": len(plan.candidate_train),
        **scores.as_dict(),
    }


def judge(
    examples: int,
    plan: Protocol,
    candidate: Scores,
    current: Scores | None,
    current_version: str | None,
    *,
    as_served: bool = False,
) -> dict[str, Any]:
    """The run's result: both training sets' scores on E and the gate's verdict (`worse`,
    `reason`); the caller adds `decision`. `current_version` None: no model in service;
    `current` None: one whose training examples are unknown and that can't be scored as it
    serves (not comparable); `as_served`: `current` is the live model's own score on E."""
    if current_version is None:
        reason = "no_current_model"
    elif current is None:
        reason = "current_not_comparable"
    elif not plan.evaluation:
        reason = "no_evaluation_examples"
    else:
        reason = "worse" if is_worse(candidate, current) else "not_worse"
    before = current.per_intent if current else {}
    shown: dict[str, Any] | None = None
    if current_version is not None:
        scores = current.as_dict() if current else NO_SCORES.as_dict()
        shown = {
            **scores,
            "version": current_version,
            "comparable": current is not None and not as_served,
            "as_served": as_served,
        }
    return {
        "examples": examples,  # the model saved by the run is trained on all of them
        "train_examples": len(plan.candidate_train),  # what the compared candidate trained on
        "evaluation_examples": len(plan.evaluation),
        "split": SPLIT_ID,
        "candidate": candidate.as_dict(),
        "current": shown,
        "intents": [  # per-intent F1 where it changed (all of them without a comparison)
            {"intent": label, "candidate": f1, "current": before.get(label)}
            for label, f1 in candidate.per_intent.items()
            if f1 != before.get(label)
        ],
        "worse": reason == "worse",
        "reason": reason,
    }
