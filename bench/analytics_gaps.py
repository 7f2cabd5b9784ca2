"""Knowledge-gap clustering: does it recover the planted unanswerable topics?

    .venv/bin/python bench/analytics_gaps.py [--conversations 3000] [--days 14] [--seed 1]
        [--database-url URL] [--models-dir DIR] [--embedder use-multilingual|hashed-ngram|none]
        [--threshold T] [--json]
    .venv/bin/python bench/analytics_gaps.py --planted FILE.jsonl [--noise FILE.jsonl ...]

Default: `kefu demo simulate` traffic (its planted gap topics among the rest) into a temporary
SQLite database (or --database-url), `refresh` of the rollups, `gap_clusters` over the whole
range, scored against the simulator's ledger. With --planted, no simulation: JSONL lines
{"topic": ..., "text": ...} are mixed with --noise lines {"text": ...} (e.g. the train splits of
../shared/data/banking77 and smp2017_ecdt_task1; never a test split) and clustered directly.
Purity, recall and own-cluster counts are defined in `kefu.analytics.gaps.score_clusters`.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

import kefu  # noqa: F401 - sets single-threaded BLAS before numpy loads
from kefu.analytics.gaps import GapCluster, GapItem, cluster_gaps, score_clusters
from kefu.understanding.embeddings import Embedder, make_embedder

console = Console(stderr=True)


def simulated(
    args: argparse.Namespace, workdir: Path
) -> tuple[list[GapItem], dict[str, list[str]], date]:
    """Simulate, refresh; the gap items and the ledger's planted topics."""
    from kefu.analytics.filters import Filters
    from kefu.analytics.gaps import gap_items
    from kefu.analytics.refresh import refresh
    from kefu.analytics.simulate import simulate
    from kefu.config import Settings
    from kefu.runtime import Runtime, prepare_database
    from kefu.stories import train_models

    url = args.database_url or f"sqlite:///{workdir / 'gaps.db'}"
    models = args.models_dir or workdir / "models"
    settings = Settings(
        _env_file=None,
        data_dir=workdir,
        database_url=url,
        models_dir=models,
        backend="demo",
        train_on_start=False,
        redis_url=None,
    )
    prepare_database(settings)
    if not (models / "intent" / "current").is_file():
        console.print("training the intent model (once per --models-dir) ...")
        env = {"KEFU_DATA_DIR": str(workdir), "KEFU_DATABASE_URL": settings.effective_database_url}
        train_models(models, env)
    runtime = Runtime.build(settings)
    try:
        tz = ZoneInfo(settings.timezone)
        started = time.perf_counter()
        ledger = simulate(runtime, args.conversations, args.days, args.seed)
        console.print(
            f"simulated {args.conversations} conversations in {time.perf_counter() - started:.0f} s"
        )
        refresh(runtime.engine, runtime.tenant.id, tz, full=True)
        today = datetime.fromisoformat(ledger.end).astimezone(tz).date()
        filters = Filters(today - timedelta(days=args.days), today)
        with runtime.sessions() as session:
            items = gap_items(session, runtime.tenant.id, filters, max_items=args.max_items)
    finally:
        runtime.close()
    planted = {topic: [q.text for q in qs] for topic, qs in ledger.gap_topics.items()}
    return items, planted, today


def from_files(args: argparse.Namespace) -> tuple[list[GapItem], dict[str, list[str]], date]:
    """Planted topics mixed with noise, spread over the last `--days` days."""
    planted: dict[str, list[str]] = {}
    for line in args.planted.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            planted.setdefault(str(row["topic"]), []).append(str(row["text"]))
    rng = random.Random(args.seed)
    noise: list[str] = []
    for path in args.noise:
        rows = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
        rng.shuffle(rows)
        noise += rows[: args.sample]
    texts = [t for ts in planted.values() for t in ts] + noise
    rng.shuffle(texts)
    today = date.today()
    items = [
        GapItem(
            i, f"c{i}", text, "en", today - timedelta(days=rng.randrange(args.days)), "fallback"
        )
        for i, text in enumerate(texts)
    ]
    return items, planted, today


def report(clusters: list[GapCluster], scores: dict[str, Any], timing: float, items: int) -> None:
    table = Table("cluster", "size", "conv.", "lang", "trend", "label", "representative")
    for c in clusters[:25]:
        langs = ",".join(c.languages)
        table.add_row(
            c.id, str(c.size), str(c.conversations), langs, c.direction, " ".join(c.label),
            c.questions[0][:60],
        )  # fmt: skip
    console.print(table)
    topics = Table("planted topic", "recall")
    for topic, recall in scores["per_topic"].items():
        topics.add_row(topic, f"{recall:.3f}")
    console.print(topics)
    console.print(
        f"{items} gap questions -> {len(clusters)} clusters in {timing:.2f} s; "
        f"purity {scores['purity']:.3f}, recall {scores['recall']:.3f}, "
        f"own cluster {scores['own_cluster']}/{scores['topics']}, "
        f"noise in topic clusters {scores['noise_in_topics']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=3000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="default: a temporary SQLite database")
    parser.add_argument("--models-dir", type=Path, help="reuse a trained models directory")
    parser.add_argument("--embedder", default="use-multilingual", help="or hashed-ngram, none")
    parser.add_argument("--threshold", type=float, help="default: the mode's tuned threshold")
    parser.add_argument("--max-items", type=int, default=5000)
    parser.add_argument("--planted", type=Path, help="JSONL {topic, text}: skip the simulator")
    parser.add_argument("--noise", type=Path, nargs="*", default=[], help="JSONL {text}")
    parser.add_argument("--sample", type=int, default=500, help="noise lines per file")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if args.planted:
        items, planted, today = from_files(args)
    else:
        with tempfile.TemporaryDirectory(prefix="kefu-gaps-") as tmp:
            items, planted, today = simulated(args, Path(tmp))
    embedder: Embedder | None = None if args.embedder == "none" else make_embedder(args.embedder)
    started = time.perf_counter()
    clusters = cluster_gaps(
        items, today=today, embedder=embedder, threshold=args.threshold, max_items=args.max_items
    )
    timing = time.perf_counter() - started
    scores = score_clusters(clusters, planted, items)
    if args.json:
        out = {
            "items": len(items),
            "seconds": round(timing, 3),
            "embedder": args.embedder,
            "scores": scores,
            "clusters": [
                {k: v for k, v in c.as_dict().items() if k not in ("turn_ids", "daily")}
                for c in clusters
            ],
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        report(clusters, scores, timing, len(items))


if __name__ == "__main__":
    main()
