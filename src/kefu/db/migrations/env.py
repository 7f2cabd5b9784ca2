"""Alembic environment: uses the engine handed over by kefu.db.migrate (never a URL in an ini)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from kefu.db.models import Base

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:
    from kefu.config import get_settings
    from kefu.db.engine import make_engine

    engine = make_engine(get_settings().effective_database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
