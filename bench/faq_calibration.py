"""Calibrate the FAQ matcher: answer accuracy on held-out paraphrases vs. false answers to
out-of-scope messages, per threshold.

    .venv/bin/python bench/faq_calibration.py [--packs FILE...] [--negatives FILE...]

Positives: each similar question of the packs, hidden from the bank in turn (leave-one-out).
Negatives: JSONL files with a "text" field holding messages the packs should NOT answer.
Defaults: the bundled packs, and the train/dev splits of banking77 (en) and SMP2017 (zh,
without its chit-chat label) from ../shared/data. Never point this at a test split.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kefu.knowledge.pack import default_pack_paths, load_packs
from kefu.understanding.faq import FaqMatcher

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_NEGATIVES = [DATA / "banking77" / "train.jsonl", DATA / "smp2017_ecdt_task1" / "dev.jsonl"]
SKIP_LABELS = {"chat"}  # greetings and small talk are in scope for the common pack
console = Console()


def held_out(matcher: FaqMatcher) -> list[tuple[float, bool]]:
    """Score every similar question with itself hidden from the bank: (top score, top right?)."""
    standard = {(e.id, e.question.zh) for e in matcher.entries} | {
        (e.id, e.question.en) for e in matcher.entries
    }
    out = []
    for index, (entry_id, question) in enumerate(matcher.questions):
        if (entry_id, question) in standard:
            continue
        top = matcher.match(question, exclude=index)
        out.append((top[0].score if top else 0.0, bool(top) and top[0].entry_id == entry_id))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packs", type=Path, nargs="*")
    parser.add_argument("--negatives", type=Path, nargs="*", default=DEFAULT_NEGATIVES)
    parser.add_argument("--sample", type=int, default=400, help="negatives per file")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    entries = [
        e for f in (args.packs or default_pack_paths()) for p in load_packs(f) for e in p.entries
    ]
    matcher = FaqMatcher(entries)
    positives = held_out(matcher)
    negatives: list[float] = []
    for path in args.negatives:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        rows = [r for r in rows if r.get("label") not in SKIP_LABELS]
        random.Random(args.seed).shuffle(rows)
        for row in rows[: args.sample]:
            top = matcher.match(row["text"])
            negatives.append(top[0].score if top else 0.0)
    table = Table(
        "threshold",
        "answered right",
        "answered wrong",
        "fallback",
        "out-of-scope answered",
        title=f"{len(positives)} held-out positives, {len(negatives)} negatives",
    )
    for t in [x / 20 for x in range(6, 17)]:
        right = sum(1 for s, ok in positives if ok and s >= t) / len(positives)
        wrong = sum(1 for s, ok in positives if not ok and s >= t) / len(positives)
        fa = sum(1 for s in negatives if s >= t) / max(1, len(negatives))
        table.add_row(
            f"{t:.2f}", f"{right:.1%}", f"{wrong:.1%}", f"{1 - right - wrong:.1%}", f"{fa:.1%}"
        )
    console.print(table)
    top1 = sum(ok for _, ok in positives) / len(positives)
    console.print(f"top-1 accuracy on held-out paraphrases (no threshold): {top1:.1%}")


if __name__ == "__main__":
    main()
