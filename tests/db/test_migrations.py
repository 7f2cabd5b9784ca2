"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from kefu.db import migrate
from kefu.db.engine import make_engine
from kefu.db.models import Base


def test_upgrade_from_empty_matches_models_and_is_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert migrate.pending(engine) == ["0001", "0002"]
        migrate.upgrade(engine)
        assert migrate.pending(engine) == []
        migrate.upgrade(engine)  # a second run is a no-op
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == []
        tables = set(inspect(engine).get_table_names())
        assert tables >= {
            "tenants",
            "customers",
            "conversations",
            "messages",
            "turn_events",
            "knowledge_packs",
            "knowledge_entries",
        }
        for table in tables - {"tenants", "alembic_version"}:
            columns = {c["name"] for c in inspect(engine).get_columns(table)}
            assert "tenant_id" in columns, table
    finally:
        engine.dispose()


def test_0002_upgrades_a_0001_database_in_place(db_url: str) -> None:
    """An existing deployment upgrades in place; its entries have no vectors until served."""
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine, "0001")
        assert migrate.pending(engine) == ["0002"]
        migrate.upgrade(engine)
        columns = {c["name"] for c in inspect(engine).get_columns("knowledge_entries")}
        assert {"vectors", "vectors_key"} <= columns
    finally:
        engine.dispose()
