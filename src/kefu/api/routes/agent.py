"""The agent's side of a live chat: status, inbox, a conversation with its context, and the
actions (take, reply, transfer, hand back, close). Message texts are PII-masked for agents;
unmasking is the console transcript's audited `?reveal=true`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field

from kefu.accounts.permissions import Permission
from kefu.accounts.service import Principal
from kefu.api.auth import allowed
from kefu.api.deps import RuntimeDep, parse_conversation_id, require_json
from kefu.api.routes.accounts import RowId
from kefu.api.schemas import ErrorOut, Printable
from kefu.errors import Forbidden
from kefu.handoff import canned as canned_responses
from kefu.handoff import reads
from kefu.handoff.models import AgentStatus
from kefu.runtime import Runtime

router = APIRouter(prefix="/v1/agent", tags=["agent"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429)
}


def _same_tenant(principal: Principal, runtime: Runtime) -> Principal:
    if principal.kind != "account":
        raise Forbidden("live chat is for signed-in agents", code="accounts_only")
    if principal.tenant_id != runtime.tenant.id:
        # This deployment's customers belong to one tenant (KEFU_TENANT).
        raise Forbidden("this server's live chat serves another tenant", code="wrong_tenant")
    return principal


def worker(
    principal: Annotated[Principal, allowed(Permission.HANDOFF_WORK)], runtime: RuntimeDep
) -> Principal:
    return _same_tenant(principal, runtime)


def manager(
    principal: Annotated[Principal, allowed(Permission.HANDOFF_MANAGE)], runtime: RuntimeDep
) -> Principal:
    return _same_tenant(principal, runtime)


Worker = Annotated[Principal, Depends(worker)]
Manager = Annotated[Principal, Depends(manager)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StatusIn(_In):
    status: AgentStatus


class AgentUpdate(_In):
    capacity: int | None = Field(None, ge=1, le=50)
    skills: list[Annotated[Printable, Field(min_length=1, max_length=32)]] | None = Field(
        None, max_length=20
    )
    languages: list[Literal["zh", "en"]] | None = None
    teams: list[Annotated[Printable, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=20
    )


class AgentMessageIn(_In):
    text: str = Field(description="Trimmed; invisible characters removed; not empty.")
    client_message_id: str | None = Field(
        None, description="Client-chosen id: a retry with the same id stores nothing new."
    )


class TransferIn(_In):
    agent_id: int | None = Field(None, ge=1, le=2**31 - 1)
    team: Printable | None = Field(None, min_length=1, max_length=64)
    note: Printable | None = Field(None, max_length=500)


class CannedIn(_In):
    title: Printable = Field(min_length=1, max_length=100)
    language: Literal["zh", "en"]
    text: str = Field(min_length=1, max_length=4000)
    skill: Printable | None = Field(None, max_length=32)


class AgentOut(BaseModel):
    account_id: int
    name: str
    status: AgentStatus
    capacity: int
    skills: list[str]
    languages: list[str]
    teams: list[str]
    active: int


class HandoffOut(BaseModel):
    id: int
    conversation_id: uuid.UUID
    status: str
    reason: str
    priority: str
    skill: str | None
    language: str
    team: str | None
    requested_at: datetime
    assigned_at: datetime | None
    agent: dict[str, Any] | None
    position: int | None
    wait_seconds: int | None


class AgentMessageOut(BaseModel):
    seq: int
    role: str
    text: str
    payload: dict[str, Any] | None
    created_at: datetime
    author: int | None


class InboxItem(BaseModel):
    conversation_id: uuid.UUID
    status: str
    language: str
    customer: str | None
    handoff: HandoffOut | None
    last_message: dict[str, Any] | None
    updated_at: datetime


class AgentConversation(BaseModel):
    conversation: dict[str, Any]
    handoff: HandoffOut | None
    messages: list[AgentMessageOut]
    context: dict[str, Any]


class Suggestion(BaseModel):
    entry_id: str
    score: float
    question: str
    text: str


class CannedOut(BaseModel):
    id: int | str
    title: str
    language: str
    text: str


def _cid(conversation_id: str) -> uuid.UUID:
    return parse_conversation_id(conversation_id)


def _override(principal: Principal) -> bool:
    return principal.can(Permission.HANDOFF_MANAGE)


@router.get("/me", response_model=AgentOut, responses=ERRORS)
def me(principal: Worker, runtime: RuntimeDep) -> AgentOut:
    return AgentOut(**reads.agent_out(runtime, principal.id))


@router.put(
    "/me/status", response_model=AgentOut, responses=ERRORS, dependencies=[Depends(require_json)]
)
def set_status(body: StatusIn, principal: Worker, runtime: RuntimeDep) -> AgentOut:
    runtime.handoffs.set_status(principal.id, body.status)
    return AgentOut(**reads.agent_out(runtime, principal.id))


@router.get("/agents", response_model=list[AgentOut], responses=ERRORS)
def list_agents(principal: Worker, runtime: RuntimeDep) -> list[AgentOut]:
    return [AgentOut(**a) for a in reads.agents_out(runtime)]


@router.put(
    "/agents/{agent_id}",
    response_model=AgentOut,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def update_agent(
    agent_id: RowId, body: AgentUpdate, principal: Manager, runtime: RuntimeDep
) -> AgentOut:
    """Capacity, skills, languages and teams of an agent (supervisors and admins)."""
    reads.check_agent_account(runtime, agent_id)
    runtime.handoffs.update_agent(agent_id, body.capacity, body.skills, body.languages, body.teams)
    return AgentOut(**reads.agent_out(runtime, agent_id))


@router.get("/inbox", response_model=list[InboxItem], responses=ERRORS)
def inbox(
    principal: Worker,
    runtime: RuntimeDep,
    view: Literal["queue", "mine", "all"] = "queue",
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> list[InboxItem]:
    """`queue`: waiting for a person, in queue order; `mine`: chats you own; `all`: recent
    conversations of every status."""
    return [InboxItem(**item) for item in reads.inbox(runtime, principal.id, view, limit)]


@router.get("/conversations/{conversation_id}", response_model=AgentConversation, responses=ERRORS)
def conversation(conversation_id: str, principal: Worker, runtime: RuntimeDep) -> AgentConversation:
    return AgentConversation(**reads.conversation(runtime, _cid(conversation_id)))


@router.get(
    "/conversations/{conversation_id}/suggestions",
    response_model=list[Suggestion],
    responses=ERRORS,
)
def suggestions(conversation_id: str, principal: Worker, runtime: RuntimeDep) -> list[Suggestion]:
    """Best FAQ answers for the customer's latest message, in the conversation's language."""
    return [Suggestion(**s) for s in reads.suggestions(runtime, _cid(conversation_id))]


@router.get("/canned", response_model=list[CannedOut], responses=ERRORS)
def canned(
    principal: Worker,
    runtime: RuntimeDep,
    conversation_id: str | None = None,
) -> list[CannedOut]:
    """Canned responses, with their variables filled for `conversation_id` when given."""
    cid = _cid(conversation_id) if conversation_id else None
    return [
        CannedOut(**c)
        for c in canned_responses.canned(runtime, principal.id, cid, _override(principal))
    ]


@router.post(
    "/canned",
    response_model=CannedOut,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def create_canned(body: CannedIn, principal: Manager, runtime: RuntimeDep) -> CannedOut:
    return CannedOut(
        **canned_responses.create_canned(runtime, body.title, body.language, body.text, body.skill)
    )


@router.delete("/canned/{canned_id}", status_code=204, responses=ERRORS)
def delete_canned(canned_id: RowId, principal: Manager, runtime: RuntimeDep) -> None:
    canned_responses.delete_canned(runtime, canned_id)


@router.post("/conversations/{conversation_id}/take", response_model=HandoffOut, responses=ERRORS)
def take(conversation_id: str, principal: Worker, runtime: RuntimeDep) -> HandoffOut:
    """Take a waiting customer, or take over from the bot (supervisors: from another agent)."""
    cid = _cid(conversation_id)
    runtime.handoffs.take(principal.id, cid, override=_override(principal))
    return HandoffOut(**reads.handoff_out(runtime, cid))


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=AgentMessageOut,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def reply(
    conversation_id: str, body: AgentMessageIn, principal: Worker, runtime: RuntimeDep
) -> AgentMessageOut:
    message = runtime.handoffs.reply(
        principal.id, _cid(conversation_id), body.text, body.client_message_id
    )
    return AgentMessageOut(**reads.message_out(runtime, message, masked=False))


@router.post(
    "/conversations/{conversation_id}/transfer",
    response_model=HandoffOut,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def transfer(
    conversation_id: str, body: TransferIn, principal: Worker, runtime: RuntimeDep
) -> HandoffOut:
    cid = _cid(conversation_id)
    if body.agent_id is not None:
        reads.check_agent_account(runtime, body.agent_id)
    runtime.handoffs.transfer(principal.id, cid, body.agent_id, body.team, _override(principal))
    return HandoffOut(**reads.handoff_out(runtime, cid))


@router.post(
    "/conversations/{conversation_id}/handback", response_model=HandoffOut, responses=ERRORS
)
def hand_back(conversation_id: str, principal: Worker, runtime: RuntimeDep) -> HandoffOut:
    cid = _cid(conversation_id)
    runtime.handoffs.hand_back(principal.id, cid, _override(principal))
    return HandoffOut(**reads.handoff_out(runtime, cid))


@router.post("/conversations/{conversation_id}/close", response_model=HandoffOut, responses=ERRORS)
def close(conversation_id: str, principal: Worker, runtime: RuntimeDep) -> HandoffOut:
    """End the chat; the customer gets the satisfaction survey."""
    cid = _cid(conversation_id)
    runtime.handoffs.close(principal.id, cid, _override(principal))
    return HandoffOut(**reads.handoff_out(runtime, cid))
