"""conversations.client_key_hash: starting a conversation is idempotent per client key

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 20:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch (copy-and-move) on SQLite would trip the messages' foreign keys.
    op.add_column("conversations", sa.Column("client_key_hash", sa.String(length=64)))
    op.create_index(
        "ux_conversations_tenant_client_key",
        "conversations",
        ["tenant_id", "client_key_hash"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ux_conversations_tenant_client_key", table_name="conversations")
    op.drop_column("conversations", "client_key_hash")
