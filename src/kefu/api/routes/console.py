"""Transcripts for the agent console: masked by default; unmasking needs `pii:read` and is
audited, one event per view."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import select

from kefu.accounts.permissions import Permission
from kefu.accounts.service import Principal
from kefu.api.auth import TenantReadSession, TenantSession, allowed, audited
from kefu.api.deps import parse_conversation_id
from kefu.api.schemas import ErrorOut
from kefu.conversations.models import Conversation, ConversationStatus, Customer, Message
from kefu.errors import Forbidden, NotFound
from kefu.privacy.pii import PiiDetector, mask_value

router = APIRouter(prefix="/v1/console", tags=["console"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 422, 429)
}
Reader = Annotated[Principal, allowed(Permission.CONVERSATIONS_READ)]


class ConversationRow(BaseModel):
    id: uuid.UUID
    status: ConversationStatus
    language: str
    channel: str
    customer: str | None
    created_at: datetime
    updated_at: datetime


class TranscriptMessage(BaseModel):
    seq: int
    role: str
    text: str
    created_at: datetime


class Transcript(BaseModel):
    conversation: ConversationRow
    masked: bool
    messages: list[TranscriptMessage]


def _row(conv: Conversation, customer: Customer | None, reveal: bool) -> ConversationRow:
    name = customer.display_name if customer else None
    return ConversationRow(
        id=conv.id,
        status=conv.status,
        language=conv.language,
        channel=conv.channel,
        # A display name is a name whatever its shape: masked as one, not searched for PII.
        customer=(name if reveal else mask_value("name", name)) if name else None,
        created_at=conv.created_at,
        updated_at=conv.updated_at,
    )


@router.get("/conversations", response_model=list[ConversationRow], responses=ERRORS)
def list_conversations(
    principal: Reader,
    session: TenantReadSession,
    status: ConversationStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ConversationRow]:
    """Most recently active first; customer names masked."""
    stmt = (
        select(Conversation, Customer)
        .outerjoin(Customer, Customer.id == Conversation.customer_id)
        .order_by(Conversation.updated_at.desc())
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(Conversation.status == status)
    return [_row(conv, customer, reveal=False) for conv, customer in session.execute(stmt)]


@router.get("/conversations/{conversation_id}", response_model=Transcript, responses=ERRORS)
def transcript(
    conversation_id: str,
    principal: Reader,
    session: TenantSession,
    request: Request,
    reveal: Annotated[
        bool, Query(description="Show PII unmasked (needs pii:read; audited)")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> Transcript:
    pii: PiiDetector = request.app.state.runtime.pii
    if reveal and not principal.can(Permission.PII_READ):
        raise Forbidden("unmasking needs the pii:read permission", code="forbidden")
    cid = parse_conversation_id(conversation_id)
    found = session.execute(
        select(Conversation, Customer)
        .outerjoin(Customer, Customer.id == Conversation.customer_id)
        .where(Conversation.id == cid)
    ).one_or_none()
    if found is None:
        raise NotFound("conversation not found", code="conversation_not_found")
    conv, customer = found
    messages = session.scalars(
        select(Message).where(Message.conversation_id == cid).order_by(Message.seq).limit(limit)
    ).all()
    if reveal:
        audited(
            session,
            principal,
            request,
            "pii.view",
            target_type="conversation",
            target_id=cid,
            detail={"messages": len(messages)},
        )
    return Transcript(
        conversation=_row(conv, customer, reveal),
        masked=not reveal,
        messages=[
            TranscriptMessage(
                seq=m.seq,
                role=m.role.value,
                text=m.text if reveal else pii.mask(m.text),
                created_at=m.created_at,
            )
            for m in messages
        ],
    )
