"""Request and response bodies of the public API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from kefu.conversations.models import Conversation, ConversationStatus, Message, Role


def _printable_text(value: str) -> str:
    # PostgreSQL can't store NUL in text, and controls in names only serve to confuse.
    if not value.isprintable():
        raise ValueError("must not contain control characters")
    return value


Printable = Annotated[str, AfterValidator(_printable_text)]


def as_utc(value: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC (what the API documents), never refused."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerIn(_In):
    external_id: str | None = Field(None, min_length=1, max_length=128)
    name: str | None = Field(None, min_length=1, max_length=200)
    signature: str | None = Field(
        None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="hex HMAC-SHA256 of external_id under KEFU_CUSTOMER_IDENTITY_KEY, made by "
        "your server: proves the customer is who the app says, so flows may act on the account.",
    )

    @field_validator("external_id", "name")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        # NUL and other controls are refused: PostgreSQL can't store NUL in text at all.
        if value is not None and not value.isprintable():
            raise ValueError("must not contain control characters")
        return value


class ConversationCreate(_In):
    language: Literal["zh", "en"] | None = None
    channel: str = Field("web", min_length=1, max_length=32, pattern=r"^[a-z0-9_\-]+$")
    customer: CustomerIn | None = None
    client_key: str | None = Field(
        None,
        min_length=16,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Client-chosen random key: starting again with the same key returns the "
        "same conversation (with a fresh token) instead of a second one. Keep it secret.",
    )


class MessageCreate(_In):
    text: str = Field(description="The customer's message; trimmed, must not be empty.")
    client_message_id: str | None = Field(
        None,
        description="Client-chosen id, unique per conversation: a retry with the same id "
        "returns the stored replies instead of a duplicate.",
    )


class _Out(BaseModel):
    """Read straight from the storage rows' attributes."""

    model_config = ConfigDict(from_attributes=True)


class ConversationOut(_Out):
    id: uuid.UUID
    status: ConversationStatus
    language: str
    channel: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, conv: Conversation) -> ConversationOut:
        return cls.model_validate(conv)


class ConversationCreated(ConversationOut):
    token: str = Field(description="Present as `Authorization: Bearer <token>` on later calls.")


class MessageOut(_Out):
    id: int
    seq: int
    role: Role
    text: str
    payload: dict[str, Any] | None
    client_message_id: str | None
    reply_to: int | None = Field(validation_alias="reply_to_id")
    created_at: datetime

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        return cls.model_validate(m)


class TurnOut(BaseModel):
    message: MessageOut
    replies: list[MessageOut]
    status: ConversationStatus
    duplicate: bool = Field(description="True when this was a retry of a stored message.")


class MessageList(BaseModel):
    messages: list[MessageOut]


class ErrorDetail(BaseModel):
    code: str
    message: str
    problems: list[str] | None = Field(
        None, description="Each problem of a rejected file or batch, located (row or line)."
    )


class ErrorOut(BaseModel):
    error: ErrorDetail
