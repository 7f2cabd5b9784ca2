"""Peer benchmark: Rasa 3.6 (DIETClassifier) intent classification on kefu's data sets.

Trains a Rasa NLU model on a JSONL file of {"text", "label"} rows, then parses every row of a
second JSONL file one message at a time and reports the same figures `kefu eval intent` does:

    accuracy, macro_f1      over the test file (macro F1 over the labels present in the test file,
                            computed here, the same formula as kefu.evaluation.metrics.macro_f1)
    train_s                 wall time of Rasa's `rasa.model_training.train_nlu(...)` call (config
                            validation, graph training, packing the .tar.gz); train_process_s adds
                            the start of the training process and its imports (TensorFlow, Rasa)
    train_peak_rss_mb       peak RSS of the training process: the kernel's high-water mark of the
                            waited-for child (getrusage(RUSAGE_CHILDREN).ru_maxrss), the number
                            /usr/bin/time -v prints as "Maximum resident set size"
    serve_rss_mb            RSS (VmRSS) of this process, which holds the loaded model (Agent.load),
                            after all test messages were parsed; serve_peak_rss_mb is its VmHWM
    p50_ms, p95_ms          latency of `await agent.parse_message(text)`, one message at a time,
                            first call included (first_parse_ms shows it apart)

Pipelines are Rasa's defaults as a peer would write them, no pretrained weights:

    zh: JiebaTokenizer, LexicalSyntacticFeaturizer, CountVectorsFeaturizer,
        CountVectorsFeaturizer(char_wb, 1-4), DIETClassifier(epochs 100, constrain_similarities)
    en: the same with WhitespaceTokenizer

Usage (with the Rasa environment's interpreter, not kefu's):

    /tmp/rasa-venv/bin/python bench/peers/rasa_intent.py \
        --train ../shared/data/smp2017_ecdt_task1/train.jsonl \
        --test ../shared/data/smp2017_ecdt_task1/test.jsonl --lang zh [--epochs 100] [--json OUT]

Prints a table, and one JSON object as the last line of standard output.

Installing Rasa for it (Rasa 3.6 needs Python 3.8-3.10; here the pyenv 3.10):

    ~/.pyenv/versions/3.10.13/bin/python -m venv /tmp/rasa-venv
    /tmp/rasa-venv/bin/pip install --upgrade pip setuptools wheel
    /tmp/rasa-venv/bin/pip install rasa==3.6.21 jieba psutil

This script is kept outside the kefu package on purpose: kefu does not depend on Rasa, nothing
under src/ imports it, and it runs only under the separate Rasa environment. It sets
TF_CPP_MIN_LOG_LEVEL=3, RASA_TELEMETRY_ENABLED=false, and unless already set
TF_INTRA_OP_PARALLELISM_THREADS=2 and TF_INTER_OP_PARALLELISM_THREADS=1 (Rasa reads these two
and configures TensorFlow's thread pools with them) for the training and the serving process.
Training gets a fresh RASA_CACHE_DIRECTORY, so Rasa's component cache never skips training.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ENV_DEFAULTS = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_INTRA_OP_PARALLELISM_THREADS": "2",
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONWARNINGS": "ignore",
}


def set_env() -> None:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def read_jsonl(path: Path) -> list[tuple[str, str]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                rows.append((str(row["text"]), str(row["label"])))
    return rows


def one_line(text: str) -> str:
    """Rasa's YAML examples are one per line: collapse whitespace (newlines) to single spaces."""
    return " ".join(text.split())


def write_nlu_yaml(rows: list[tuple[str, str]], path: Path) -> None:
    by_label: dict[str, list[str]] = {}
    for text, label in rows:
        by_label.setdefault(label, []).append(one_line(text))
    lines = ['version: "3.1"', "nlu:"]
    for label in sorted(by_label):
        lines.append(f"- intent: {json.dumps(label, ensure_ascii=False)}")
        lines.append("  examples: |")
        lines.extend(f"    - {text}" for text in by_label[label])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def config_yaml(lang: str, epochs: int) -> str:
    tokenizer = "JiebaTokenizer" if lang == "zh" else "WhitespaceTokenizer"
    return f"""recipe: default.v1
assistant_id: kefu-bench-peer
language: {lang}
pipeline:
- name: {tokenizer}
- name: LexicalSyntacticFeaturizer
- name: CountVectorsFeaturizer
- name: CountVectorsFeaturizer
  analyzer: char_wb
  min_ngram: 1
  max_ngram: 4
- name: DIETClassifier
  epochs: {epochs}
  constrain_similarities: true
policies: []
"""


def config_summary(lang: str, epochs: int) -> str:
    tokenizer = "JiebaTokenizer" if lang == "zh" else "WhitespaceTokenizer"
    return (
        f"{tokenizer} + LexicalSyntacticFeaturizer + CountVectors(word) + "
        f"CountVectors(char_wb 1-4) + DIETClassifier(epochs={epochs}, constrain_similarities)"
    )


def quiet_rasa() -> None:
    """Rasa's structlog prints a debug line per parsed message to stdout; keep warnings only."""
    import logging

    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    logging.getLogger("rasa").setLevel(logging.WARNING)


