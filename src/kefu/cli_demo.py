"""`kefu demo seed`: fill the demo operator's tables (kefu.backends.demo), registered on the
main app by cli.py. Re-running replaces the demo data; kefu's own data is never touched."""

from __future__ import annotations

import json
import sys
from typing import Annotated

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
