"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Integer, Uuid, column, insert, inspect, select, table, text, update
from sqlalchemy.sql.expression import TableClause

from kefu.config import Settings
from kefu.conversations.models import Customer
from kefu.db import migrate
from kefu.db.base import UTCDateTime, utcnow
from kefu.db.engine import make_engine
from kefu.db.models import Base
from kefu.privacy.crypto import blind_index, ensure_keyring
from kefu.runtime import Runtime


def test_upgrade_from_empty_matches_models_and_is_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert migrate.pending(engine) == [f"{n:04d}" for n in range(1, 13)]
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
            if table.startswith("demo_"):
                continue  # the demo operator's tables stand in for an outside system
            columns = {c["name"] for c in inspect(engine).get_columns(table)}
            assert "tenant_id" in columns, table
    finally:
        engine.dispose()


def test_0002_upgrades_a_0001_database_in_place(db_url: str) -> None:
    """An existing deployment upgrades in place; its entries have no vectors until served."""
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine, "0001")
        assert migrate.pending(engine)[0] == "0002"
        migrate.upgrade(engine)
        columns = {c["name"] for c in inspect(engine).get_columns("knowledge_entries")}
        assert {"vectors", "vectors_key"} <= columns
    finally:
        engine.dispose()


def test_0003_keeps_existing_rows_readable_and_finds_customers_by_blind_index(
    db_url: str, tmp_path: Path
) -> None:
    """Rows written before encryption stay readable (as legacy plaintext) after 0003, and the
    existing customers get their blind index, so returning customers are still recognised."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=db_url,
        secret_key=None,
    )
    engine = make_engine(db_url)
    keyring = ensure_keyring(engine, settings)
    try:
        migrate.upgrade(engine, "0002")
        customer, now = uuid.uuid4(), utcnow()
        conversations = _table(
            "conversations", "tenant_id", "status", "language", "channel", "last_seq"
        )
        conversations.append_column(column("customer_id", Uuid()))
        conversations.append_column(column("updated_at", UTCDateTime()))
        with engine.begin() as conn:  # tables as they were at 0002
            conn.execute(
                insert(_table("tenants", "slug", "name", "knowledge_revision")),
                {"id": 1, "slug": "t", "name": "T", "knowledge_revision": 0, "created_at": now},
            )
            conn.execute(
                insert(_table("customers", "tenant_id", "external_id", "display_name")),
                {
                    "id": customer,
                    "tenant_id": 1,
                    "external_id": "crm-1",
                    "display_name": "王小明",
                    "created_at": now,
                },
            )
            conn.execute(
                insert(conversations),
                {
                    "id": uuid.uuid4(),
                    "tenant_id": 1,
                    "customer_id": customer,
                    "status": "bot",
                    "language": "zh",
                    "channel": "web",
                    "last_seq": 0,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        migrate.upgrade(engine)
        assert migrate.pending(engine) == []
        customers = Customer.__table__
        with engine.connect() as conn:
            row = conn.execute(select(customers).where(customers.c.id == customer)).one()
            linked = conn.execute(text("SELECT count(*) FROM conversations")).scalar_one()
        assert (row.external_id, row.display_name) == ("crm-1", "王小明")
        assert row.external_id_hash == blind_index(keyring, "crm-1")
        assert linked == 1  # the customer's conversation survived the table rebuild
    finally:
        engine.dispose()


def _table(name: str, *names: str) -> TableClause:
    """A lightweight table: `id`, the given columns, `created_at`."""
    id_type = Integer() if name == "tenants" else Uuid()
    columns = [column("id", id_type), *(column(n) for n in names)]
    return table(name, *columns, column("created_at", UTCDateTime()))


def test_0005_strips_text_from_turn_events_written_before_masking(runtime: Runtime) -> None:
    from alembic import command

    from kefu.conversations.models import TurnEvent

    conv = runtime.conversations.start()
    runtime.conversations.post(conv.id, "我的电话13812345678")
    old_style = {
        "normalized": "我的电话13812345678",
        "tokens": [["13812345678", 4, 15]],
        "intent": "bike.fault",
        "language": "zh",
    }
    with runtime.engine.begin() as conn:
        conn.execute(update(TurnEvent.__table__).values(understanding=old_style))  # type: ignore[arg-type]
    command.downgrade(migrate.alembic_config(runtime.engine), "0004")
    migrate.upgrade(runtime.engine)
    with runtime.engine.connect() as conn:
        stored = conn.execute(select(TurnEvent.__table__.c.understanding)).scalar_one()  # type: ignore[attr-defined]
    assert "13812345678" not in str(stored)
    assert stored == {"intent": "bike.fault", "language": "zh", "redacted": True}
