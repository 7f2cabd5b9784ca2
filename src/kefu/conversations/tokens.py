"""Conversation tokens: a signed JWT that lets one customer talk in one conversation."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt

from kefu.db.base import utcnow
from kefu.errors import Forbidden, Unauthorized

ALGORITHM = "HS256"
AUDIENCE = "kefu:conversation"


def issue(conversation_id: uuid.UUID, tenant: str, key: str, ttl: timedelta) -> str:
    now = utcnow()
    claims = {
        "sub": str(conversation_id),
        "tenant": tenant,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def verify(token: str, conversation_id: uuid.UUID, tenant: str, key: str) -> None:
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("conversation token expired", code="token_expired") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("invalid conversation token", code="invalid_token") from None
    if claims.get("sub") != str(conversation_id) or claims.get("tenant") != tenant:
        raise Forbidden("token is not valid for this conversation", code="wrong_token")
