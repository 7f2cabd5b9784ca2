"""Full parse of one message (normalise, language, tokens, embedding, FAQ retrieval, intent,
entities, sentiment and emotion), one at a time, plus the memory of a process holding every
model. Targets (issue #3, 2-core machine): p50 <= 3 ms, p95 <= 10 ms, RSS <= 400 MB.

    .venv/bin/python bench/parse_speed.py [--messages FILE] [--limit N]

FILE: one message per line (default: the bundled intents' examples, which the FAQ index has
not seen). The encoder runs uncached, as for a message never seen before.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import kefu  # noqa: F401 - single-threaded BLAS before numpy loads
from kefu.knowledge.entities import entity_declarations
from kefu.knowledge.intents import bundled_examples
from kefu.knowledge.pack import default_pack_paths, load_packs
from kefu.understanding.embeddings import make_embedder
from kefu.understanding.engine import NluEngine
from kefu.understanding.entities import EntityExtractor
from kefu.understanding.faq import FaqMatcher
from kefu.understanding.intents import IntentModel, train_intents
from kefu.understanding.sentiment import SentimentModel


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=Path)
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    examples = bundled_examples()
    with tempfile.TemporaryDirectory() as tmp:
        # Train in this process but measure a loaded artifact, as a server would hold it.
        train_intents(examples, make_embedder("use-multilingual")).save(Path(tmp))
        intents = IntentModel.load(Path(tmp))
    embedder = make_embedder("use-multilingual", cache_size=0)
    entries = [e for f in default_pack_paths() for p in load_packs(f) for e in p.entries]
    engine = NluEngine(
        FaqMatcher(entries, embedder),
        embedder,
        intents,
        entities=EntityExtractor(*entity_declarations()),
        sentiment=SentimentModel.load(),
    )
    if args.messages:
        messages = [m for m in args.messages.read_text(encoding="utf-8").splitlines() if m.strip()]
    else:
        messages = [text for text, _ in examples]
    messages = messages[: args.limit]
    timings = []
    for text in messages:
        started = time.perf_counter()
        engine.parse(text, "zh")
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    table = Table("measure", "value", "target")
    table.add_row("messages", str(len(timings)), "")
    table.add_row("parse p50", f"{statistics.median(timings):.2f} ms", "<= 3 ms")
    table.add_row("parse p95", f"{timings[int(len(timings) * 0.95)]:.2f} ms", "<= 10 ms")
    table.add_row("parse p99", f"{timings[int(len(timings) * 0.99)]:.2f} ms", "")
    table.add_row(
        "RSS with every model loaded (this process, incl. training leftovers)",
        f"{rss_mb():.0f} MB",
        "",
    )
    Console().print(table)


if __name__ == "__main__":
    main()
