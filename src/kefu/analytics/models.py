"""Analytics rollups: derived from conversations, messages, turn events, handoffs and ratings
by `kefu.analytics.refresh`, never written by the pipeline. One row per conversation and one per
turn, each carrying the dimensions the dashboard filters on (day and hour in the deployment's
time zone, skill, channel, language), so every dashboard query reads one indexed table."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from kefu.db.base import Base, BigId, Json, UTCDateTime, utcnow


class ConversationFact(Base):
    """One conversation, summarised. Recomputed whole whenever the conversation (or the
    customer's next conversation, for the 24-hour return) changes."""

    __tablename__ = "analytics_conversations"
    __table_args__ = (Index("ix_analytics_conversations_day", "tenant_id", "local_day"),)

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    local_day: Mapped[date] = mapped_column(Date)
    local_hour: Mapped[int] = mapped_column(SmallInteger)
    skill: Mapped[str] = mapped_column(String(32))  # the first pack it touched; "other" if none
    channel: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # closed, else last message
    closed: Mapped[bool] = mapped_column(Boolean)
    messages: Mapped[int] = mapped_column(Integer)
    customer_messages: Mapped[int] = mapped_column(Integer)
    bot_messages: Mapped[int] = mapped_column(Integer)
    agent_messages: Mapped[int] = mapped_column(Integer)
    turns: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)  # FAQ answers
    fallbacks: Mapped[int] = mapped_column(Integer)
    clarifications: Mapped[int] = mapped_column(Integer)
    negative_turns: Mapped[int] = mapped_column(Integer)
    sentiment_sum: Mapped[float] = mapped_column(Float)  # polarity: -1, 0, +1 per turn
    bot_first_response_ms: Mapped[float | None] = mapped_column(Float)
    handle_ms: Mapped[float | None] = mapped_column(Float)  # first message to end
    handed_off: Mapped[bool] = mapped_column(Boolean)
    handoff_reason: Mapped[str | None] = mapped_column(String(64))
    agent_first_response_ms: Mapped[float | None] = mapped_column(Float)  # request to reply
    agent_handle_ms: Mapped[float | None] = mapped_column(Float)  # assigned to ended
    returned_24h: Mapped[bool] = mapped_column(Boolean)
    # Closed and the customer didn't come back within 24 h: resolved at first contact;
    # automated when no person took part either.
    resolved_first_contact: Mapped[bool] = mapped_column(Boolean)
    automated: Mapped[bool] = mapped_column(Boolean)
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    flow: Mapped[str | None] = mapped_column(String(128))  # the first flow it started
    flow_outcome: Mapped[str | None] = mapped_column(String(32))  # resolved/failed/cancelled
    flow_last_step: Mapped[str | None] = mapped_column(String(128))  # where an open flow stopped
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TurnFact(Base):
    """One answered customer message with its conversation's dimensions."""

    __tablename__ = "analytics_turns"
    __table_args__ = (
        Index("ix_analytics_turns_day", "tenant_id", "local_day"),
        Index("ix_analytics_turns_conversation", "conversation_id"),
        # Knowledge gaps read only the few gap turns of a range.
        Index(
            "ix_analytics_turns_gap",
            "tenant_id",
            "local_day",
            sqlite_where=text("gap"),
            postgresql_where=text("gap"),
        ),
        # Hot topics count conversations per intent or place and hour over the baseline days:
        # covering indexes keep that an index-only scan (p95 390 -> 190 ms at 500k turns).
        Index(
            "ix_analytics_turns_intent_hour",
            "tenant_id",
            "intent",
            "local_hour",
            "local_day",
            "conversation_id",
        ),
        Index(
            "ix_analytics_turns_place_hour",
            "tenant_id",
            "place",
            "local_hour",
            "local_day",
            "conversation_id",
        ),
    )

    turn_event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("analytics_conversations.conversation_id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    local_day: Mapped[date] = mapped_column(Date)
    local_hour: Mapped[int] = mapped_column(SmallInteger)
    skill: Mapped[str] = mapped_column(String(32))  # the conversation's
    channel: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    decision: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))
    intent: Mapped[str | None] = mapped_column(String(128))
    faq_entry_id: Mapped[str | None] = mapped_column(String(128))
    confidence: Mapped[float | None] = mapped_column(Float)
    polarity: Mapped[int] = mapped_column(SmallInteger)  # -1, 0, +1
    place: Mapped[str | None] = mapped_column(String(128))  # the first place entity, if any
    # Fallback, clarification, an answer with a weak score, or a handoff kefu could not place:
    # a knowledge-gap candidate (facts._is_gap). Only these keep their (PII-masked) text.
    gap: Mapped[bool] = mapped_column(Boolean)
    text_masked: Mapped[str | None] = mapped_column(Text)


class RefreshState(Base):
    """How far the rollups have read, per tenant."""

    __tablename__ = "analytics_state"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    timezone: Mapped[str | None] = mapped_column(String(64))  # of the stored days and hours
    version: Mapped[int] = mapped_column(Integer, default=0)  # +1 per refresh that changed rows


class SentAlert(Base):
    """A hot-topic alert already posted to the webhook: each spike is sent once."""

    __tablename__ = "analytics_alerts"
    __table_args__ = (Index("ux_analytics_alerts_key", "tenant_id", "key", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    key: Mapped[str] = mapped_column(String(255))  # kind:value:day:hour
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(16))  # pending / sending / sent / failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # When the last attempt began: a "sending" alert older than the lease lost its check.
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
