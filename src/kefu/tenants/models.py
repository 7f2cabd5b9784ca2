from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kefu.db.base import Base, Json, UTCDateTime, utcnow


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Bumped on every knowledge change so running servers know to rebuild their index.
    knowledge_revision: Mapped[int] = mapped_column(Integer, default=0)
    # Transcripts older than this many days are deleted or anonymised (None: kept).
    retention_days: Mapped[int | None] = mapped_column(Integer)
    retention_mode: Mapped[str] = mapped_column(
        String(16), default="anonymise", server_default="anonymise"
    )
    # kefu.dialogue.escalation.EscalationRules as JSON (None: the defaults).
    escalation: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # The chat widget's defaults (kefu.web.widget settings) as JSON (None: the defaults).
    widget: Mapped[dict[str, Any] | None] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
