"""Knowledge storage: packs (with their template variables) and FAQ entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kefu.db.base import Base, Json, UTCDateTime, utcnow


class KnowledgePackRow(Base):
    __tablename__ = "knowledge_packs"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    variables: Mapped[dict[str, Any]] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KnowledgeEntryRow(Base):
    __tablename__ = "knowledge_entries"
    __table_args__ = (UniqueConstraint("tenant_id", "entry_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    pack_id: Mapped[int] = mapped_column(ForeignKey("knowledge_packs.id"), index=True)
    entry_id: Mapped[str] = mapped_column(String(128))
    skill: Mapped[str] = mapped_column(String(64))
    # The validated entry as the pack format describes it (kefu.knowledge.pack.KnowledgeEntry).
    data: Mapped[dict[str, Any]] = mapped_column(Json)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The entry's question vectors (float32 rows, questions in `KnowledgeEntry` order), so a
    # start or a reload needn't encode every question again. Valid only while `vectors_key`
    # equals `vectors_key(encoder, questions)`: any edit of the questions, or another encoder,
    # makes them stale without every write path having to remember to clear them.
    vectors: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=False)
    vectors_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
