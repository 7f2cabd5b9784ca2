"""redact turn events stored before PII masking existed

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 09:00:00

Turn events written before 0004 hold the normalised message text, its tokens and entity values
in the clear. Their text can't be masked reliably after the fact (the normalised form has lost
the capitals that English names and addresses are found by), so it is dropped, as retention's
anonymise mode does: intents, decisions, sentiment and timings stay for analytics.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
# Kept in step with kefu.privacy.retention._KEPT_UNDERSTANDING (copied: migrations don't import
# application code that may change after them).
KEPT = (
    "language",
    "script",
    "faq_outcome",
    "intent",
    "intent_confidence",
    "intent_ranking",
    "sentiment",
    "faq",
)


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    turns = sa.table(
        "turn_events", sa.column("id", sa.Integer()), sa.column("understanding", json_type)
    )
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(turns.c.id, turns.c.understanding)
            .where(turns.c.id > last)
            .order_by(turns.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1][0]
        for row_id, understanding in rows:
            data = understanding or {}
            if "text_masked" in data or data.get("redacted"):
                continue  # written with masking, or already stripped by retention
            kept = {k: v for k, v in data.items() if k in KEPT}
            kept["redacted"] = True
            bind.execute(turns.update().where(turns.c.id == row_id).values(understanding=kept))


def downgrade() -> None:
    pass  # the dropped text is gone; nothing to restore
