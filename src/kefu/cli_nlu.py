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
            "--data",
            help="Training files (intents YAML or JSONL text/label); default: the intents "
            "in the database, stored with the model so retrainings can compare with it.",
        ),
    ] = None,
    oos_label: Annotated[
        str, typer.Option("--oos-label", help="Label of out-of-scope examples.")
    ] = "out_of_scope",
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Models directory (default KEFU_MODELS_DIR).")
    ] = None,
    sentiment: Annotated[
        Path | None,
        typer.Option(
            "--sentiment",
            help='Also train the sentiment model on this JSONL {"text","label"} (1 positive) '
            "instead of the bundled one.",
        ),
    ] = None,
    embedder: EmbedderOpt = None,
) -> None:
    """Train the intent classifier (a new versioned model becomes current) and fit the FAQ
    score fusion and answer/clarify thresholds on this deployment's knowledge base; with
    --sentiment, train the sentiment model too. A running server picks them up.

    Without --data it trains on all the tenant's intents, like a console retraining, and
    stores the examples with the model so later retrainings can compare training sets; it
    also prints the held-out estimate (a model trained without the evaluation split, scored
    on it)."""
    from kefu.evaluation.data import read_labelled
    from kefu.knowledge.evaluation_gate import (
        check_examples,
        compare,
        embed_once,
        evaluation_meta,
    )
    from kefu.understanding.intents import train_intents

    settings = Settings()
    if embedder:
        settings = Settings(embedder=embedder)
    examples = (
        _database_examples(settings) if not data else [r for p in data for r in read_labelled(p)]
    )
    if not examples:
        from kefu.errors import InvalidInput

        raise InvalidInput("no training examples found")
    if sentiment is not None:  # a bad line should stop the run before anything is replaced
        from kefu.evaluation.data import SentimentRow, read_jsonl

        for _ in read_jsonl(sentiment, SentimentRow):
            pass
    models = out_dir or settings.effective_models_dir
    encoder = _embedder(settings.embedder)
    with progress_bar() as update:
        held_out, stored = None, None
        if data:
            model = train_intents(examples, encoder, oos_label=oos_label, progress=update)
        else:
            check_examples(examples)
            vectors = embed_once(encoder, [text for text, _ in examples], update)
            held_out = compare(examples, None, vectors, oos_label=oos_label, progress=update)
            model = train_intents(examples, vectors, oos_label=oos_label, progress=update)
            model.meta["evaluation"] = evaluation_meta(held_out)
            stored = examples
        folder = model.save(models / "intent", examples=stored)
        out_of_scope = [text for text, label in examples if label == oos_label]
        fusion, questions = _fit_faq(settings, encoder, out_of_scope, models, update)
        if sentiment is not None:
            from kefu.evaluation.sentiment import fit_sentiment

            sentiment_model, seen = fit_sentiment(sentiment, encoder, update)
            sentiment_model.save(models / "sentiment.npz")
            out.print(f"trained sentiment model on {len(seen)} texts -> {models / 'sentiment.npz'}")
    out.print(
        f"trained intent model {model.version}: {model.meta['examples']} examples, "
        f"{len(model.labels)} intents, {model.meta['train_s']} s -> {folder}"
    )
    if held_out is not None:
        scores, plan = held_out.candidate, held_out.plan
        shown = "-" if scores.accuracy is None else f"accuracy {scores.accuracy:.4f}"
        out.print(
            f"held-out estimate: a model trained on {len(plan.candidate_train)} examples scores "
            f"{shown}, macro F1 {scores.macro_f1 if scores.macro_f1 is not None else '-'} on "
            f"the {scores.examples} held out (the saved model is trained on all {len(examples)})"
        )
    out.print(
        f"fitted FAQ fusion on {questions} held-out questions + {len(out_of_scope)} out-of-scope: "
        f"answer >= {fusion.answer} (margin {fusion.margin}), clarify >= {fusion.clarify}"
    )


def _database_examples(settings: Settings) -> list[tuple[str, str]]:
    """The tenant's intents and reviewed examples (the database, prepared if new). A database
    without intents (KEFU_LOAD_DEFAULT_KNOWLEDGE=false) trains on the bundled packs."""
    from kefu.db.engine import make_engine, make_session_factory
    from kefu.knowledge.intent_store import training_examples
    from kefu.knowledge.intents import bundled_examples
    from kefu.runtime import prepare_database
    from kefu.tenants.service import ensure_tenant

    engine = make_engine(settings.effective_database_url)
    try:
        prepare_database(settings, engine)
        with make_session_factory(engine, system=True)() as session:
            examples = training_examples(session, ensure_tenant(session, settings.tenant).id)
    finally:
        engine.dispose()
    if not examples:
        err.print("the database holds no intents: training on the bundled packs")
        return bundled_examples()
    return examples


