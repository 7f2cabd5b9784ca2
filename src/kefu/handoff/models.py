"""Handoff storage: agent profiles, handoffs (the queue), ratings and canned responses."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from kefu.conversations.models import _enum
from kefu.db.base import Base, BigId, Json, UTCDateTime, utcnow
from kefu.privacy.crypto import EncryptedText


class AgentStatus(enum.StrEnum):
    ONLINE = "online"
    AWAY = "away"  # keeps the chats they have, gets no new ones
    OFFLINE = "offline"


class HandoffStatus(enum.StrEnum):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    RETURNED = "returned"  # handed back to the bot
    CLOSED = "closed"


OPEN_STATUSES = (HandoffStatus.QUEUED, HandoffStatus.ASSIGNED)
DEFAULT_CAPACITY = 3  # chats an agent serves at once, until set otherwise


class Agent(Base):
    """What routing needs to know of an account that serves customers."""

    __tablename__ = "agents"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    status: Mapped[AgentStatus] = mapped_column(
        _enum(AgentStatus, "agent_status"), default=AgentStatus.OFFLINE
    )
    capacity: Mapped[int] = mapped_column(Integer, default=DEFAULT_CAPACITY)
    skills: Mapped[list[str]] = mapped_column(Json, default=list)  # empty: every skill
    languages: Mapped[list[str]] = mapped_column(Json, default=list)  # empty: any language
    teams: Mapped[list[str]] = mapped_column(Json, default=list)
    status_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Presence: refreshed by the console's socket and the agent's actions. An "online" agent
    # not seen for a while (closed the laptop) gets no new chats.
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Handoff(Base):
    """One request for a person. The queue is the tenant's `queued` handoffs ordered by
    `rank` (priority) then `requested_at`."""

    __tablename__ = "handoffs"
    __table_args__ = (
        Index("ix_handoffs_queue", "tenant_id", "status", "rank", "requested_at"),
        # The wait estimate reads the latest finished chats.
        Index("ix_handoffs_tenant_ended", "tenant_id", "ended_at"),
        # At most one open handoff per conversation, whichever process asks.
        Index(
            "uq_handoffs_open_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text("status IN ('queued', 'assigned')"),
            postgresql_where=text("status IN ('queued', 'assigned')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id"), index=True)
    status: Mapped[HandoffStatus] = mapped_column(
        _enum(HandoffStatus, "handoff_status"), default=HandoffStatus.QUEUED
    )
    reason: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(16))
    rank: Mapped[int] = mapped_column(Integer)  # 0 urgent ... 3 normal
    skill: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    team: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the bot knew at the handoff, without PII (intent, flow, slot names, moods): analytics.
    summary: Mapped[dict[str, Any] | None] = mapped_column(Json)


class Rating(Base):
    """The satisfaction survey's answer: one per conversation."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("conversation_id"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id"))
    handoff_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("handoffs.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(EncryptedText("ratings.comment"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CannedResponse(Base):
    """A reply agents reuse; `text` is a template with {{ customer_name }}, {{ agent_name }},
    {{ conversation_id }} and the dialogue's slots."""

    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("tenant_id", "title", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    skill: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
