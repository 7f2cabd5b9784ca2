"""Knowledge storage: packs (with their template variables) and FAQ entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kefu.db.base import Base, BigId, Json, UTCDateTime, utcnow


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


class KnowledgeVersion(Base):
    """One change of one FAQ entry: what it became (None: deleted), who, when, how.

    Append-only: an edit, a delete, an import or a revert adds a row; the history of an entry
    is its rows in `version` order, and a revert writes an older `data` as a new version."""

    __tablename__ = "knowledge_versions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "entry_id", "version"),
        Index("ix_knowledge_versions_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    entry_id: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(
        String(16)
    )  # create, update, delete, import, revert, review
    data: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    pack: Mapped[str] = mapped_column(String(64))
    # Who: a console account (None for the CLI and kefu itself), and a label kept even after
    # the account is deleted.
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IntentRow(Base):
    """An intent and its training examples, editable in the admin console (seeded from the
    bundled `skills/*/intents.yaml`)."""

    __tablename__ = "intents"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(128))
    pack: Mapped[str] = mapped_column(String(64))
    # kefu.knowledge.intents.IntentSpec as JSON (description and examples per language).
    data: Mapped[dict[str, Any]] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TurnReview(Base):
    """A person's verdict on one answered customer message: the intent and/or FAQ entry it
    should have had. The (PII-masked) text is kept, so the verdict stays training data after
    retention deletes the conversation; hence no foreign key to `turn_events`."""

    __tablename__ = "turn_reviews"
    __table_args__ = (UniqueConstraint("tenant_id", "turn_event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    turn_event_id: Mapped[int] = mapped_column(BigId)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    intent: Mapped[str | None] = mapped_column(String(128), nullable=True)
    entry_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrainingRun(Base):
    """A retraining started from the console: progress, the evaluation of the candidate against
    the model in service, and whether it went live. Kept in the database so every worker's
    page shows the same run."""

    __tablename__ = "training_runs"
    __table_args__ = (Index("ix_training_runs_tenant_started", "tenant_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    # running, promoted (live), refused (worse than the current model), failed
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(32), default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
