"""NLU benchmarks: runs the `kefu eval ...` commands on ../shared/data (or your own files) and
prints one Markdown table for docs/benchmarks.md.

    .venv/bin/python bench/nlu.py [--data DIR] [--only intent,sentiment,match,faq,entities]
                                  [--json OUT]

Each evaluation runs in its own `kefu` process, so its peak memory (rss_mb) is its own. Sets
missing under DIR are skipped. Test splits are only ever used as --test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
KEFU = [sys.executable, "-m", "kefu"]


def run(args: list[str]) -> dict[str, Any]:
    print("$ kefu " + " ".join(args), file=sys.stderr, flush=True)
    done = subprocess.run(KEFU + args + ["--json"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"kefu {' '.join(args)} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def faq_files(data: Path, work: Path, held_out_labels: int = 10) -> tuple[Path, Path, Path]:
    """A knowledge base built from banking77 train: one entry per intent (its first example as
    the question, the next 9 as similar questions), 10 intents left out so their questions are
    unanswerable; dev = 5 other train examples per intent; test = the test split."""
    rows = [json.loads(line) for line in (data / "banking77" / "train.jsonl").open()]
    by_label: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_label[row["label"]].append(row["text"])
    labels = sorted(by_label)
    left_out = set(random.Random(0).sample(labels, held_out_labels))
    kb, dev = work / "kb.jsonl", work / "dev.jsonl"
    with kb.open("w") as fh:
        for label in labels:
            if label not in left_out:
                texts = by_label[label]
                fh.write(
                    json.dumps({"id": label, "question": texts[0], "similar": texts[1:10]}) + "\n"
                )
    with dev.open("w") as fh:
        for label in labels:
            for text in by_label[label][10:15]:
                fh.write(
                    json.dumps({"text": text, "id": None if label in left_out else label}) + "\n"
                )
    test = work / "test.jsonl"
    with test.open("w") as fh:
        for line in (data / "banking77" / "test.jsonl").open():
            row = json.loads(line)
            fh.write(
                json.dumps(
                    {"text": row["text"], "id": None if row["label"] in left_out else row["label"]}
                )
                + "\n"
            )
    return kb, dev, test


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--only", default="intent,sentiment,match,faq,entities")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    only = set(args.only.split(","))
    d = args.data
    results: list[tuple[str, dict[str, Any]]] = []
    work = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
    if "intent" in only:
        for name, folder in (("BANKING77", "banking77"), ("SMP2017-ECDT", "smp2017_ecdt_task1")):
            if not (d / folder / "test.jsonl").exists():
                continue
            train = d / folder / "train.jsonl"
            label = f"intent {name} test"
            if (d / folder / "dev.jsonl").exists():
                # Settings were chosen on dev; the final model is fitted on train + dev.
                train = work / f"{folder}-train-dev.jsonl"
                train.write_text(
                    (d / folder / "train.jsonl").read_text(encoding="utf-8")
                    + (d / folder / "dev.jsonl").read_text(encoding="utf-8"),
                    encoding="utf-8",
                )
                label += " (fitted on train+dev)"
            test = d / folder / "test.jsonl"
            results.append(
                (label, run(["eval", "intent", "--train", str(train), "--test", str(test)]))
            )
    if "sentiment" in only and (d / "chnsenticorp" / "test.jsonl").exists():
        test = d / "chnsenticorp" / "test.jsonl"
        train = d / "chnsenticorp" / "train.jsonl"
        results.append(
            (
                "sentiment ChnSentiCorp test, default model",
                run(["eval", "sentiment", "--test", str(test)]),
            )
        )
        results.append(
            (
                "sentiment ChnSentiCorp test, --train",
                run(["eval", "sentiment", "--train", str(train), "--test", str(test)]),
            )
        )
    shop = d / "online_shopping_10_cats" / "all.jsonl"
    if "sentiment" in only and shop.exists():
        shop_test = work / "online_shopping_test.jsonl"
        with shop_test.open("w", encoding="utf-8") as fh:
            for line in shop.open(encoding="utf-8"):
                row = json.loads(line)
                if row.get("split_ours_seed42") == "test":
                    fh.write(
                        json.dumps({"text": row["text"], "label": row["label"]}, ensure_ascii=False)
                        + "\n"
                    )
        results.append(
            (
                "sentiment online_shopping_10_cats test split, default model",
                run(["eval", "sentiment", "--test", str(shop_test)]),
            )
        )
    if "match" in only:
        if (d / "afqmc" / "dev.jsonl").exists():
            results.append(
                (
                    "match AFQMC dev (scorer fitted on AFQMC train)",
                    run(
                        [
                            "eval",
                            "match",
                            "--test",
                            str(d / "afqmc" / "dev.jsonl"),
                            "--dev",
                            str(d / "afqmc" / "train.jsonl"),
                        ]
                    ),
                )
            )
        if (d / "lcqmc" / "dev.jsonl").exists():
            results.append(
                (
                    "match LCQMC dev (5-fold cross-fitting)",
                    run(
                        ["eval", "match", "--test", str(d / "lcqmc" / "dev.jsonl"), "--folds", "5"]
                    ),
                )
            )
    if "faq" in only and (d / "banking77" / "test.jsonl").exists():
        with tempfile.TemporaryDirectory() as tmp:
            kb, dev, test = faq_files(d, Path(tmp))
            results.append(
                (
                    "faq kb from BANKING77 train (67 entries), its test split",
                    run(["eval", "faq", "--kb", str(kb), "--dev", str(dev), "--test", str(test)]),
                )
            )
    fixture = ROOT / "tests" / "fixtures" / "entities_zh_en.jsonl"
    if "entities" in only and fixture.exists():
        results.append(
            (
                "entities, kefu's hand-labelled fixture",
                run(["eval", "entities", "--test", str(fixture)]),
            )
        )

    print(
        f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}\n"
    )
    print("| evaluation | result |\n|---|---|")
    for name, r in results:
        shown = {
            k: v for k, v in r.items() if k not in ("task", "per_type") and not isinstance(v, dict)
        }
        print(f"| {name} | " + ", ".join(f"{k} {v}" for k, v in shown.items()) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
