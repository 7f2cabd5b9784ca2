"""analytics rollups: per-conversation and per-turn facts, refresh state, sent alerts

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 20:09:01.738576
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "analytics_alerts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_analytics_alerts_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_alerts")),
    )
    with op.batch_alter_table("analytics_alerts", schema=None) as batch_op:
        batch_op.create_index("ux_analytics_alerts_key", ["tenant_id", "key"], unique=True)

    op.create_table(
        "analytics_state",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_analytics_state_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_analytics_state")),
    )
    op.create_table(
        "analytics_conversations",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("local_hour", sa.SmallInteger(), nullable=False),
        sa.Column("skill", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("customer_messages", sa.Integer(), nullable=False),
        sa.Column("bot_messages", sa.Integer(), nullable=False),
        sa.Column("agent_messages", sa.Integer(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("fallbacks", sa.Integer(), nullable=False),
        sa.Column("clarifications", sa.Integer(), nullable=False),
        sa.Column("negative_turns", sa.Integer(), nullable=False),
        sa.Column("sentiment_sum", sa.Float(), nullable=False),
        sa.Column("bot_first_response_ms", sa.Float(), nullable=True),
        sa.Column("handle_ms", sa.Float(), nullable=True),
        sa.Column("handed_off", sa.Boolean(), nullable=False),
        sa.Column("handoff_reason", sa.String(length=64), nullable=True),
        sa.Column("agent_first_response_ms", sa.Float(), nullable=True),
        sa.Column("agent_handle_ms", sa.Float(), nullable=True),
        sa.Column("returned_24h", sa.Boolean(), nullable=False),
        sa.Column("resolved_first_contact", sa.Boolean(), nullable=False),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("flow", sa.String(length=128), nullable=True),
        sa.Column("flow_outcome", sa.String(length=32), nullable=True),
        sa.Column("flow_last_step", sa.String(length=128), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_analytics_conversations_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_analytics_conversations_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_analytics_conversations")),
    )
    with op.batch_alter_table("analytics_conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_analytics_conversations_day", ["tenant_id", "local_day"], unique=False
        )

    op.create_table(
        "analytics_turns",
        sa.Column(
            "turn_event_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("local_hour", sa.SmallInteger(), nullable=False),
        sa.Column("skill", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("intent", sa.String(length=128), nullable=True),
        sa.Column("faq_entry_id", sa.String(length=128), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("polarity", sa.SmallInteger(), nullable=False),
        sa.Column("place", sa.String(length=128), nullable=True),
        sa.Column("gap", sa.Boolean(), nullable=False),
        sa.Column("text_masked", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["analytics_conversations.conversation_id"],
            name=op.f("fk_analytics_turns_conversation_id_analytics_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_analytics_turns_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("turn_event_id", name=op.f("pk_analytics_turns")),
    )
    with op.batch_alter_table("analytics_turns", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_turns_conversation", ["conversation_id"], unique=False)
        batch_op.create_index("ix_analytics_turns_day", ["tenant_id", "local_day"], unique=False)
        batch_op.create_index(
            "ix_analytics_turns_gap",
            ["tenant_id", "local_day"],
            unique=False,
            sqlite_where=sa.text("gap"),
            postgresql_where=sa.text("gap"),
        )
        for kind in ("intent", "place"):
            batch_op.create_index(
                f"ix_analytics_turns_{kind}_hour",
                ["tenant_id", kind, "local_hour", "local_day", "conversation_id"],
                unique=False,
            )


def downgrade() -> None:
    with op.batch_alter_table("analytics_turns", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_turns_day")
        batch_op.drop_index("ix_analytics_turns_conversation")

    op.drop_table("analytics_turns")
    with op.batch_alter_table("analytics_conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_conversations_day")

    op.drop_table("analytics_conversations")
    op.drop_table("analytics_state")
    with op.batch_alter_table("analytics_alerts", schema=None) as batch_op:
        batch_op.drop_index("ux_analytics_alerts_key")

    op.drop_table("analytics_alerts")
