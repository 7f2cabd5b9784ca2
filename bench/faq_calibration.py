"""FAQ retrieval on the bundled packs: what the learned outcomes do on held-out questions.

    .venv/bin/python bench/faq_calibration.py [--packs FILE...] [--negatives FILE...]
                                             [--embedder NAME...]

Positives: each similar question of the packs, hidden from the index in turn (leave-one-out).
Negatives: JSONL files with a "text" field holding messages the packs should NOT answer.
Both are split in half (seeded): the fusion and its thresholds are fitted on one half and
reported on the other. Defaults: the bundled packs, and the train/dev splits of banking77 (en)
and SMP2017 (zh, without its chit-chat label) from ../shared/data. Never point this at a test
split.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import kefu  # noqa: F401 - sets single-threaded BLAS before numpy loads
from kefu.knowledge.pack import default_pack_paths, load_packs
from kefu.understanding.embeddings import make_embedder
from kefu.understanding.faq import FaqMatcher
from kefu.understanding.retrieval import DevQuery, fit_fusion, leave_one_out

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_NEGATIVES = [DATA / "banking77" / "train.jsonl", DATA / "smp2017_ecdt_task1" / "dev.jsonl"]
SKIP_LABELS = {"chat"}  # greetings and small talk are in scope for the common pack
console = Console()


def run(entries: list, embedder: str | None, negatives: list[str], seed: int) -> dict[str, object]:
    matcher = FaqMatcher(entries, make_embedder(embedder) if embedder else None)
    standard = {q for e in matcher.entries.values() for q in (e.question.zh, e.question.en)}
    dev = leave_one_out(matcher.index, standard)
    random.Random(seed).shuffle(dev)
    half_pos, half_neg = len(dev) // 2, len(negatives) // 2
    fit = dev[:half_pos] + [DevQuery(t, None) for t in negatives[:half_neg]]
    held = dev[half_pos:] + [DevQuery(t, None) for t in negatives[half_neg:]]
    matcher.index.fusion = fit_fusion(matcher.index, fit)
    counts = dict.fromkeys(
        (
            "right",
            "wrong",
            "clarify_ok",
            "clarify_bad",
            "none",
            "top1",
            "oos_answer",
            "oos_clarify",
        ),
        0,
    )
    timings = []
    for query in held:
        started = time.perf_counter()
        ranked = matcher.match(query.text, exclude=query.exclude[0] if query.exclude else None)
        timings.append(time.perf_counter() - started)
        outcome = matcher.outcome(ranked)
        if query.entry is None:
            counts["oos_answer"] += outcome == "answer"
            counts["oos_clarify"] += outcome == "clarify"
            continue
        right = bool(ranked) and ranked[0].entry_id == query.entry
        counts["top1"] += right
        if outcome == "answer":
            counts["right" if right else "wrong"] += 1
        elif outcome == "clarify":
            offered = any(c.entry_id == query.entry for c in ranked)
            counts["clarify_ok" if offered else "clarify_bad"] += 1
        else:
            counts["none"] += 1
    n_pos = len(held) - (len(negatives) - half_neg)
    n_neg = len(negatives) - half_neg
    timings.sort()
    return {
        "embedder": embedder or "none (hashed n-grams only)",
        "positives": n_pos,
        "negatives": n_neg,
        **{k: v / (n_neg if k.startswith("oos") else n_pos) for k, v in counts.items()},
        "p50_ms": timings[len(timings) // 2] * 1000,
        "fusion": matcher.index.fusion,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packs", type=Path, nargs="*")
    parser.add_argument("--negatives", type=Path, nargs="*", default=DEFAULT_NEGATIVES)
    parser.add_argument("--embedder", nargs="*", default=["none", "use-multilingual"])
    parser.add_argument("--sample", type=int, default=400, help="negatives per file")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    entries = [
        e for f in (args.packs or default_pack_paths()) for p in load_packs(f) for e in p.entries
    ]
    negatives: list[str] = []
    for path in args.negatives:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        rows = [r for r in rows if r.get("label") not in SKIP_LABELS]
        random.Random(args.seed).shuffle(rows)
        negatives += [r["text"] for r in rows[: args.sample]]
    random.Random(args.seed).shuffle(negatives)
    table = Table(
        "embedder",
        "top-1",
        "answered right",
        "answered wrong",
        "clarify (right offered)",
        "clarify (not offered)",
        "no answer",
        "out-of-scope answered",
        "out-of-scope clarified",
        "p50 ms",
    )
    for name in args.embedder:
        r = run(entries, None if name == "none" else name, negatives, args.seed)
        table.add_row(
            str(r["embedder"]),
            *(
                f"{r[k]:.1%}"
                for k in (
                    "top1",
                    "right",
                    "wrong",
                    "clarify_ok",
                    "clarify_bad",
                    "none",
                    "oos_answer",
                    "oos_clarify",
                )
            ),
            f"{r['p50_ms']:.2f}",
        )
        console.print(f"{r['embedder']}: fitted {r['fusion']}")
    console.print(table)
    console.print(f"held-out half: {r['positives']} paraphrases, {r['negatives']} out-of-scope")


if __name__ == "__main__":
    main()
