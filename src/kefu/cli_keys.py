"""`kefu keys ...`: data encryption keys (encryption at rest), registered on the app by cli.py.

No command ever prints key material: ids, which key is primary, and how many values use each.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import Engine

from kefu.config import Settings

keys_app = typer.Typer(help="Data encryption keys (encryption at rest).", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@contextmanager
def _database(settings: Settings) -> Iterator[Engine]:
    """The migrated database with its keyring installed."""
    from kefu.db import migrate
    from kefu.db.engine import make_engine
    from kefu.errors import NotReady
    from kefu.privacy.crypto import ensure_keyring

    engine = make_engine(settings.effective_database_url)
    try:
        ensure_keyring(engine, settings)
        if migrate.pending(engine):
            raise NotReady("the database schema is not up to date: run `kefu db upgrade` first")
        yield engine
    finally:
        engine.dispose()


def _audit(engine: Engine, action: str, key_id: str, detail: dict[str, int] | None) -> None:
    """Key events are deployment-wide: recorded without a tenant."""
    from kefu.db.engine import make_session_factory
    from kefu.privacy import audit
    from kefu.privacy.audit import Actor

    with make_session_factory(engine, system=True).begin() as session:
        audit.record(
            session,
            Actor.cli(),
            action,
            tenant_id=None,
            target_type="key",
            target_id=key_id,
            detail=detail,
        )


@keys_app.command("new")
def keys_new() -> None:
    """Add a fresh key to the key file and make it primary; then run `kefu keys rotate`."""
    from kefu.errors import KefuError
    from kefu.privacy.crypto import KEY_FILE, RELOAD_INTERVAL_S, add_key

    s = Settings()
    if s.encryption_keys is not None:
        raise KefuError(
            "keys come from KEFU_ENCRYPTION_KEYS, which kefu doesn't edit: put a new "
            "'KEYID:BASE64KEY' (`openssl rand -base64 32`) first in the list, keep the old keys "
            "after it, restart every server with it, then run `kefu keys rotate`"
        )
    path = s.encryption_key_file or s.data_dir / KEY_FILE
    key_id = add_key(path)
    try:
        with _database(s) as engine:
            _audit(engine, "keys.new", key_id, None)
    except KefuError:
        pass  # no database yet: nothing to record it in; the key file is what counts
    out.print(f"added key {key_id} to {path}; it is the primary key now.", highlight=False)
    out.print(
        f"Running servers that share this file switch to it within {RELOAD_INTERVAL_S:g} s. "
        "Back the file up, then run `kefu keys rotate`.",
        highlight=False,
    )


@keys_app.command("list")
def keys_list() -> None:
    """Key ids, the primary key, and how many stored values use each key."""
    from kefu.privacy.crypto import keyring_of
    from kefu.privacy.rotation import key_usage

    s = Settings()
    with _database(s) as engine:
        keyring = keyring_of(engine)
        usages = key_usage(engine)
    headers = [f"{kid} (primary)" if kid == keyring.primary else kid for kid in keyring.key_ids]
    extras = [
        (label, [getattr(u, attr) for u in usages])
        for label, attr in (("plaintext", "plaintext"), ("unknown key", "unknown"))
        if any(getattr(u, attr) for u in usages)
    ]
    table = Table("column", *headers, *(label for label, _ in extras), title=keyring.source)
    for i, usage in enumerate(usages):
        counts = [usage.by_key.get(kid, 0) for kid in keyring.key_ids]
        table.add_row(usage.column, *map(str, counts), *(str(c[i]) for _, c in extras))
    out.print(table)
    behind = extras or any(
        n for u in usages for kid, n in u.by_key.items() if kid != keyring.primary
    )
    if behind:
        out.print(f"values not under {keyring.primary}: run `kefu keys rotate`", highlight=False)


@keys_app.command("rotate")
def keys_rotate(
    batch: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 500,
) -> None:
    """Re-encrypt every value under the primary key, in batches, beside live traffic.

    Interrupt it at any time; running it again continues where it stopped."""
    from kefu.privacy.crypto import keyring_of
    from kefu.privacy.rotation import rotate

    s = Settings()
    with _database(s) as engine:
        primary = keyring_of(engine).primary
        with Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def update(column: str, done: int, total: int) -> None:
                if column not in tasks:
                    tasks[column] = bar.add_task(column, total=total)
                bar.update(tasks[column], completed=done, total=total)

            results = rotate(engine, batch_size=batch, progress=update)
        _audit(engine, "keys.rotate", primary, {r.column: r.rotated for r in results})
    for r in results:
        indexed = f", {r.indexed} blind indexes filled" if r.indexed else ""
        out.print(f"{r.column}: {r.rotated} values re-encrypted{indexed}", highlight=False)
    out.print(f"done: values are under key {primary} (see `kefu keys list`)", highlight=False)
