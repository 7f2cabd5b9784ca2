"""`kefu flows validate` and `kefu test stories`: check the dialogue before customers do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from kefu.cli_nlu import JsonOpt, out, progress_bar
from kefu.knowledge.pack import PackError

if TYPE_CHECKING:
    from kefu.dialogue.stories import Story

flows_app = typer.Typer(help="Dialogue flows (skills/*/flows.yaml).", no_args_is_help=True)
test_app = typer.Typer(help="Conversation tests.", no_args_is_help=True)


@flows_app.command("validate")
def flows_validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="flows.yaml files (default: every bundled skill's)."),
    ] = None,
    responses: Annotated[
        list[Path] | None,
        typer.Option(
            "--responses",
            help="responses.yaml files (default: the bundled ones plus any beside PATHS).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check flows: structure (every step does one thing, targets exist, expressions parse)
    and references (responses, actions, sub-flows, entity types, intents, FAQ entries).
    Errors name the file, line, flow and step."""
    from kefu.dialogue.responses import default_response_paths
    from kefu.dialogue.skills import Skills
    from kefu.knowledge.entities import entity_declarations
    from kefu.knowledge.intents import default_intent_paths, load_intents
    from kefu.knowledge.pack import default_pack_paths, load_packs
    from kefu.understanding.entities import BUILTIN_TYPES

    response_paths = list(responses or default_response_paths())
    if responses is None:
        for path in paths or []:
            beside = path.parent / "responses.yaml"
            if beside.is_file() and beside.resolve() not in {p.resolve() for p in response_paths}:
                response_paths.append(beside)
    skills = Skills.load(paths, response_paths)
    patterns, gazetteer = entity_declarations()
    types = {
        *BUILTIN_TYPES,
        *(p.type for p in patterns),
        getattr(gazetteer, "entity_type", "place"),
    }
    intents = {i.name for p in default_intent_paths() for i in load_intents(p).intents}
    faq = {e.id for p in default_pack_paths() for pack in load_packs(p) for e in pack.entries}
    problems = skills.check(types, intents, faq)
    if problems:
        raise PackError(problems)
    steps = sum(len(f.steps) for f in skills.flows.values())
    out.print(
        f"{len(skills.flows)} flows, {steps} steps, {len(skills.responses.responses)} responses: OK"
    )
    if as_json:
        out.print(json.dumps({"flows": len(skills.flows), "steps": steps, "problems": []}))


@test_app.command("stories")
def test_stories(
    path: Annotated[
        Path | None, typer.Argument(help="A stories file or folder (default: every bundled story).")
    ] = None,
    models_dir: Annotated[
        Path | None,
        typer.Option("--models", help="Trained models to use (default: train afresh, ~10 s)."),
    ] = None,
    urls: Annotated[
        list[str] | None,
        typer.Option(
            "--url",
            help="Run against running servers instead (repeat: turns alternate between them), "
            "on the configured database, which the servers share (see docs/dialogue.md).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run conversation stories through a fresh database with the demo operator: every turn's
    responses, intent, slots and backend calls are checked. Exit 1 if any story fails."""
    from kefu.dialogue.stories import load_stories, story_paths

    stories = [s for p in story_paths(path) for s in load_stories(p)]
    if not stories:
        raise PackError([f"{path or 'skills'}: no stories found"])
    if urls:
        results: list[Any] = _run_over_http(stories, urls)
    else:
        results = _run_in_process(stories, models_dir)
    _report(results, as_json)


def _run_in_process(stories: list[Story], models_dir: Path | None) -> list[Any]:
    from kefu.stories import StoryRunner

    with progress_bar() as update:
        update("preparing", 0.0)
        runner = StoryRunner(models_dir=models_dir)
        update("preparing", 1.0)
        results = []
        try:
            for story in stories:
                results.append(runner.run(story))
                update("stories", len(results) / len(stories))
        finally:
            runner.close()
    return results


def _run_over_http(stories: list[Story], urls: list[str]) -> list[Any]:
    """What can't be done to servers from outside is left out and said: fault injection
    (those stories), restarts (skipped, the story goes on)."""
    from kefu.config import Settings
    from kefu.stories_http import HttpStoryRunner, excluded_reason

    settings = Settings()
    key = settings.customer_identity_key
    identity_key = key.get_secret_value() if key else None
    runnable = []
    for story in stories:
        reason = excluded_reason(story, identity_key)
        if reason:
            out.print(f"skipped {escape(story.name)}: {reason}", highlight=False)
        else:
            runnable.append(story)
    runner = HttpStoryRunner(urls, settings, identity_key=identity_key)
    results = []
    try:
        with progress_bar() as update:
            for story in runnable:
                results.append(runner.run(story))
                update("stories", len(results) / max(len(runnable), 1))
    finally:
        runner.close()
    restarts = sum(r.skipped_restarts for r in results)
    unverified = sum(len(r.unverified) for r in results)
    if restarts or unverified:
        out.print(
            f"{restarts} restarts skipped; {unverified} slot values not kept after their turn "
            "(checked by name only)"
        )
    return results


def _report(results: list[Any], as_json: bool) -> None:
    failed = [r for r in results if not r.passed]
    for result in failed:
        out.print(f"[red]FAIL[/red] {escape(result.story.name)}", highlight=False)
        for problem in result.problems:
            out.print(f"  {problem}", highlight=False, markup=False)
    out.print(f"{len(results) - len(failed)} of {len(results)} stories passed")
    if as_json:
        out.print(
            json.dumps(
                {
                    "passed": len(results) - len(failed),
                    "failed": [{"story": r.story.name, "problems": r.problems} for r in failed],
                },
                ensure_ascii=False,
            )
        )
    if failed:
        raise typer.Exit(1)
