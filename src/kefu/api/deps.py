"""Typed dependencies: routes read like signatures, no hidden globals.

Dependencies that do no I/O are `async def`: FastAPI runs sync ones on the thread pool, one hop
each, which costs more than their work.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kefu.api.errors import UnsupportedMediaType
from kefu.conversations import tokens
from kefu.conversations.models import Conversation
from kefu.errors import NotFound, Unauthorized
from kefu.runtime import Runtime

bearer = HTTPBearer(
    auto_error=False, description="The conversation token from POST /v1/conversations"
)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def parse_conversation_id(conversation_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(conversation_id)
    except ValueError:
        raise NotFound("conversation not found", code="conversation_not_found") from None


def authorize_id(runtime: Runtime, conversation_id: str, token: str | None) -> uuid.UUID:
    """Check the token first, so a caller without one learns nothing about which ids exist."""
    cid = parse_conversation_id(conversation_id)
    if not token:
        raise Unauthorized(
            "missing conversation token (Authorization: Bearer <token>)", code="missing_token"
        )
    tokens.verify(token, cid, runtime.settings.tenant, runtime.settings.signing_key)
    return cid


def authorize(runtime: Runtime, conversation_id: str, token: str | None) -> Conversation:
    return runtime.conversations.get(authorize_id(runtime, conversation_id, token))


def authorized_conversation(
    conversation_id: str,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Conversation:
    return authorize(runtime, conversation_id, credentials.credentials if credentials else None)


AuthorizedConversation = Annotated[Conversation, Depends(authorized_conversation)]


async def authorized_conversation_id(
    conversation_id: str,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> uuid.UUID:
    """Token check only, no database read: for routes whose service call loads the row anyway."""
    return authorize_id(runtime, conversation_id, credentials.credentials if credentials else None)


AuthorizedConversationId = Annotated[uuid.UUID, Depends(authorized_conversation_id)]


async def require_json(content_type: Annotated[str | None, Header()] = None) -> None:
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json (got {media or 'no content type'})"
        )


async def optional_json(
    request: Request, content_type: Annotated[str | None, Header()] = None
) -> None:
    """Bodies are optional on some routes; when present they must be JSON."""
    has_body = request.headers.get("content-length", "0") not in ("", "0") or (
        "transfer-encoding" in request.headers
    )
    if has_body:
        await require_json(content_type)