def child_train(config: Path, nlu: Path, out: Path, result: Path) -> None:
    """Runs in the training subprocess: Rasa's own training entry point, timed."""
    set_env()
    quiet_rasa()
    from rasa.model_training import train_nlu
    from rasa.shared.nlu.training_data.loading import load_data

    # Check the YAML round trip: every example text must come back as written.
    written = sorted(
        line[6:]
        for line in nlu.read_text(encoding="utf-8").splitlines()
        if line.startswith("    - ")
    )
    loaded = sorted(m.get("text") for m in load_data(str(nlu)).intent_examples)
    mismatches = len(set(written) ^ set(loaded))

    started = time.perf_counter()
    model = train_nlu(
        config=str(config), nlu_data=str(nlu), output=str(out), fixed_model_name="peer"
    )
    train_s = time.perf_counter() - started
    if not model:
        raise SystemExit("rasa train_nlu returned no model")
    result.write_text(
        json.dumps({"train_s": train_s, "model": str(model), "yaml_mismatches": mismatches}),
        encoding="utf-8",
    )


def macro_f1(gold: list[str], predicted: list[str | None]) -> float:
    scores = []
    for label in sorted(set(gold)):
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p != label)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def proc_status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


async def parse_all(agent: Any, texts: list[str]) -> tuple[list[str | None], list[float]]:
    predicted: list[str | None] = []
    timings: list[float] = []
    for text in texts:
        t0 = time.perf_counter()
        parsed = await agent.parse_message(text)
        timings.append(time.perf_counter() - t0)
        intent = parsed.get("intent") or {}
        predicted.append(intent.get("name"))
    return predicted, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path)
    parser.add_argument("--test", type=Path)
    parser.add_argument("--lang", choices=["zh", "en"])
    parser.add_argument("--epochs", type=int, default=100, help="DIET epochs (Rasa default 100)")
    parser.add_argument("--json", type=Path, help="also write the result object here")
    parser.add_argument("--keep", type=Path, help="keep the work dir (YAML, model) here")
    parser.add_argument("--child-train", nargs=4, metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    set_env()

    if args.child_train:
        child_train(*(Path(p) for p in args.child_train))
        return
    if not (args.train and args.test and args.lang):
        parser.error("--train, --test and --lang are required")

    train_rows = read_jsonl(args.train)
    test_rows = read_jsonl(args.test)
    work = args.keep or Path(tempfile.mkdtemp(prefix="rasa-peer-"))
    work.mkdir(parents=True, exist_ok=True)
    config, nlu, out, result = (
        work / "config.yml",
        work / "nlu.yml",
        work / "models",
        work / "train.json",
    )
    config.write_text(config_yaml(args.lang, args.epochs), encoding="utf-8")
    write_nlu_yaml(train_rows, nlu)

    # Rasa caches trained components by fingerprint (./.rasa/cache by default): a second run on
    # the same data would skip training. Each run gets a fresh, empty cache.
    cache = Path(tempfile.mkdtemp(prefix="rasa-cache-", dir=work))
    print(f"training Rasa on {len(train_rows)} examples in {work} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--child-train",
            str(config),
            str(nlu),
            str(out),
            str(result),
        ],
        env={**os.environ, "RASA_CACHE_DIRECTORY": str(cache)},
        check=False,
    )
    train_process_s = time.perf_counter() - started
    # ru_maxrss of waited-for children: KiB on Linux. This process has run no other child.
    train_peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if done.returncode != 0:
        raise SystemExit(f"training process failed with exit code {done.returncode}")
    trained = json.loads(result.read_text(encoding="utf-8"))

    import rasa
    from rasa.core.agent import Agent

    quiet_rasa()
    t0 = time.perf_counter()
    agent = Agent.load(trained["model"])
    load_s = time.perf_counter() - t0
    print(f"parsing {len(test_rows)} test messages ...", file=sys.stderr, flush=True)
    texts = [text for text, _ in test_rows]
    gold = [label for _, label in test_rows]
    predicted, timings = asyncio.run(parse_all(agent, texts))
    serve_rss_mb = proc_status_mb("VmRSS")
    serve_peak_rss_mb = proc_status_mb("VmHWM")

    correct = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p)
    ms = [t * 1000 for t in timings]
    report: dict[str, Any] = {
        "task": "intent",
        "train_examples": len(train_rows),
        "test_examples": len(test_rows),
        "labels": len(set(label for _, label in train_rows)),
        "accuracy": round(correct / len(gold), 4) if gold else 0.0,
        "macro_f1": round(macro_f1(gold, predicted), 4),
        "train_s": round(trained["train_s"], 2),
        "train_process_s": round(train_process_s, 2),
        "train_peak_rss_mb": round(train_peak_rss_mb, 1),
        "load_s": round(load_s, 2),
        "serve_rss_mb": round(serve_rss_mb, 1),
        "serve_peak_rss_mb": round(serve_peak_rss_mb, 1),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "first_parse_ms": round(ms[0], 1) if ms else 0.0,
        "rasa_version": rasa.__version__,
        "config": config_summary(args.lang, args.epochs),
        "epochs": args.epochs,
        "lang": args.lang,
        "yaml_mismatches": trained["yaml_mismatches"],
        "tf_threads": (
            f"intra={os.environ['TF_INTRA_OP_PARALLELISM_THREADS']}, "
            f"inter={os.environ['TF_INTER_OP_PARALLELISM_THREADS']}"
        ),
        "python": sys.version.split()[0],
        "train_file": str(args.train),
        "test_file": str(args.test),
    }
    width = max(len(key) for key in report)
    print(f"| {'measure':<{width}} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for key, value in report.items():
        print(f"| {key:<{width}} | {value} |")
    line = json.dumps(report, ensure_ascii=False)
    if args.json:
        args.json.write_text(line + "\n", encoding="utf-8")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(line, flush=True)


if __name__ == "__main__":
    main()
