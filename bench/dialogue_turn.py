"""Benchmark of a dialogue turn with the demo operator backend, in-process.

    .venv/bin/python bench/dialogue_turn.py [--stories PATH] [--rounds N] [--models DIR]
                                            [--json OUT]

PATH: a stories file or folder (default: every bundled story). Each story's customer messages
are replayed, in order, through the conversation service (store the message, understand,
run the flow with its backend calls, store replies, state and turn event), on a fresh SQLite
database with the demo operator seeded. Reported: the whole turn (`post`) and the pipeline
alone (understanding + policy + flow + backend calls). Target (issue #5, 2 cores): a turn
p50 <= 10 ms, p95 <= 30 ms.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kefu.dialogue.stories import load_stories, story_paths
from kefu.stories import StoryRunner
from message_path import machine, percentiles

TARGETS = {"turn p50 ms": 10.0, "turn p95 ms": 30.0}
console = Console()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=Path, help="stories file or folder")
    parser.add_argument("--rounds", type=int, default=5, help="replays of every story")
    parser.add_argument("--models", type=Path, help="trained models (default: train, ~10 s)")
    parser.add_argument("--json", type=Path, help="write results as JSON here")
    args = parser.parse_args()
    stories = [s for p in story_paths(args.stories) for s in load_stories(p)]
    runner = StoryRunner(models_dir=args.models)
    turns: list[float] = []
    pipeline: list[float] = []
    try:
        for round_number in range(args.rounds + 1):  # round 0 warms up
            for story in stories:
                # Restarts are not part of a turn's time (and the checks' verdicts are unused).
                result = runner.run(story, restarts=False)
                if round_number:
                    turns.extend(result.elapsed_ms)
                    pipeline.extend(t.latency_ms for t in result.turns)
    finally:
        runner.close()
    report = {
        "machine": machine(),
        "stories": len(stories),
        "rounds": args.rounds,
        "turn ms": percentiles(turns),
        "pipeline ms": percentiles(pipeline),
    }
    table = Table(title=f"dialogue turn, demo backend, in-process ({report['machine']})")
    for column in ("", "p50", "p95", "p99", "n"):
        table.add_column(column)
    for name in ("turn ms", "pipeline ms"):
        p = report[name]
        table.add_row(name, f"{p['p50']:.2f}", f"{p['p95']:.2f}", f"{p['p99']:.2f}", str(p["n"]))
    console.print(table)
    checks = {
        "turn p50 ms": report["turn ms"]["p50"],
        "turn p95 ms": report["turn ms"]["p95"],
    }
    ok = True
    for name, target in TARGETS.items():
        met = checks[name] <= target
        ok &= met
        verdict = "met" if met else "MISSED"
        console.print(f"{verdict}: {name} {checks[name]:.2f} (target <= {target})")
    report["targets"] = {k: {"value": checks[k], "target": v} for k, v in TARGETS.items()}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
