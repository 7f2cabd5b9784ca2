"""`kefu train` and `kefu eval ...`: the NLU commands, registered on the main app by cli.py.

Every eval command prints a table for people and, with --json, one JSON object on its last
line for scripts (bench/ relies on that)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from kefu.config import Settings

eval_app = typer.Typer(help="Measure kefu's understanding on your own data.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

EmbedderOpt = Annotated[
    str | None, typer.Option("--embedder", help="Override KEFU_EMBEDDER for this run.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Also print one JSON object, last line.")]


@contextmanager
def progress_bar() -> Iterator[Callable[[str, float], None]]:
    """A Rich progress bar on stderr, fed with (stage, fraction) callbacks."""
    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=1.0)
            bar.update(tasks[stage], completed=done)

        yield update


def _embedder(spec: str | None, cache: bool = True) -> Any:
    from kefu.understanding.embeddings import make_embedder

    return make_embedder(spec or Settings().embedder, cache_size=10_000 if cache else 0)


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    table = Table("metric", "value")
    for key, value in result.items():
        if isinstance(value, dict):
            continue
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    out.print(table)
    for key, value in result.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            sub = Table(key, *next(iter(value.values())).keys())
            for name, row in value.items():
                sub.add_row(
                    name, *(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values())
                )
            out.print(sub)
    if as_json:
        print(json.dumps(result, ensure_ascii=False, default=str))


def train(
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data", help="Training files (intents YAML or JSONL text/label); default: packs."
        ),
    ] = None,
    oos_label: Annotated[
        str, typer.Option("--oos-label", help="Label of out-of-scope examples.")
    ] = "out_of_scope",
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Models directory (default KEFU_MODELS_DIR).")
    ] = None,
    embedder: EmbedderOpt = None,
) -> None:
    """Train the intent classifier and save a new versioned model (it becomes current)."""
    from kefu.evaluation.data import read_labelled
    from kefu.knowledge.intents import bundled_examples
    from kefu.understanding.intents import train_intents

    settings = Settings()
    examples = bundled_examples() if not data else [r for p in data for r in read_labelled(p)]
    if not examples:
        from kefu.errors import InvalidInput

        raise InvalidInput("no training examples found")
    target = (out_dir or settings.effective_models_dir) / "intent"
    with progress_bar() as update:
        model = train_intents(examples, _embedder(embedder), oos_label=oos_label, progress=update)
    folder = model.save(target)
    labels = len(model.labels)
    out.print(
        f"trained intent model {model.version}: {len(examples)} examples, {labels} intents, "
        f"{model.meta['train_s']} s -> {folder}"
    )


@eval_app.command("intent")
def eval_intent(
    train_file: Annotated[Path, typer.Option("--train", help="Training JSONL/YAML.")],
    test_file: Annotated[Path, typer.Option("--test", help="Test JSONL {text,label}.")],
    oos_label: Annotated[
        str | None, typer.Option("--oos-label", help="Label meaning out of scope.")
    ] = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train on --train, report accuracy, macro F1, speed and memory on --test."""
    from kefu.evaluation.intent import evaluate_intents

    with progress_bar() as update:
        result = evaluate_intents(
            train_file,
            test_file,
            _embedder(embedder, cache=False),
            oos_label=oos_label,
            progress=update,
        )
    _print_result(result, as_json)
