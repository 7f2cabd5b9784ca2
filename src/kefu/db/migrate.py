"""Alembic, driven from code: `kefu db upgrade` and `kefu serve` call `upgrade()`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def pending(engine: Engine) -> list[str]:
    """Revisions not yet applied, oldest first (empty when the database is current)."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    heads = script.get_revisions("heads")
    todo = []
    for head in heads:
        for rev in script.iterate_revisions(head.revision, None):
            if rev.revision in current:
                break
            todo.append(rev.revision)
    return list(reversed(todo))
