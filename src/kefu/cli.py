"""The `kefu` command. Errors print one clear line (no traceback) and exit non-zero."""

from __future__ import annotations

import functools
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from kefu import __version__
from kefu.config import Settings

app = typer.Typer(
    help="kefu: intelligent customer service.", no_args_is_help=True, pretty_exceptions_enable=False
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
kb_app = typer.Typer(help="Knowledge base (FAQ packs).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(kb_app, name="kb")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn expected failures into a one-line message and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from kefu.errors import KefuError
        from kefu.knowledge.pack import PackError

        try:
            return fn(*args, **kwargs)
        except PackError as exc:
            for problem in exc.problems:
                err.print(f"[red]error:[/red] {problem}", markup=True, highlight=False)
            raise typer.Exit(1) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            err.print(f"[red]error:[/red] invalid setting {where}: {first['msg']}")
            raise typer.Exit(1) from None
        except KefuError as exc:
            err.print(f"[red]error:[/red] {exc.message}", highlight=False)
            raise typer.Exit(1) from None
        except SQLAlchemyError as exc:
            detail = getattr(exc, "orig", None) or exc
            err.print(f"[red]error:[/red] database: {str(detail).splitlines()[0]}", highlight=False)
            raise typer.Exit(1) from None
        except OSError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper


def settings() -> Settings:
    return Settings()


@app.command()
def version() -> None:
    """Print kefu's version."""
    out.print(f"kefu {__version__}")


@app.command("config")
@friendly
def show_config(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective settings (secrets masked)."""
    values = settings().masked()
    if as_json:
        out.print_json(json.dumps(values, default=str))
        return
    table = Table("setting", "value", "environment variable")
    for name, value in values.items():
        table.add_row(name, str(value), f"KEFU_{name.upper()}")
    out.print(table)


@db_app.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Apply pending migrations (creates the database if needed)."""
    from kefu.db import migrate
    from kefu.db.engine import make_engine
    from kefu.privacy.crypto import ensure_keyring

    s = settings()
    engine = make_engine(s.effective_database_url)
    try:
        ensure_keyring(engine, s)  # 0003 fills blind indexes for existing customers
        todo = migrate.pending(engine)
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    if todo:
        out.print(f"applied {len(todo)} migration(s): {', '.join(todo)}")
    else:
        out.print("database is up to date")


@app.command()
@friendly
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (KEFU_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (KEFU_PORT).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes (KEFU_WORKERS); more than 1 needs PostgreSQL and Redis.",
        ),
    ] = None,
) -> None:
    """Migrate, load the default knowledge into an empty database, and serve the API."""
    from kefu.errors import KefuError
    from kefu.runtime import prepare_database
    from kefu.server import serve as run_server

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if workers is not None:
        overrides["workers"] = workers
    s = Settings(**overrides)
    if s.workers > 1 and not s.redis_url:
        # Locks, live events and jobs would stay inside each process: a customer's message
        # could overtake their previous one and an agent's reply reach only one worker.
        raise KefuError(
            "several workers need Redis: set KEFU_REDIS_URL (and use PostgreSQL), "
            "or serve with --workers 1"
        )
    seeded = prepare_database(s)
    for result in seeded:
        out.print(f"loaded default knowledge pack {result.pack!r}: {result.created} entries")
    if s.backend == "demo" and _seed_empty_demo(s):
        out.print(
            "seeded the demo operator (customers c-1001..c-1003 and a city; `kefu demo seed`)"
        )
    if s.train_on_start and not (s.effective_models_dir / "intent" / "current").is_file():
        # In a child process: training imports scikit-learn, which the server needn't keep.
        out.print(
            "training the intent model on the knowledge base's intents (first start only) ..."
        )
        import subprocess

        if subprocess.run([sys.executable, "-m", "kefu", "train"], check=False).returncode:
            raise KefuError(
                "training the intent model failed (see above): fix it and run `kefu train`, "
                "or start with KEFU_TRAIN_ON_START=false"
            )
    s.signing_key  # noqa: B018 - create the key file now, not on the first request
    out.print(f"kefu {__version__} on http://{s.host}:{s.port}  (API docs: /docs)")
    if s.workers > 1:
        out.print(f"{s.workers} worker processes (models loaded once, before they start)")
    run_server(s, masked_log_config(s.log_format))


def _seed_empty_demo(s: Settings) -> bool:
    """A first start on the demo backend gets the demo city, so the flows have someone to
    act for; an operator's own demo data (re-seeded or edited) is never replaced."""
    from sqlalchemy import func, select

    from kefu.backends.demo.models import DemoCustomer
    from kefu.backends.demo.seed import seed
    from kefu.db.engine import make_engine

    engine = make_engine(s.effective_database_url)
    try:
        with engine.connect() as conn:
            if conn.scalar(select(func.count()).select_from(DemoCustomer.__table__)):
                return False
        seed(engine)
        return True
    finally:
        engine.dispose()


def masked_log_config(log_format: str = "text") -> dict[str, Any]:
    """uvicorn's logging, plus kefu's loggers, with PII masked in every record printed;
    `log_format` json: one JSON object per line (kefu.observability.logs)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"mask_pii": {"()": "kefu.privacy.redact.MaskingFilter"}}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("mask_pii")
    config["loggers"]["kefu"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    if log_format == "json":
        from kefu.observability.logs import use_json

        use_json(config)
    return config


@app.command()
@friendly
def chat(
    language: Annotated[str | None, typer.Option("--lang", help="zh or en")] = None,
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            help="Chat as this operator customer id (demo: c-1001, c-1002, c-1003), so flows "
            "can look up rides and bookings.",
        ),
    ] = None,
) -> None:
    """Chat with the bot in the terminal (uses the local database; Ctrl-D to quit)."""
    from kefu.runtime import Runtime, prepare_database

    s = settings()
    if language not in (None, "zh", "en"):
        raise typer.BadParameter("--lang must be zh or en")
    prepare_database(s)
    if s.backend == "demo" and _seed_empty_demo(s):
        out.print("[dim]seeded the demo operator (customers c-1001, c-1002, c-1003)[/dim]")
    runtime = Runtime.build(s)
    try:
        conv = runtime.conversations.start(
            language=language, channel="cli", customer_external_id=customer
        )
        out.print("[dim]kefu chat — type your question; Ctrl-D or /quit to leave.[/dim]")
        while True:
            try:
                text = input("> ")
            except (EOFError, KeyboardInterrupt):
                out.print()
                break
            if text.strip() in ("/quit", "/exit"):
                break
            if not text.strip():
                continue
            try:
                posted = runtime.conversations.post(conv.id, text, str(uuid.uuid4()))
            except Exception as exc:  # keep the session alive on bad input
                from kefu.errors import KefuError

                if not isinstance(exc, KefuError):
                    raise
                err.print(f"[red]{exc.message}[/red]")
                continue
            for reply in posted.replies:
                # Replies are data, not Rich markup: "[图片]" must print as typed.
                out.print(f"[bold cyan]kefu[/bold cyan] {escape(reply.text)}", highlight=False)
                buttons = [q["title"] for q in (reply.payload or {}).get("quick_replies", [])]
                if buttons:
                    out.print("[dim]  " + escape(" | ".join(buttons)) + "[/dim]", highlight=False)
            if posted.status.value == "waiting_agent":
                out.print("[dim](waiting for a human agent)[/dim]")
    finally:
        runtime.close()


def _format_of(path: Path) -> Literal["csv", "xlsx", "yaml", "json"]:
    from kefu.errors import InvalidInput
    from kefu.knowledge.tabular import SUFFIXES

    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(f"{path}: use a .yaml, .yml, .json, .csv or .xlsx file")
    return fmt


@kb_app.command("import")
@friendly
def kb_import(
    files: Annotated[
        list[Path],
        typer.Argument(help="Pack files (.yaml/.yml/.json) or spreadsheets (.csv/.xlsx)."),
    ],
    dry_run: Annotated[bool, typer.Option(help="Validate only; change nothing.")] = False,
) -> None:
    """Validate packs and upsert their entries by id."""
    import getpass

    from kefu.errors import NotReady
    from kefu.knowledge.editing import Editor
    from kefu.knowledge.pack import KnowledgePack, PackError
    from kefu.knowledge.service import export_packs, import_pack
    from kefu.knowledge.tabular import load_file
    from kefu.privacy import audit
    from kefu.privacy.audit import Actor
    from kefu.runtime import Runtime, prepare_database

    tabular = any(_format_of(path) in ("csv", "xlsx") for path in files)
    s = Settings(load_default_knowledge=False)
    runtime: Runtime | None = None
    try:
        stored: list[KnowledgePack] = []
        if tabular:  # spreadsheets validate against the stored packs: read them first
            if not dry_run:
                prepare_database(s)
            try:
                runtime = Runtime.build(s)
            except NotReady:
                if not dry_run:
                    raise
            if runtime is not None:  # else a dry run on a new database: nothing is stored
                with runtime.sessions() as session:
                    stored = export_packs(session, runtime.tenant)
        packs: list[KnowledgePack] = []
        problems: list[str] = []
        for path in files:
            try:
                packs.extend(load_file(path, stored))
            except PackError as exc:
                problems.extend(exc.problems)
        names = [p.pack for p in packs]
        ids = [e.id for p in packs for e in p.entries]
        problems += [
            f"pack {n!r} is in more than one file" for n in sorted(set(names)) if names.count(n) > 1
        ]
        problems += [
            f"entry id {i!r} is in more than one pack" for i in sorted(set(ids)) if ids.count(i) > 1
        ]
        if problems:
            raise PackError(problems)
        if dry_run:
            out.print(f"valid: {len(packs)} pack(s), {len(ids)} entries")
            return
        if runtime is None:
            prepare_database(s)
            runtime = Runtime.build(s)
        # Versions made here name who ran the command on this machine.
        try:
            editor = Editor(f"cli:{getpass.getuser()}"[:200])
        except (KeyError, OSError):  # no user name for this uid (e.g. a bare container)
            editor = Editor("cli")
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("importing", total=len(packs))
            with runtime.sessions.begin() as session:
                results = []
                for pack in packs:
                    results.append(import_pack(session, runtime.tenant, pack, editor))
                    progress.advance(task)
                audit.record(
                    session,
                    Actor.cli(),
                    "knowledge.import",
                    tenant_id=runtime.tenant.id,
                    target_type="packs",
                    target_id=",".join(names)[:128],
                    detail={r.pack: {"created": r.created, "updated": r.updated} for r in results},
                )
    finally:
        if runtime is not None:
            runtime.close()
    for r in results:
        out.print(f"{r.pack}: {r.created} created, {r.updated} updated")


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


@kb_app.command("export")
@friendly
def kb_export(
    file: Annotated[
        Path | None, typer.Argument(help="Output file, or - for stdout (the same as --out).")
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Output file (default: stdout).")
    ] = None,
    fmt_name: Annotated[
        str | None,
        typer.Option("--format", help="csv, xlsx, yaml or json (default: from the file name)."),
    ] = None,
    pack: Annotated[str | None, typer.Option(help="Export only this pack.")] = None,
) -> None:
    """Write the knowledge base out as YAML, JSON, CSV or XLSX (one file, all packs)."""
    from kefu.errors import InvalidInput, NotFound
    from kefu.knowledge.service import export_packs
    from kefu.knowledge.tabular import SUFFIXES, export_table
    from kefu.runtime import Runtime

    if file is not None and out_file is not None:
        raise InvalidInput("give the output file once: FILE or --out FILE")
    target = out_file or file
    to_stdout = target is None or str(target) == "-"
    formats: dict[str, Literal["csv", "xlsx", "yaml", "json"]] = {
        "csv": "csv",
        "xlsx": "xlsx",
        "yaml": "yaml",
        "json": "json",
    }
    if fmt_name is not None and fmt_name.lower() not in formats:
        raise InvalidInput(f"unknown format {fmt_name!r}: use csv, xlsx, yaml or json")
    named = None if to_stdout or target is None else SUFFIXES.get(target.suffix.lower())
    fmt: Literal["csv", "xlsx", "yaml", "json"]
    if fmt_name is None:
        fmt = "yaml" if to_stdout or target is None else _format_of(target)
    else:
        fmt = formats[fmt_name.lower()]
        if named is not None and named != fmt:
            raise InvalidInput(f"--format {fmt} does not match the file name {target}")
    if fmt == "xlsx" and to_stdout and _stdout_is_terminal():
        raise InvalidInput("xlsx is a binary file: write it with --out FILE.xlsx")
    runtime = Runtime.build(settings())  # read-only: refuses an unmigrated database
    try:
        with runtime.sessions() as session:
            packs = export_packs(session, runtime.tenant)
    finally:
        runtime.close()
    if pack:
        packs = [p for p in packs if p.pack == pack]
        if not packs:
            raise NotFound(f"no pack named {pack!r}")
    data = export_table(packs, fmt)
    if to_stdout or target is None:
        if fmt in ("yaml", "json"):
            sys.stdout.write(data.decode("utf-8"))
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
    else:
        target.write_bytes(data)
        count = sum(len(p.entries) for p in packs)
        out.print(f"wrote {count} entries in {len(packs)} pack(s) to {target}")


from kefu.cli_nlu import eval_app, train  # noqa: E402 - registered after `friendly` exists

app.command("train")(friendly(train))
app.add_typer(eval_app, name="eval")
for _command in eval_app.registered_commands:
    assert _command.callback is not None
    _command.callback = friendly(_command.callback)

from kefu.cli_admin import (  # noqa: E402 - registered after `friendly` exists
    accounts_app,
    audit_command,
    customers_app,
    retention_app,
    tenants_app,
)

app.command("audit")(friendly(audit_command))
for _name, _group in (
    ("tenants", tenants_app),
    ("accounts", accounts_app),
    ("retention", retention_app),
    ("customers", customers_app),
):
    app.add_typer(_group, name=_name)
    for _command in _group.registered_commands:
        assert _command.callback is not None
        _command.callback = friendly(_command.callback)

from kefu.cli_analytics import analytics_app  # noqa: E402 - registered after `friendly` exists
from kefu.cli_demo import demo_app  # noqa: E402 - registered after `friendly` exists
from kefu.cli_dialogue import flows_app, test_app  # noqa: E402
from kefu.cli_handoff import agents_app  # noqa: E402
from kefu.cli_jobs import jobs_app, worker_command  # noqa: E402
from kefu.cli_keys import keys_app  # noqa: E402 - registered after `friendly` exists

for _name, _group in (
    ("keys", keys_app),
    ("flows", flows_app),
    ("test", test_app),
    ("agents", agents_app),
    ("analytics", analytics_app),
    ("jobs", jobs_app),
):
    app.add_typer(_group, name=_name)
    for _command in _group.registered_commands:
        assert _command.callback is not None
        _command.callback = friendly(_command.callback)
app.add_typer(demo_app, name="demo")
app.command("worker")(friendly(worker_command))


def main() -> None:
    app()
