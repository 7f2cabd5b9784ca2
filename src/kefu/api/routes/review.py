"""Conversation review in the admin console: poorly handled turns, and what they should have
been (an FAQ entry, answered at once; an intent, learned at the next retraining)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from kefu.accounts.permissions import Permission
from kefu.accounts.service import Principal
from kefu.api.auth import TenantReadSession, allowed, audited
from kefu.api.deps import RuntimeDep, require_json
from kefu.api.routes.knowledge import editor_of, knowledge_write
from kefu.api.schemas import ErrorOut
from kefu.errors import Forbidden
from kefu.review import service
from kefu.review.service import Filter, ReviewItem

router = APIRouter(prefix="/v1/admin/review", tags=["review"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429)
}
Reader = Annotated[Principal, allowed(Permission.CONVERSATIONS_READ)]
Writer = Annotated[Principal, allowed(Permission.KNOWLEDGE_WRITE)]


class ReviewPage(BaseModel):
    total: int
    items: list[ReviewItem]


class MarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intent: str | None = Field(None, min_length=1, max_length=128)
    entry_id: str | None = Field(None, min_length=1, max_length=128)


@router.get("", response_model=ReviewPage, responses=ERRORS)
def list_turns(
    principal: Reader,
    session: TenantReadSession,
    runtime: RuntimeDep,
    filter: Annotated[list[Filter] | None, Query()] = None,
    reviewed: Literal["false", "true", "all"] = "false",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReviewPage:
    """Recent turns with any of the chosen problems (none chosen: all), newest first; the
    customer's words and kefu's reply PII-masked."""
    if not principal.can(Permission.KNOWLEDGE_READ):
        raise Forbidden("review needs the knowledge:read permission", code="forbidden")
    total, items = service.find_turns(
        session,
        principal.tenant_id,
        runtime.pii,
        filters=filter or (),
        reviewed=reviewed,
        offset=offset,
        limit=limit,
    )
    return ReviewPage(total=total, items=items)


@router.post(
    "/{turn_id}",
    response_model=ReviewItem,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def mark_turn(
    turn_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: MarkIn,
    principal: Writer,
    runtime: RuntimeDep,
    request: Request,
) -> ReviewItem:
    """Say what the turn should have been. `entry_id`: its words become a similar question of
    that entry, answered from the next message on; `intent`: a training example. A second
    verdict replaces the first (the words leave the entry the first one named)."""
    if not principal.can(Permission.CONVERSATIONS_READ):  # the answer shows the turn's words
        raise Forbidden("review needs the conversations:read permission", code="forbidden")
    with knowledge_write(runtime, principal) as session:
        service.mark(
            session,
            principal.tenant_id,
            runtime.pii,
            turn_id,
            editor_of(principal),
            intent=body.intent,
            entry_id=body.entry_id,
        )
        audited(
            session,
            principal,
            request,
            "review.mark",
            target_type="turn",
            target_id=turn_id,
            detail={"intent": body.intent, "entry_id": body.entry_id},
        )
        session.flush()
        _, items = service.find_turns(
            session, principal.tenant_id, runtime.pii, reviewed="true", turn_id=turn_id
        )
    return items[0]
