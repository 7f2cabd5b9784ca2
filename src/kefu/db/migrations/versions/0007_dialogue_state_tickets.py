"""dialogue state on conversations, the policy's reason on turn events, kefu-side tickets

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("dialogue", sa.Text(), nullable=True))
    with op.batch_alter_table("turn_events") as batch:
        batch.add_column(sa.Column("reason", sa.String(length=64), nullable=True))
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", BIGID, nullable=True),
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "done", name="ticket_status", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("detail", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tickets_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_tickets_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_tickets_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    op.create_index("ix_tickets_tenant_status", "tickets", ["tenant_id", "status"])
    op.create_index(op.f("ix_tickets_conversation_id"), "tickets", ["conversation_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_tickets_conversation_id"), table_name="tickets")
    op.drop_index("ix_tickets_tenant_status", table_name="tickets")
    op.drop_table("tickets")
    # Plain DROP COLUMN (SQLite >= 3.35): a batch copy of `conversations` would have to drop
    # a table that messages reference, which SQLite's foreign keys refuse.
    op.execute("ALTER TABLE turn_events DROP COLUMN reason")
    op.execute("ALTER TABLE conversations DROP COLUMN dialogue")
