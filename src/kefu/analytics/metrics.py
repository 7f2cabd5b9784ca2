"""Dashboard metrics, read from the rollups (`analytics_conversations`, `analytics_turns`).

Conversations count on the local day and hour they started, and so do their messages (a chat
rarely spans hours; counting it once keeps every table adding up to the summary). Turn-level
figures (intents, FAQ entries) count on the day the turn happened. Rates are shares of the
conversations in range (resolution, handoff) or of the bot's turns (fallback, clarification,
sentiment); a rate with nothing to divide is None. A flow counts as dropped when it was
cancelled, or left unfinished in a conversation that is closed or quiet for 30 minutes; the
step it was dropped at is the last one the customer reached.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, cast, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from kefu.analytics.filters import Filters
from kefu.analytics.models import ConversationFact as CF
from kefu.analytics.models import TurnFact as TF
from kefu.db.base import utcnow

Row = dict[str, Any]
DROPPED = ("cancelled",)  # with None: left mid-flow
START = "(start)"  # the drop-out "step" of a flow left before its first step was reached
# A flow still open in a conversation quiet for this long (or closed) was left, not paused.
IDLE = timedelta(minutes=30)


def _n(column: Any) -> Any:
    return func.coalesce(func.sum(cast(column, Integer)), 0)


def _rate(part: float | int | None, whole: float | int | None, digits: int = 4) -> float | None:
    return round(float(part or 0) / whole, digits) if whole else None


def _where(tenant_id: int, filters: Filters) -> ColumnElement[bool]:
    return and_(CF.tenant_id == tenant_id, filters.conversations())


def summary(session: Session, tenant_id: int, filters: Filters) -> dict[str, Any]:
    where = _where(tenant_id, filters)
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(CF.messages), 0),
            func.coalesce(func.sum(CF.customer_messages), 0),
            _n(CF.automated),
            _n(CF.resolved_first_contact),
            _n(CF.handed_off),
            func.coalesce(func.sum(CF.turns), 0),
            func.coalesce(func.sum(CF.fallbacks), 0),
            func.coalesce(func.sum(CF.clarifications), 0),
            func.coalesce(func.sum(CF.negative_turns), 0),
            func.coalesce(func.sum(CF.sentiment_sum), 0.0),
        ).where(where)
    ).one()
    convs, messages, said, automated, fcr, handed, turns, fallbacks, clarify, negative, mood = row
    scores: dict[int, int] = {
        s: n
        for s, n in session.execute(
            select(CF.rating, func.count()).where(where, CF.rating.is_not(None)).group_by(CF.rating)
        )
        if s is not None
    }
    rated = sum(scores.values())
    return {
        "conversations": convs,
        "messages": int(messages),
        "customer_messages": int(said),
        "automated_resolution_rate": _rate(automated, convs),
        "first_contact_resolution_rate": _rate(fcr, convs),
        "handoff_rate": _rate(handed, convs),
        "fallback_rate": _rate(fallbacks, turns),
        "clarification_rate": _rate(clarify, turns),
        "bot_first_response_ms": _timing(session, where, CF.bot_first_response_ms),
        "agent_first_response_ms": _timing(session, where, CF.agent_first_response_ms),
        "handle_ms": _timing(session, where, CF.handle_ms),
        "agent_handle_ms": _timing(session, where, CF.agent_handle_ms),
        "satisfaction": {
            "average": _rate(sum(s * n for s, n in scores.items()), rated, 3),
            "count": rated,
            "distribution": {str(s): scores.get(s, 0) for s in range(1, 6)},
        },
        "sentiment": {
            "average": _rate(mood, turns, 3),
            "negative_share": _rate(negative, turns),
        },
    }


def _timing(
    session: Session, where: ColumnElement[bool], column: InstrumentedAttribute[float | None]
) -> dict[str, float | None]:
    """Mean and median (the lower middle value: the same on every database)."""
    count, avg = session.execute(
        select(func.count(column), func.avg(column)).where(where, column.is_not(None))
    ).one()
    if not count:
        return {"avg": None, "p50": None}
    median = session.scalar(
        select(column)
        .where(where, column.is_not(None))
        .order_by(column)
        .offset((count - 1) // 2)
        .limit(1)
    )
    return {"avg": round(float(avg), 1), "p50": round(float(median or 0), 1)}


def volume(session: Session, tenant_id: int, filters: Filters, by: str) -> list[Row]:
    bucket = CF.local_day if by == "day" else CF.local_hour
    found = {
        key: (convs, int(msgs))
        for key, convs, msgs in session.execute(
            select(bucket, func.count(), func.coalesce(func.sum(CF.messages), 0))
            .where(_where(tenant_id, filters))
            .group_by(bucket)
        )
    }
    keys: Sequence[date | int] = filters.days if by == "day" else range(24)
    return [
        {
            "bucket": k.isoformat() if isinstance(k, date) else f"{k:02d}",
            "conversations": found.get(k, (0, 0))[0],
            "messages": found.get(k, (0, 0))[1],
        }
        for k in keys
    ]


def trend(session: Session, tenant_id: int, filters: Filters) -> list[Row]:
    found = {
        r[0]: r[1:]
        for r in session.execute(
            select(
                CF.local_day,
                func.count(),
                _n(CF.automated),
                _n(CF.handed_off),
                func.coalesce(func.sum(CF.fallbacks), 0),
                func.coalesce(func.sum(CF.turns), 0),
                func.sum(CF.rating),
                func.count(CF.rating),
                func.coalesce(func.sum(CF.sentiment_sum), 0.0),
                func.coalesce(func.sum(CF.negative_turns), 0),
            )
            .where(_where(tenant_id, filters))
            .group_by(CF.local_day)
        )
    }
    rows = []
    for day in filters.days:
        convs, automated, handed, fallbacks, turns, score, rated, mood, negative = found.get(
            day, (0, 0, 0, 0, 0, None, 0, 0.0, 0)
        )
        rows.append(
            {
                "day": day.isoformat(),
                "conversations": convs,
                "automated_resolution_rate": _rate(automated, convs),
                "handoff_rate": _rate(handed, convs),
                "fallback_rate": _rate(fallbacks, turns),
                "satisfaction": _rate(score, rated, 3),
                "sentiment": _rate(mood, turns, 3),
                "negative_share": _rate(negative, turns),
            }
        )
    return rows


def handoff_reasons(session: Session, tenant_id: int, filters: Filters) -> list[Row]:
    found = session.execute(
        select(CF.handoff_reason, func.count())
        .where(_where(tenant_id, filters), CF.handed_off.is_(True))
        .group_by(CF.handoff_reason)
    ).all()
    total = sum(n for _, n in found)
    return [
        {"reason": reason or "unknown", "conversations": n, "share": _rate(n, total)}
        for reason, n in sorted(found, key=lambda r: (-r[1], r[0] or ""))
    ]


def satisfaction(session: Session, tenant_id: int, filters: Filters) -> list[Row]:
    found = dict(
        session.execute(
            select(CF.rating, func.count())
            .where(_where(tenant_id, filters), CF.rating.is_not(None))
            .group_by(CF.rating)
        ).all()
    )
    total = sum(found.values())
    return [
        {"score": s, "conversations": found.get(s, 0), "share": _rate(found.get(s, 0), total)}
        for s in range(1, 6)
    ]


def top(session: Session, tenant_id: int, filters: Filters, kind: str, limit: int) -> list[Row]:
    """The most frequent intents (kind "intent") or answered FAQ entries (kind "faq")."""
    column = TF.intent if kind == "intent" else TF.faq_entry_id
    where = and_(TF.tenant_id == tenant_id, filters.turns())
    if kind == "faq":  # answered with it (a matched entry may also start a flow or a handoff)
        where = and_(where, TF.decision == "answer")
    total = session.scalar(select(func.count()).where(where, column.is_not(None))) or 0
    found = session.execute(
        select(column, func.count(), func.count(func.distinct(TF.conversation_id)))
        .where(where, column.is_not(None))
        .group_by(column)
        .order_by(func.count().desc(), column)
        .limit(limit)
    ).all()
    return [
        {"key": key, "turns": n, "conversations": convs, "share": _rate(n, total)}
        for key, n, convs in found
    ]


def _dropped() -> ColumnElement[bool]:
    left = or_(CF.closed.is_(True), CF.ended_at < utcnow() - IDLE)
    return or_(and_(CF.flow_outcome.is_(None), left), CF.flow_outcome.in_(DROPPED))


def flows(session: Session, tenant_id: int, filters: Filters) -> list[Row]:
    where = and_(_where(tenant_id, filters), CF.flow.is_not(None))
    found = session.execute(
        select(
            CF.flow,
            func.count(),
            _n(CF.flow_outcome == "resolved"),
            _n(_dropped()),
        )
        .where(where)
        .group_by(CF.flow)
    ).all()
    steps: dict[str, tuple[str, int]] = {}
    for flow, step, n in session.execute(
        select(CF.flow, CF.flow_last_step, func.count())
        .where(where, _dropped(), CF.flow_last_step.is_not(None))
        .group_by(CF.flow, CF.flow_last_step)
    ):
        if flow is None or step is None:
            continue
        # The same order as flow_steps: most dropped first, then by name.
        if flow not in steps or (-n, step) < (-steps[flow][1], steps[flow][0]):
            steps[flow] = (step, n)
    return [
        {
            "flow": flow,
            "started": started,
            "completed": completed,
            "completion_rate": _rate(completed, started),
            "dropped": dropped,
            "top_drop_step": steps.get(flow, (None, 0))[0],
        }
        for flow, started, completed, dropped in sorted(found, key=lambda r: (-r[1], r[0]))
    ]


def flow_steps(session: Session, tenant_id: int, filters: Filters, flow: str) -> list[Row]:
    found = session.execute(
        select(CF.flow_last_step, func.count())
        .where(_where(tenant_id, filters), CF.flow == flow, _dropped())
        .group_by(CF.flow_last_step)
    ).all()
    total = sum(n for _, n in found)
    return [
        {"step": step or START, "dropped": n, "share": _rate(n, total)}
        for step, n in sorted(found, key=lambda r: (-r[1], r[0] or ""))
    ]


def conversations(
    session: Session,
    tenant_id: int,
    filters: Filters,
    *,
    day: date | None = None,
    hour: int | None = None,
    reason: str | None = None,
    score: int | None = None,
    intent: str | None = None,
    faq: str | None = None,
    flow: str | None = None,
    step: str | None = None,
    decision: str | None = None,
    ids: Sequence[uuid.UUID] = (),
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Row]]:
    """The conversations behind a chart's bar or a table's row, newest first."""
    parts: list[ColumnElement[bool]] = [_where(tenant_id, filters)]
    if day is not None:
        parts.append(CF.local_day == day)
    if hour is not None:
        parts.append(CF.local_hour == hour)
    if reason is not None:
        parts.append(and_(CF.handed_off.is_(True), CF.handoff_reason == reason))
    if score is not None:
        parts.append(CF.rating == score)
    if flow is not None:
        parts.append(CF.flow == flow)
    if step is not None:
        at = CF.flow_last_step.is_(None) if step == START else CF.flow_last_step == step
        parts.append(and_(_dropped(), at))
    if ids:
        parts.append(CF.conversation_id.in_(ids))
    turn_parts: list[ColumnElement[bool]] = []
    if intent is not None:
        turn_parts.append(TF.intent == intent)
    if faq is not None:
        turn_parts.append(TF.faq_entry_id == faq)
    if decision is not None:
        turn_parts.append(TF.decision == decision)
    if turn_parts:
        behind = select(TF.conversation_id).where(
            TF.tenant_id == tenant_id, filters.turns(), *turn_parts
        )
        parts.append(CF.conversation_id.in_(behind))
    where = and_(*parts)
    total = session.scalar(select(func.count()).select_from(CF).where(where)) or 0
    found = session.execute(
        select(
            CF.conversation_id,
            CF.started_at,
            CF.skill,
            CF.channel,
            CF.language,
            CF.status,
            CF.turns,
            CF.handed_off,
            CF.rating,
        )
        .where(where)
        .order_by(CF.started_at.desc(), CF.conversation_id)
        .offset(offset)
        .limit(limit)
    ).all()
    keys = ("id", "started_at", "skill", "channel", "language", "status", "turns")
    rows = [
        {
            **dict(zip(keys, (str(r[0]), r[1].isoformat(), *r[2:7]), strict=True)),
            "handed_off": r[7],
            "rating": r[8],
        }
        for r in found
    ]
    return total, rows
