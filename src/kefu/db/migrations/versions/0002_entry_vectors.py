"""question vectors stored with knowledge entries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_entries") as batch:
        batch.add_column(sa.Column("vectors", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("vectors_key", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("knowledge_entries") as batch:
        batch.drop_column("vectors_key")
        batch.drop_column("vectors")