def _fit_faq(
    settings: Settings,
    encoder: Any,
    out_of_scope: list[str],
    models: Path,
    update: Callable[[str, float], None],
) -> tuple[Any, int]:
    """Fit the fusion on the tenant's knowledge (the database, prepared if new)."""
    from kefu.db.engine import make_engine, make_session_factory
    from kefu.knowledge.service import load_knowledge
    from kefu.runtime import prepare_database
    from kefu.tenants.service import ensure_tenant
    from kefu.understanding.faq import FaqMatcher
    from kefu.understanding.retrieval import DevQuery, fit_fusion, leave_one_out, save_fusion

    engine = make_engine(settings.effective_database_url)
    try:
        prepare_database(settings, engine)
        with make_session_factory(engine, system=True)() as session:
            knowledge = load_knowledge(session, ensure_tenant(session, settings.tenant))
    finally:
        engine.dispose()
    update("faq fusion", 0.1)
    matcher = FaqMatcher(list(knowledge.entries.values()), encoder)
    standard = {q for e in matcher.entries.values() for q in (e.question.zh, e.question.en)}
    queries = leave_one_out(matcher.index, standard) + [DevQuery(t, None) for t in out_of_scope]
    fusion = fit_fusion(matcher.index, queries)
    models.mkdir(parents=True, exist_ok=True)
    save_fusion(fusion, models / "faq.json", encoder)
    update("faq fusion", 1.0)
    return fusion, len(queries) - len(out_of_scope)


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


@eval_app.command("faq")
def eval_faq(
    kb: Annotated[Path, typer.Option("--kb", help='JSONL {"id","question","similar":[...]}.')],
    test_file: Annotated[Path, typer.Option("--test", help='JSONL {"text","id"} (id null: none).')],
    dev_file: Annotated[
        Path | None, typer.Option("--dev", help="Like --test; tunes the thresholds.")
    ] = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Index --kb, report top-1/top-3 and no-answer precision/recall on --test."""
    from kefu.evaluation.faq import evaluate_faq

    with progress_bar() as update:
        result = evaluate_faq(
            kb, test_file, _embedder(embedder, cache=False), dev=dev_file, progress=update
        )
    _print_result(result, as_json)


@eval_app.command("match")
def eval_match(
    test_file: Annotated[Path, typer.Option("--test", help='JSONL {"text_a","text_b","label"}.')],
    dev_file: Annotated[
        Path | None, typer.Option("--dev", help="Pairs to fit the scorer and threshold on.")
    ] = None,
    folds: Annotated[
        int, typer.Option("--folds", help="Without --dev: K-fold cross-fitting on --test.")
    ] = 0,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pair matching: accuracy at the threshold chosen on --dev, and AUC, on --test."""
    from kefu.evaluation.match import evaluate_match

    with progress_bar() as update:
        result = evaluate_match(
            test_file, _embedder(embedder), dev=dev_file, folds=folds, progress=update
        )
    _print_result(result, as_json)


@eval_app.command("sentiment")
def eval_sentiment(
    test_file: Annotated[
        Path, typer.Option("--test", help='JSONL {"text","label"}, 1 = positive.')
    ],
    train_file: Annotated[
        Path | None, typer.Option("--train", help="Train on this instead of the bundled model.")
    ] = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sentiment polarity: accuracy and macro F1 on --test."""
    from kefu.evaluation.sentiment import evaluate_sentiment

    with progress_bar() as update:
        result = evaluate_sentiment(
            test_file, _embedder(embedder, cache=False), train=train_file, progress=update
        )
    _print_result(result, as_json)


@eval_app.command("entities")
def eval_entities(
    test_file: Annotated[
        Path,
        typer.Option("--test", help='JSONL {"text","spans":[{"type","start","end","value"}]}.'),
    ],
    now: Annotated[
        str | None,
        typer.Option("--now", help="Message time (ISO 8601) for rows without their own."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Entity extraction: precision, recall and F1 per type (exact type and span)."""
    import datetime as dt

    from kefu.errors import InvalidInput
    from kefu.evaluation.entities import evaluate_entities
    from kefu.knowledge.entities import entity_declarations
    from kefu.understanding.entities import EntityExtractor

    try:
        when = dt.datetime.fromisoformat(now) if now else dt.datetime.now(dt.UTC)
    except ValueError:
        raise InvalidInput(f"--now: not an ISO 8601 time: {now!r}") from None
    extractor = EntityExtractor(*entity_declarations())
    with progress_bar() as update:
        result = evaluate_entities(test_file, extractor, when, update)
    _print_result(result, as_json)
