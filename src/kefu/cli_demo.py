"""`kefu demo seed`: fill the demo operator's tables (kefu.backends.demo), registered on the
main app by cli.py. Re-running replaces the demo data; kefu's own data is never touched.
`kefu demo simulate`: simulated customer traffic through the real pipeline
(kefu.analytics.simulate)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kefu.config import Settings

demo_app = typer.Typer(
    help="The demo operator: a bike-sharing and lodging city in kefu's own database.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)


@demo_app.command("seed")
def seed_command(
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed gives the same city.")
    ] = 7,
    customers: Annotated[
        int, typer.Option("--customers", min=0, help="Customers besides the story ones.")
    ] = 200,
    bikes: Annotated[
        int, typer.Option("--bikes", min=0, help="Bikes besides the story ones.")
    ] = 2000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Create (or replace) the demo city: story customers c-1001..c-1003 and a random Beijing."""
    # Imported here: cli.py imports this module at its end, after `friendly` exists.
    from kefu.cli import friendly

    friendly(_seed)(seed, customers, bikes, as_json)


def _seed(seed: int, customers: int, bikes: int, as_json: bool) -> None:
    from kefu.backends.demo.seed import seed as seed_city
    from kefu.cli_nlu import progress_bar
    from kefu.runtime import open_engine

    engine = open_engine(Settings())
    try:
        with progress_bar() as update:
            counts = seed_city(engine, seed=seed, customers=customers, bikes=bikes, progress=update)
    finally:
        engine.dispose()
    if as_json:
        sys.stdout.write(json.dumps(counts) + "\n")
        return
    table = Table("table", "rows", title=f"demo city, seed {seed}")
    for name, count in counts.items():
        table.add_row(name, str(count))
    out.print(table)
    out.print("story customers: c-1001 (王小明), c-1002 (Emily Chen), c-1003 (李娜)")


@demo_app.command("simulate")
def simulate_command(
    conversations: Annotated[
        int, typer.Option("--conversations", "-n", help="How many conversations to simulate.")
    ] = 1000,
    days: Annotated[int, typer.Option("--days", help="Spread over the last D local days.")] = 30,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed gives the same traffic.")
    ] = 7,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", help="Customers served at once (threads); 4-8 speed up PostgreSQL."
        ),
    ] = 1,
    ledger_file: Annotated[
        Path | None,
        typer.Option("--ledger", help="Write what was simulated, per conversation, as JSON."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the totals as JSON.")] = False,
) -> None:
    """Drive realistic conversations through the real pipeline into the configured database
    (both skills, zh and en, handoffs, ratings, unanswerable questions), then refresh analytics."""
    from kefu.cli import friendly

    friendly(_simulate)(conversations, days, seed, workers, ledger_file, as_json)


def _simulate(
    conversations: int,
    days: int,
    seed: int,
    workers: int,
    ledger_file: Path | None,
    as_json: bool,
) -> None:
    from zoneinfo import ZoneInfo

    from kefu.analytics.simulate import check_size, simulate
    from kefu.cli import _seed_empty_demo
    from kefu.cli_nlu import progress_bar
    from kefu.runtime import Runtime, prepare_database

    check_size(conversations, days, workers)
    settings = Settings()
    prepare_database(settings)
    if settings.backend == "demo":
        _seed_empty_demo(settings)  # the flows need someone to act for
    if not (settings.effective_models_dir / "intent" / "current").is_file():
        from kefu.cli import err

        err.print(
            "[yellow]warning:[/yellow] no trained intent model: flows start only from FAQ "
            "matches; run `kefu train` first for realistic traffic"
        )
    runtime = Runtime.build(settings)
    refreshed: int | None = None
    try:
        with progress_bar() as update:
            ledger = simulate(runtime, conversations, days, seed, progress=update, workers=workers)
            try:
                from kefu.analytics.refresh import refresh
            except ModuleNotFoundError as exc:  # a version without analytics rollups
                if exc.name != "kefu.analytics.refresh":
                    raise
                refresh = None  # type: ignore[assignment]
            if refresh is not None:
                # In full: the simulated rows carry past times, behind any earlier watermark.
                refreshed = refresh(
                    runtime.engine,
                    runtime.tenant.id,
                    ZoneInfo(settings.timezone),
                    full=True,
                    progress=lambda done, total: update("analytics", done / max(total, 1)),
                )
    finally:
        runtime.close()
    if ledger_file is not None:
        ledger_file.write_text(json.dumps(ledger.to_json(), ensure_ascii=False), "utf-8")
    totals = ledger.totals()
    if as_json:
        summary = {**totals, "analytics_refreshed": refreshed, "spike": _spike(ledger)}
        summary["gap_topics"] = {k: len(v) for k, v in ledger.gap_topics.items()}
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        return
    table = Table("what", "count", title=f"simulated traffic, seed {seed}, {days} days")
    for name, value in totals.items():
        table.add_row(name.replace("_", " "), "-" if value is None else str(value))
    out.print(table)
    spike = _spike(ledger)
    if spike:
        out.print(
            f"planted spike: {spike['count']} unlock failures at {spike['place']} "
            f"on {spike['local_day']} {spike['hour']:02d}:00"
        )
    topics = ", ".join(f"{k} ({len(v)})" for k, v in sorted(ledger.gap_topics.items()))
    out.print(f"planted knowledge gaps: {topics or 'none'}")
    if refreshed is None:
        out.print("analytics not refreshed: this version has no kefu.analytics.refresh")
    else:
        out.print(f"analytics refreshed: {refreshed} conversations")


def _spike(ledger: Any) -> dict[str, Any] | None:
    spike = ledger.spike
    if spike is None:
        return None
    return {k: getattr(spike, k) for k in ("place", "local_day", "hour", "count")}
