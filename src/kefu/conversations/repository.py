"""Hot-path SQL for the conversation service, as prebuilt Core statements.

A message costs two short write transactions; building ORM statements and running the unit of
work for them cost more than the SQL itself (3x on SQLite), so the per-message statements are
built once here and executed with parameters. Everything else stays ORM in service.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, bindparam, case, insert, select, update

from kefu.conversations.models import Conversation as _Conversation
from kefu.conversations.models import ConversationStatus, Message, Role, Ticket, TurnEvent
from kefu.db.base import UTCDateTime, utcnow

_conv = cast(Table, _Conversation.__table__)
_msg = cast(Table, Message.__table__)
_turn = cast(Table, TurnEvent.__table__)


def _bump(**values: Any) -> Any:
    return (
        update(_conv)
        .where(
            _conv.c.id == bindparam("cid"),
            _conv.c.tenant_id == bindparam("tid"),
            _conv.c.status != ConversationStatus.CLOSED,
        )
        .values(
            last_seq=_conv.c.last_seq + bindparam("by"),
            updated_at=bindparam("now", type_=UTCDateTime()),
            **values,
        )
        .returning(_conv.c.last_seq, _conv.c.status, _conv.c.language, _conv.c.dialogue)
    )


_RESERVE = _bump()
_RESERVE_TURN = _bump(language=bindparam("language"), dialogue=bindparam("dialogue"))
_RESERVE_HANDOFF = _bump(
    language=bindparam("language"),
    dialogue=bindparam("dialogue"),
    status=case(
        (_conv.c.status == ConversationStatus.BOT, ConversationStatus.WAITING_AGENT),
        else_=_conv.c.status,
    ),
)
_FIND_CLIENT_ID = select(_msg.c.id).where(
    _msg.c.conversation_id == bindparam("cid"),
    _msg.c.client_message_id == bindparam("client_id"),
)
_INSERT_MESSAGE = insert(_msg).returning(_msg.c.id)
_INSERT_TURN = insert(_turn)
_INSERT_TICKET = insert(cast(Table, Ticket.__table__))


class Reserved(NamedTuple):
    last_seq: int
    status: ConversationStatus
    language: str
    dialogue: str | None = None  # the stored DialogueState, JSON


def find_by_client_id(conn: Connection, conversation_id: uuid.UUID, client_id: str) -> int | None:
    found = conn.execute(_FIND_CLIENT_ID, {"cid": conversation_id, "client_id": client_id})
    return found.scalar_one_or_none()


def reserve(
    conn: Connection,
    tenant_id: int,
    conversation_id: uuid.UUID,
    count: int,
    language: str | None = None,
    handoff: bool = False,
    dialogue: str | None = None,
) -> Reserved | None:
    """Take `count` sequence numbers (one UPDATE ... RETURNING, which also row-locks the
    conversation on PostgreSQL). None if the conversation is missing or closed. With a
    `language` (a turn's replies), the dialogue state is stored in the same statement."""
    params: dict[str, Any] = {
        "cid": conversation_id,
        "tid": tenant_id,
        "by": count,
        "now": utcnow(),
    }
    stmt = _RESERVE
    if language is not None:
        params["language"] = language
        params["dialogue"] = dialogue
        stmt = _RESERVE_HANDOFF if handoff else _RESERVE_TURN
    row = conn.execute(stmt, params).one_or_none()
    return None if row is None else Reserved(row[0], ConversationStatus(row[1]), row[2], row[3])


def insert_message(
    conn: Connection,
    *,
    tenant_id: int,
    conversation_id: uuid.UUID,
    seq: int,
    role: Role,
    text: str,
    payload: dict[str, Any] | None = None,
    client_message_id: str | None = None,
    reply_to_id: int | None = None,
    created_at: datetime | None = None,
    author_id: int | None = None,
) -> Message:
    """Insert one message; return it as a detached `Message` (ids and timestamps filled)."""
    values = {
        "tenant_id": tenant_id,
        "conversation_id": conversation_id,
        "seq": seq,
        "role": role,
        "text": text,
        "payload": payload,
        "client_message_id": client_message_id,
        "reply_to_id": reply_to_id,
        "created_at": created_at or utcnow(),
        "author_id": author_id,
    }
    message_id = conn.execute(_INSERT_MESSAGE, values).scalar_one()
    return Message(id=message_id, **values)


def insert_turn(conn: Connection, **values: Any) -> None:
    conn.execute(_INSERT_TURN, {"created_at": utcnow(), **values})


def insert_ticket(conn: Connection, **values: Any) -> None:
    conn.execute(_INSERT_TICKET, {"created_at": utcnow(), "status": "open", **values})


_RESERVE_CLOSED = (
    update(_conv)
    .where(_conv.c.id == bindparam("cid"))
    .values(last_seq=_conv.c.last_seq + bindparam("by"))
    .returning(_conv.c.last_seq, _conv.c.status, _conv.c.language, _conv.c.dialogue)
)


def reserve_closed(conn: Connection, conversation_id: uuid.UUID, count: int) -> Reserved:
    """Sequence numbers for replies to a message whose conversation closed meanwhile."""
    row = conn.execute(_RESERVE_CLOSED, {"cid": conversation_id, "by": count}).one()
    return Reserved(row[0], ConversationStatus(row[1]), row[2], row[3])
