"""What the agent console reads: agents, the inbox, a conversation with its context, reply
suggestions and canned responses, as plain dicts the API turns into its schemas.

Customer texts are masked (`PiiDetector.mask`); the unmasked transcript is the console's
audited `?reveal=true`.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kefu.accounts.models import Account
from kefu.accounts.permissions import Permission, permissions_of
from kefu.backends.base import BackendError
from kefu.conversations.models import Conversation, Customer, Message, Role, TurnEvent
from kefu.db.base import utcnow
from kefu.dialogue.state import DialogueState
from kefu.errors import NotFound
from kefu.handoff import routing
from kefu.handoff.models import OPEN_STATUSES, Handoff, HandoffStatus
from kefu.handoff.summary import summarize
from kefu.privacy.pii import PiiDetector, mask_value

if TYPE_CHECKING:
    from kefu.runtime import Runtime

SUGGESTIONS = 3
RECENT = 3


def agent_out(runtime: Runtime, account_id: int) -> dict[str, Any]:
    agent = runtime.handoffs.agent(account_id)
    names = runtime.handoffs.names([account_id])
    return {
        "account_id": account_id,
        "name": names.get(account_id, ""),
        "status": agent.status,
        "capacity": agent.capacity,
        "skills": agent.skills or [],
        "languages": agent.languages or [],
        "teams": agent.teams or [],
        "active": runtime.handoffs.active_of(account_id),
    }


def agents_out(runtime: Runtime) -> list[dict[str, Any]]:
    return [
        {
            "account_id": a.account_id,
            "name": name,
            "status": a.status,
            "capacity": a.capacity,
            "skills": a.skills or [],
            "languages": a.languages or [],
            "teams": a.teams or [],
            "active": active,
        }
        for a, name, active in runtime.handoffs.agents()
    ]


def check_agent_account(runtime: Runtime, account_id: int) -> None:
    """An active account of this tenant whose role may serve customers, or 404."""
    with runtime.conversations.reads() as session:
        account = session.get(Account, account_id)
        if (
            account is None
            or not account.active
            or Permission.HANDOFF_WORK not in permissions_of(account.role)
        ):
            raise NotFound("no such agent", code="agent_not_found")


def _handoff_dict(
    session: Session,
    handoff: Handoff,
    names: dict[int, str],
    queue: routing.QueueSnapshot | None = None,
) -> dict[str, Any]:
    info = (queue or routing.QueueSnapshot(session, utcnow())).info(handoff)
    return {
        "id": handoff.id,
        "conversation_id": handoff.conversation_id,
        "status": handoff.status.value,
        "reason": handoff.reason,
        "priority": handoff.priority,
        "skill": handoff.skill,
        "language": handoff.language,
        "team": handoff.team,
        "requested_at": handoff.requested_at,
        "assigned_at": handoff.assigned_at,
        "agent": (
            {"id": handoff.agent_id, "name": names.get(handoff.agent_id, "")}
            if handoff.agent_id
            else None
        ),
        "position": info.position,
        "wait_seconds": info.wait_seconds,
    }


def account_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {
        a.id: a.display_name or a.username
        for a in session.scalars(select(Account).where(Account.id.in_(ids)))
    }


def handoff_out(runtime: Runtime, conversation_id: uuid.UUID) -> dict[str, Any]:
    with runtime.conversations.reads() as session:
        handoff = _latest(session, conversation_id)
        if handoff is None:
            raise NotFound("no handoff for this conversation", code="no_handoff")
        ids = {handoff.agent_id} if handoff.agent_id else set()
        return _handoff_dict(session, handoff, account_names(session, ids))


def _latest(session: Session, conversation_id: uuid.UUID) -> Handoff | None:
    return session.scalars(
        select(Handoff)
        .where(Handoff.conversation_id == conversation_id)
        .order_by(Handoff.id.desc())
        .limit(1)
    ).first()


def inbox(runtime: Runtime, account_id: int, view: str, limit: int) -> list[dict[str, Any]]:
    with runtime.conversations.reads() as session:
        pairs: list[tuple[Conversation, Handoff | None]]
        if view == "queue":
            handoffs = session.scalars(
                select(Handoff)
                .where(Handoff.status == HandoffStatus.QUEUED)
                .order_by(*routing.queue_order())  # type: ignore[arg-type]
                .limit(limit)
            ).all()
            convs = {
                c.id: c for c in _conversations(session, [h.conversation_id for h in handoffs])
            }
            pairs = [(convs[h.conversation_id], h) for h in handoffs if h.conversation_id in convs]
        elif view == "mine":
            handoffs = session.scalars(
                select(Handoff)
                .where(Handoff.status == HandoffStatus.ASSIGNED, Handoff.agent_id == account_id)
                .order_by(Handoff.assigned_at)
                .limit(limit)
            ).all()
            convs = {
                c.id: c for c in _conversations(session, [h.conversation_id for h in handoffs])
            }
            pairs = [(convs[h.conversation_id], h) for h in handoffs if h.conversation_id in convs]
        else:
            recent = session.scalars(
                select(Conversation).order_by(Conversation.updated_at.desc()).limit(limit)
            ).all()
            open_handoffs = {
                h.conversation_id: h
                for h in session.scalars(
                    select(Handoff).where(
                        Handoff.conversation_id.in_([c.id for c in recent]),
                        Handoff.status.in_(OPEN_STATUSES),
                    )
                )
            }
            pairs = [(c, open_handoffs.get(c.id)) for c in recent]
        names = account_names(session, {h.agent_id for _, h in pairs if h and h.agent_id})
        customers = _customer_names(session, [c.customer_id for c, _ in pairs if c.customer_id])
        lasts = _last_messages(session, [c.id for c, _ in pairs])
        pii = runtime.pii
        queue = routing.QueueSnapshot(session, utcnow())
        out = []
        for conv, handoff in pairs:
            last = lasts.get(conv.id)
            name = customers.get(conv.customer_id) if conv.customer_id else None
            out.append(
                {
                    "conversation_id": conv.id,
                    "status": conv.status.value,
                    "language": conv.language,
                    "customer": mask_value("name", name) if name else None,
                    "handoff": _handoff_dict(session, handoff, names, queue) if handoff else None,
                    "last_message": (
                        {
                            "seq": last.seq,
                            "role": last.role.value,
                            "text": agent_text(pii, last),
                            "created_at": last.created_at,
                        }
                        if last
                        else None
                    ),
                    "updated_at": conv.updated_at,
                }
            )
        return out


def _conversations(session: Session, ids: list[uuid.UUID]) -> list[Conversation]:
    if not ids:
        return []
    return list(session.scalars(select(Conversation).where(Conversation.id.in_(ids))))


def _customer_names(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    if not ids:
        return {}
    return {
        c.id: c.display_name for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))
    }


def _last_messages(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, Message]:
    if not ids:
        return {}
    latest = (
        select(Message.conversation_id, func.max(Message.seq).label("seq"))
        .where(Message.conversation_id.in_(ids))
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = session.scalars(
        select(Message).join(
            latest,
            (Message.conversation_id == latest.c.conversation_id) & (Message.seq == latest.c.seq),
        )
    )
    return {m.conversation_id: m for m in rows}


# A customer message that is only 4-6 digits answers an identity check (an order's last four, a
# one-time code) far more often than anything else: agents see it hidden, like the summary.
_CODE_ONLY = re.compile(r"\s*\d{4,6}\s*")


def agent_text(pii: PiiDetector, message: Message) -> str:
    """A message as agents see it: PII masked, identity-check answers hidden."""
    if message.role is Role.CUSTOMER and _CODE_ONLY.fullmatch(message.text):
        return "****"
    return pii.mask(message.text)


def message_out(runtime: Runtime, message: Message, masked: bool = True) -> dict[str, Any]:
    return {
        "seq": message.seq,
        "role": message.role.value,
        "text": agent_text(runtime.pii, message) if masked else message.text,
        "payload": message.payload,
        "created_at": message.created_at,
        "author": message.author_id,
    }


def conversation(runtime: Runtime, conversation_id: uuid.UUID) -> dict[str, Any]:
    pii = runtime.pii
    with runtime.conversations.reads() as session:
        conv = session.get(Conversation, conversation_id)
        if conv is None:
            raise NotFound("conversation not found", code="conversation_not_found")
        customer = session.get(Customer, conv.customer_id) if conv.customer_id else None
        messages = session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.seq.desc())
            .limit(500)
        ).all()
        events = session.execute(
            select(TurnEvent, Message.seq)
            .join(Message, Message.id == TurnEvent.message_id)
            .where(TurnEvent.conversation_id == conversation_id)
            .order_by(TurnEvent.id)
        ).all()
        handoff = _latest(session, conversation_id)
        names = account_names(
            session, {handoff.agent_id} if handoff and handoff.agent_id else set()
        )
        handoff_json = _handoff_dict(session, handoff, names) if handoff else None
        ds = DialogueState.from_json(conv.dialogue)
        turns = [
            {
                "turn": n,
                "seq": seq,
                "decision": e.decision,
                "reason": e.reason,
                "intent": e.intent,
                "faq": e.faq_entry_id,
                "flow": ((e.understanding or {}).get("dialogue") or {}).get("flow"),
                "sentiment": (e.understanding or {}).get("sentiment"),
            }
            for n, (e, seq) in enumerate(events, start=1)
        ]
        name = customer.display_name if customer else None
        summary = summarize(ds, turns, pii, handoff_json)
        return {
            "conversation": {
                "id": conv.id,
                "status": conv.status.value,
                "language": conv.language,
                "channel": conv.channel,
                "customer": mask_value("name", name) if name else None,
                "created_at": conv.created_at,
            },
            "handoff": handoff_json,
            "messages": [message_out(runtime, m) for m in reversed(messages)],
            "context": {
                "summary": summary,
                **_operator_context(runtime, ds),
            },
        }


def _conceal(order_id: str) -> str:
    # An order's last four digits are a verification factor: never shown whole by default.
    return order_id[:-4] + "****" if len(order_id) > 6 else "****"


def _operator_context(runtime: Runtime, ds: DialogueState) -> dict[str, Any]:
    """The customer's profile and recent rides/bookings from the operator's backend, when the
    conversation is tied to a verified (signed) customer id."""
    backend = runtime.conversations.bot.pipeline.backend
    if not ds.customer or backend is None:
        return {"profile": None, "recent": {"rides": [], "bookings": []}}
    try:
        profile = backend.customer_profile(ds.customer)
        rides = backend.rides(ds.customer, limit=RECENT)
        bookings = backend.bookings(ds.customer)[:RECENT]
    except BackendError as exc:
        return {
            "profile": None,
            "recent": {"rides": [], "bookings": []},
            "backend_error": exc.kind,
        }
    return {
        "profile": {
            "name": mask_value("name", profile.name) if profile.name else None,
            "phone": mask_value("phone", profile.phone) if profile.phone else None,
            "language": profile.language,
            "tier": profile.tier,
            "deposit_cents": profile.deposit_cents,
            "balance_cents": profile.balance_cents,
        },
        "recent": {
            "rides": [
                {
                    "ride_id": _conceal(r.ride_id),
                    "bike_code": r.bike_code,
                    "bike_type": r.bike_type,
                    "started_at": r.started_at.isoformat(),
                    "ended_at": r.ended_at.isoformat() if r.ended_at else None,
                    "start_place": r.start_place,
                    "end_place": r.end_place,
                }
                for r in rides
            ],
            "bookings": [
                {
                    "booking_id": _conceal(b.booking_id),
                    "listing_name": b.listing_name,
                    "check_in": b.check_in.isoformat(),
                    "check_out": b.check_out.isoformat(),
                    "guests": b.guests,
                    "status": b.status,
                }
                for b in bookings
            ],
        },
    }


def suggestions(runtime: Runtime, conversation_id: uuid.UUID) -> list[dict[str, Any]]:
    """The best FAQ answers for the latest customer message (from its turn event)."""
    with runtime.conversations.reads() as session:
        conv = session.get(Conversation, conversation_id)
        if conv is None:
            raise NotFound("conversation not found", code="conversation_not_found")
        event = session.scalars(
            select(TurnEvent)
            .where(TurnEvent.conversation_id == conversation_id)
            .order_by(TurnEvent.id.desc())
            .limit(1)
        ).first()
    if event is None:
        return []
    knowledge = runtime.conversations.bot.pipeline.knowledge
    lang = conv.language if conv.language in ("zh", "en") else "zh"
    out = []
    for candidate in (event.understanding or {}).get("faq", [])[: SUGGESTIONS * 2]:
        entry = knowledge.entries.get(candidate.get("entry_id", ""))
        if entry is None or entry.action == "handoff" or entry.skill == "common":
            continue
        out.append(
            {
                "entry_id": entry.id,
                "score": round(float(candidate.get("score", 0.0)), 3),
                "question": entry.question.get(lang),  # type: ignore[arg-type]
                "text": knowledge.render(entry.id, lang),  # type: ignore[arg-type]
            }
        )
        if len(out) == SUGGESTIONS:
            break
    return out
