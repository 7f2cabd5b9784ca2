"""Customer-facing conversation routes."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from kefu.api.deps import (
    AuthorizedConversation,
    AuthorizedConversationId,
    RuntimeDep,
    optional_json,
    require_json,
)
from kefu.api.protection import protection_of
from kefu.api.schemas import (
    ConversationCreate,
    ConversationCreated,
    ConversationOut,
    CustomerIn,
    ErrorOut,
    MessageCreate,
    MessageList,
    MessageOut,
    TurnOut,
)
from kefu.config import Settings
from kefu.conversations import tokens
from kefu.conversations.models import ConversationStatus
from kefu.conversations.service import Posted
from kefu.errors import InvalidInput, Unauthorized

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 503)
}


def turn_out(posted: Posted) -> TurnOut:
    return TurnOut(
        message=MessageOut.of(posted.message),
        replies=[MessageOut.of(m) for m in posted.replies],
        status=posted.status,
        duplicate=posted.duplicate,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ConversationCreated,
    responses=ERRORS,
    dependencies=[Depends(optional_json)],
)
def create_conversation(
    runtime: RuntimeDep, body: Annotated[ConversationCreate | None, Body()] = None
) -> ConversationCreated:
    """Start a conversation; keep the returned token for every later call."""
    body = body or ConversationCreate()
    customer = body.customer
    conv = runtime.conversations.start(
        language=body.language,
        channel=body.channel,
        customer_external_id=customer.external_id if customer else None,
        customer_name=customer.name if customer else None,
        customer_verified=_verified(runtime.settings, customer),
        client_key=body.client_key,
    )
    token = tokens.issue(
        conv.id, runtime.settings.tenant, runtime.settings.signing_key, runtime.token_ttl
    )
    return ConversationCreated(**ConversationOut.of(conv).model_dump(), token=token)


def _verified(settings: Settings, customer: CustomerIn | None) -> bool:
    """Anyone can call this endpoint, so a customer id is only a claim. Flows act on the
    account only when the operator's server signed the id (as Intercom's identity
    verification does); an unsigned id still links the customer's conversations."""
    if customer is None or customer.external_id is None:
        return False
    key = settings.customer_identity_key
    if customer.signature is None:
        return False
    if key is None:
        raise InvalidInput(
            "customer.signature given but this deployment has no KEFU_CUSTOMER_IDENTITY_KEY",
            code="customer_signature_unexpected",
        )
    expected = hmac.new(
        key.get_secret_value().encode(), customer.external_id.encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, customer.signature.lower()):
        raise Unauthorized("customer.signature does not match", code="invalid_customer_signature")
    return True


@router.get("/{conversation_id}", response_model=ConversationOut, responses=ERRORS)
def get_conversation(conv: AuthorizedConversation) -> ConversationOut:
    return ConversationOut.of(conv)


@router.post(
    "/{conversation_id}/messages",
    response_model=TurnOut,
    responses={
        **ERRORS,
        200: {"description": "A retry: the stored message and replies"},
        429: {
            "model": ErrorOut,
            "description": "Too many messages in this conversation (rate_limit_customer); "
            "the Retry-After header says how many seconds to wait",
        },
    },
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_json)],
)
def post_message(
    conversation: AuthorizedConversationId,
    body: MessageCreate,
    runtime: RuntimeDep,
    request: Request,
) -> Response:
    """Send a customer message and get the bot's replies."""
    # The customer's limit is counted here, after the token check (nobody can spend another
    # customer's budget) and on this worker thread: as a dependency of its own it cost one
    # more hop between the event loop and a thread per message.
    protection_of(request).enforce("customer", str(conversation))
    posted = runtime.conversations.post(conversation, body.text, body.client_message_id)
    # The hot path: serialise the already-typed model once instead of FastAPI's re-validation.
    return Response(
        turn_out(posted).model_dump_json(),
        status_code=status.HTTP_200_OK if posted.duplicate else status.HTTP_201_CREATED,
        media_type="application/json",
    )


@router.get("/{conversation_id}/messages", response_model=MessageList, responses=ERRORS)
def list_messages(
    conv: AuthorizedConversation,
    runtime: RuntimeDep,
    after: Annotated[
        int, Query(ge=0, le=2**31 - 1, description="Only messages with seq > after")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MessageList:
    messages = runtime.conversations.messages(conv.id, after_seq=after, limit=limit)
    return MessageList(messages=[MessageOut.of(m) for m in messages])


@router.post("/{conversation_id}/close", response_model=ConversationOut, responses=ERRORS)
def close_conversation(conv: AuthorizedConversation, runtime: RuntimeDep) -> ConversationOut:
    """End the conversation; later messages are refused with 409."""
    return ConversationOut.of(runtime.conversations.close(conv.id))


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int = Field(ge=1, le=5, description="1 (bad) to 5 (excellent)")
    comment: str | None = Field(None, max_length=2000)


class RatingOut(BaseModel):
    score: int
    comment: str | None
    created_at: datetime


class QueueOut(BaseModel):
    status: ConversationStatus
    position: int | None = Field(description="1-based place in the queue; null unless waiting")
    wait_seconds: int | None = Field(
        description="Estimated wait; null when there is no honest estimate (nobody online, "
        "or no finished chats to learn from yet)"
    )
    agents_online: int


@router.post(
    "/{conversation_id}/rating",
    response_model=RatingOut,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def rate_conversation(
    conv: AuthorizedConversation, body: RatingIn, runtime: RuntimeDep
) -> RatingOut:
    """The satisfaction survey's answer (also after the conversation is closed); once."""
    rating = runtime.handoffs.rate(conv.id, body.score, body.comment)
    return RatingOut(score=rating.score, comment=rating.comment, created_at=rating.created_at)


@router.get("/{conversation_id}/queue", response_model=QueueOut, responses=ERRORS)
def queue_position(conv: AuthorizedConversation, runtime: RuntimeDep) -> QueueOut:
    """Where the customer is in the queue for a person, and how long it may take."""
    info = runtime.handoffs.queue(conv.id)
    return QueueOut(
        status=conv.status,
        position=info.position,
        wait_seconds=info.wait_seconds,
        agents_online=info.agents_online,
    )
