"""Conversation storage: customers, conversations, messages and turn events."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from kefu.db.base import Base, BigId, Json, UTCDateTime, utcnow
from kefu.privacy.crypto import EncryptedText


class ConversationStatus(enum.StrEnum):
    BOT = "bot"
    WAITING_AGENT = "waiting_agent"
    WITH_AGENT = "with_agent"
    CLOSED = "closed"


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # VARCHAR + CHECK on every database: identical behaviour, cheap to extend by migration.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=16,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Customer(Base):
    __tablename__ = "customers"
    # Contact fields are encrypted (kefu.privacy.crypto); the external id is found and kept
    # unique through its blind index instead.
    __table_args__ = (UniqueConstraint("tenant_id", "external_id_hash"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(
        EncryptedText("customers.external_id", blind_index="external_id_hash")
    )
    external_id_hash: Mapped[str | None] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(EncryptedText("customers.display_name"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_tenant_status", "tenant_id", "status"),
        # Recent conversations first: the console's lists.
        Index("ix_conversations_tenant_updated", "tenant_id", "updated_at"),
        # Two browser tabs (or a retried request) starting the same conversation get one.
        Index("ux_conversations_tenant_client_key", "tenant_id", "client_key_hash", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[ConversationStatus] = mapped_column(
        _enum(ConversationStatus, "conversation_status"), default=ConversationStatus.BOT
    )
    language: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(32), default="web")
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # kefu.dialogue.state.DialogueState as JSON: slots hold what customers typed, so encrypted.
    dialogue: Mapped[str | None] = mapped_column(EncryptedText("conversations.dialogue"))
    # sha256 of the client's start key: the key answers with a token, so it is kept like one.
    client_key_hash: Mapped[str | None] = mapped_column(String(64))


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        UniqueConstraint("conversation_id", "client_message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[Role] = mapped_column(_enum(Role, "message_role"))
    text: Mapped[str] = mapped_column(EncryptedText("messages.text"))
    payload: Mapped[dict[str, Any] | None] = mapped_column(Json)
    client_message_id: Mapped[str | None] = mapped_column(String(128))
    reply_to_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), ForeignKey("messages.id")
    )
    # The account that wrote it (role agent), for analytics. No foreign key: SQLite can't add
    # one to this referenced table in place, and an agent's messages outlive their account.
    author_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TurnEvent(Base):
    """What one customer message was understood as, what was decided, and how long it took."""

    __tablename__ = "turn_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), ForeignKey("messages.id"), unique=True
    )
    language: Mapped[str] = mapped_column(String(8))
    decision: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))  # why the policy decided so
    intent: Mapped[str | None] = mapped_column(String(128))
    faq_entry_id: Mapped[str | None] = mapped_column(String(128))
    score: Mapped[float | None] = mapped_column(Float)
    understanding: Mapped[dict[str, Any]] = mapped_column(Json)
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (Index("ix_turn_events_tenant_created", "tenant_id", "created_at"),)


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"


class Ticket(Base):
    """Work for a person that kefu itself keeps: a request the operator's system could not take
    (timeout, error) so nothing the customer asked for is lost."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_tenant_status", "tenant_id", "status"),)

    id: Mapped[str] = mapped_column(
        String(32), primary_key=True
    )  # KF + 8 hex, said to the customer
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), ForeignKey("messages.id")
    )
    topic: Mapped[str] = mapped_column(String(128))  # the flow
    reason: Mapped[str] = mapped_column(String(64))  # backend_timeout, backend_unavailable...
    status: Mapped[TicketStatus] = mapped_column(
        _enum(TicketStatus, "ticket_status"), default=TicketStatus.OPEN
    )
    detail: Mapped[dict[str, Any] | None] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
