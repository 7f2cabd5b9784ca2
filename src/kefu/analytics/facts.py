"""One conversation's facts (and its turns'), computed from what the pipeline stored: its
messages, turn events, first handoff, rating and the same customer's next start. Called by
`refresh` in batches; reads only, writes nothing."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.clock import utcnow
from kefu.conversations.models import Conversation, Message, TurnEvent
from kefu.handoff.models import Handoff, Rating
from kefu.review.service import LOW_SCORE

RETURN_WINDOW = timedelta(hours=24)
SKILLS = ("bike", "lodging")  # the sharing-economy packs; "common" only when nothing else
GAP_DECISIONS = frozenset({"fallback", "clarify"})
PERSONAL_HANDOFFS = frozenset({"anger", "negative", "safety", "human_request"})
MAX_GAP_TEXT = 500
POLARITY = {"negative": -1, "neutral": 0, "positive": 1}


@dataclass
class _Turn:
    id: int
    created_at: datetime
    decision: str
    reason: str | None
    intent: str | None
    faq: str | None
    score: float | None
    polarity: str | None
    confidence: float | None
    text_masked: str | None
    entities: list[dict[str, Any]] | None
    flow: str | None
    step: str | None
    outcome: str | None


# Only these parts of the stored understanding are read: the whole document (tokens, rankings,
# candidates) is several times larger, and moving it out of the database was most of the time.
_U = TurnEvent.understanding
_PARTS = (
    _U[("sentiment", "polarity")].as_string(),
    _U["intent_confidence"].as_float(),
    _U["text_masked"].as_string(),
    _U["entities"],
    _U[("dialogue", "flow")].as_string(),
    _U[("dialogue", "step")].as_string(),
    _U[("dialogue", "outcome")].as_string(),
)


def compute(
    session: Session, ids: list[uuid.UUID], tz: ZoneInfo
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    convs = session.execute(
        select(
            Conversation.id,
            Conversation.tenant_id,
            Conversation.customer_id,
            Conversation.status,
            Conversation.language,
            Conversation.channel,
            Conversation.created_at,
            Conversation.closed_at,
        ).where(Conversation.id.in_(ids))
    ).all()
    messages: dict[uuid.UUID, list[tuple[str, datetime]]] = defaultdict(list)
    for cid, role, at in session.execute(
        select(Message.conversation_id, Message.role, Message.created_at)
        .where(Message.conversation_id.in_(ids))
        .order_by(Message.conversation_id, Message.seq)
    ):
        messages[cid].append((str(role), at))
    turns: dict[uuid.UUID, list[_Turn]] = defaultdict(list)
    for row in session.execute(
        select(
            TurnEvent.id,
            TurnEvent.conversation_id,
            TurnEvent.created_at,
            TurnEvent.decision,
            TurnEvent.reason,
            TurnEvent.intent,
            TurnEvent.faq_entry_id,
            TurnEvent.score,
            *_PARTS,
        )
        .where(TurnEvent.conversation_id.in_(ids))
        .order_by(TurnEvent.id)
    ):
        turns[row[1]].append(_Turn(row[0], row[2], *row[3:]))
    handoffs: dict[uuid.UUID, Handoff] = {}
    for first in session.scalars(
        select(Handoff).where(Handoff.conversation_id.in_(ids)).order_by(Handoff.requested_at)
    ):
        handoffs.setdefault(first.conversation_id, first)
    ratings = dict(
        session.execute(
            select(Rating.conversation_id, Rating.score).where(Rating.conversation_id.in_(ids))
        ).all()
    )
    customers = {c.customer_id for c in convs if c.customer_id is not None}
    starts: dict[uuid.UUID, list[datetime]] = defaultdict(list)
    if customers:
        for customer, at in session.execute(
            select(Conversation.customer_id, Conversation.created_at).where(
                Conversation.customer_id.in_(customers)
            )
        ):
            if customer is not None:
                starts[customer].append(at)
    now = utcnow()
    facts: list[dict[str, Any]] = []
    turn_rows: list[dict[str, Any]] = []
    for c in convs:
        said = messages.get(c.id, [])
        events = turns.get(c.id, [])
        handoff = handoffs.get(c.id)
        skill = _skill(events, handoff)
        local = c.created_at.astimezone(tz)
        status = str(c.status)
        closed = status == "closed"
        ended = c.closed_at if closed and c.closed_at else (said[-1][1] if said else c.created_at)
        later = (
            [at for at in starts.get(c.customer_id, []) if at > c.created_at]
            if c.customer_id
            else []
        )
        returned = bool(later) and min(later) <= ended + RETURN_WINDOW
        roles = [role for role, _ in said]
        first_customer = next((at for role, at in said if role == "customer"), None)
        first_bot = (
            next((at for role, at in said if role == "bot" and at >= first_customer), None)
            if first_customer
            else None
        )
        answered = [t for t in events if t.decision != "silent"]
        polarity = [POLARITY.get(t.polarity or "", 0) for t in answered]
        flow, outcome, step = _flow(answered)
        facts.append(
            {
                "conversation_id": c.id,
                "tenant_id": c.tenant_id,
                "customer_id": c.customer_id,
                "started_at": c.created_at,
                "local_day": local.date(),
                "local_hour": local.hour,
                "skill": skill,
                "channel": c.channel,
                "language": c.language,
                "status": status,
                "ended_at": ended,
                "closed": closed,
                "messages": len(said),
                "customer_messages": roles.count("customer"),
                "bot_messages": roles.count("bot"),
                "agent_messages": roles.count("agent"),
                "turns": len(answered),
                "answered": sum(1 for t in answered if t.decision == "answer"),
                "fallbacks": sum(1 for t in answered if t.decision == "fallback"),
                "clarifications": sum(1 for t in answered if t.decision == "clarify"),
                "negative_turns": polarity.count(-1),
                "sentiment_sum": float(sum(polarity)),
                "bot_first_response_ms": _ms(first_customer, first_bot),
                "handle_ms": _ms(said[0][1] if said else None, ended),
                "handed_off": handoff is not None,
                "handoff_reason": handoff.reason if handoff else None,
                "agent_first_response_ms": _ms(
                    handoff.requested_at if handoff else None,
                    handoff.first_reply_at if handoff else None,
                ),
                "agent_handle_ms": _ms(
                    handoff.assigned_at if handoff else None, handoff.ended_at if handoff else None
                ),
                "returned_24h": returned,
                "resolved_first_contact": closed and not returned,
                "automated": closed and not returned and handoff is None,
                "rating": ratings.get(c.id),
                "flow": flow,
                "flow_outcome": outcome,
                "flow_last_step": step,
                "refreshed_at": now,
            }
        )
        for t in answered:
            at = t.created_at.astimezone(tz)
            gap = _is_gap(t)
            turn_rows.append(
                {
                    "turn_event_id": t.id,
                    "tenant_id": c.tenant_id,
                    "conversation_id": c.id,
                    "created_at": t.created_at,
                    "local_day": at.date(),
                    "local_hour": at.hour,
                    "skill": skill,
                    "channel": c.channel,
                    "language": c.language,
                    "decision": t.decision,
                    "reason": t.reason,
                    "intent": t.intent,
                    "faq_entry_id": t.faq,
                    "confidence": t.confidence,
                    "polarity": POLARITY.get(t.polarity or "", 0),
                    "place": _place(t.entities),
                    "gap": gap,
                    "text_masked": ((t.text_masked or "")[:MAX_GAP_TEXT] or None if gap else None),
                }
            )
    return facts, turn_rows


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds() * 1000)


def _pack(name: str | None) -> str | None:
    return name.split(".", 1)[0] if name and "." in name else None


def _skill(events: list[_Turn], handoff: Handoff | None) -> str:
    """The first sharing-economy pack the conversation touched (intent, FAQ entry or flow);
    "common" when it only touched the shared pack; "other" when nothing was understood."""
    seen: list[str] = []
    for t in events:
        seen.extend(p for p in (_pack(t.faq), _pack(t.intent), _pack(t.flow)) if p)
    if handoff is not None and handoff.skill:
        seen.append(handoff.skill)
    for pack in seen:
        if pack in SKILLS:
            return pack
    return "common" if seen else "other"


def _place(entities: list[dict[str, Any]] | None) -> str | None:
    for entity in entities or ():
        if isinstance(entity, dict) and entity.get("type") == "place":
            value = entity.get("value") or entity.get("text")
            return str(value)[:128] if value else None
    return None


def _is_gap(t: _Turn) -> bool:
    """What kefu could not answer: a fallback, a clarifying question or an answer with a weak
    retrieval score (low confidence, as conversation review counts it), or a handoff it could
    not place (no intent, FAQ entry or flow). Handoffs for the customer's mood, safety or an
    explicit request are not questions left unanswered: outbursts made the largest, least
    useful "gaps" on simulated traffic."""
    if t.decision in GAP_DECISIONS:
        return True
    if t.decision == "answer" and t.score is not None and t.score < LOW_SCORE:
        return True
    placed = t.intent or t.faq or t.flow
    return t.decision == "handoff" and not placed and t.reason not in PERSONAL_HANDOFFS


def _flow(events: list[_Turn]) -> tuple[str | None, str | None, str | None]:
    """The first flow started: its outcome (resolved/failed/cancelled, None while open or
    abandoned) and, when it did not resolve, the last step the customer reached."""
    flow: str | None = None
    outcome: str | None = None
    step: str | None = None
    for t in events:
        if flow is None:
            if not t.flow:
                continue
            flow = t.flow
        elif t.flow and t.flow != flow:
            continue  # a digression into another flow: only the first is reported
        if t.step:
            step = t.step
        if t.outcome:
            outcome = t.outcome
            break
    return flow, outcome, (None if outcome == "resolved" else step)
