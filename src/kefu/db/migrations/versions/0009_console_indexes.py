"""indexes for the agent console: recent conversations, recently finished chats

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 14:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_conversations_tenant_updated", "conversations", ["tenant_id", "updated_at"])
    op.create_index("ix_handoffs_tenant_ended", "handoffs", ["tenant_id", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_handoffs_tenant_ended", table_name="handoffs")
    op.drop_index("ix_conversations_tenant_updated", table_name="conversations")
