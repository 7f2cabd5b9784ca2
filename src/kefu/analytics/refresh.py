"""Fill the analytics rollups from what the pipeline stored.

A conversation's fact row is recomputed whole from its messages, turn events, handoffs and
rating whenever it changed since the last refresh (its `updated_at`, a handoff or a rating),
and so is the same customer's earlier conversation, whose "came back within 24 h" the new one
may settle. Recomputing is idempotent, so the watermark can overlap safely; each batch is one
transaction that takes the tenant's refresh row first, so two processes refreshing at once
serialise batch by batch instead of colliding.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, delete, exists, func, insert, not_, or_, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kefu.analytics.facts import RETURN_WINDOW, compute
from kefu.analytics.models import ConversationFact, RefreshState, TurnFact
from kefu.conversations.models import Conversation
from kefu.db.base import utcnow
from kefu.db.engine import make_session_factory
from kefu.handoff.models import Handoff, Rating

BATCH = 400
# Rows committed just before a refresh may carry a timestamp a little older than the refresh
# (clock skew between processes, long transactions): read back this far again.
OVERLAP = timedelta(minutes=5)

Progress = Callable[[int, int], None]


def refresh(
    engine: Engine,
    tenant_id: int,
    tz: ZoneInfo,
    *,
    full: bool = False,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> int:
    """Bring the rollups up to date; return how many conversations were recomputed. One run
    at a time per tenant in this process: a caller arriving during a run waits for it and
    returns 0 (what it would have read is being read)."""
    gate = _gate(tenant_id)
    if not gate.acquire(blocking=False):
        with gate:
            return 0
    try:
        return _refresh(engine, tenant_id, tz, full, progress, batch)
    finally:
        gate.release()


def _refresh(
    engine: Engine,
    tenant_id: int,
    tz: ZoneInfo,
    full: bool,
    progress: Progress | None,
    batch: int,
) -> int:
    started = utcnow()
    sessions = make_session_factory(engine, tenant_id=tenant_id)
    with sessions() as session:
        state = session.get(RefreshState, tenant_id)
        # Days and hours are local: another time zone means every row moves.
        full = full or state is None or state.timezone != tz.key
        mark = None if full or state is None else state.watermark
        ids = _touched(session, tenant_id, None if mark is None else mark - OVERLAP)
    total = len(ids)
    done = 0
    if progress:
        progress(0, total)
    for chunk in _chunks(ids, batch):
        with sessions.begin() as session:
            _lock_state(session, tenant_id)
            rows, turns = compute(session, chunk, tz)
            session.execute(delete(TurnFact).where(TurnFact.conversation_id.in_(chunk)))
            session.execute(
                delete(ConversationFact).where(ConversationFact.conversation_id.in_(chunk))
            )
            if rows:
                session.execute(insert(ConversationFact), rows)
            if turns:
                session.execute(insert(TurnFact), turns)
        done += len(chunk)
        if progress:
            progress(done, total)
    with sessions.begin() as session:
        state = _lock_state(session, tenant_id)
        if state.watermark is None or state.watermark < started:
            state.watermark = started
        state.refreshed_at = utcnow()
        state.timezone = tz.key
        if total:
            state.version = (state.version or 0) + 1
    return total


_GATES: dict[int, threading.Lock] = {}
_GATES_LOCK = threading.Lock()


def _gate(tenant_id: int) -> threading.Lock:
    with _GATES_LOCK:
        return _GATES.setdefault(tenant_id, threading.Lock())


def data_version(session: Session, tenant_id: int) -> int:
    """Bumped by each refresh that changed something: what caches of the rollups key on."""
    state = session.get(RefreshState, tenant_id)
    return state.version or 0 if state else 0


def refreshed_at(session: Session, tenant_id: int) -> datetime | None:
    state = session.get(RefreshState, tenant_id)
    return state.refreshed_at if state else None


def _lock_state(session: Session, tenant_id: int) -> RefreshState:
    state = session.scalars(
        select(RefreshState).where(RefreshState.tenant_id == tenant_id).with_for_update()
    ).one_or_none()
    if state is None:
        try:
            with session.begin_nested():  # another process's first refresh may insert it
                session.add(RefreshState(tenant_id=tenant_id, version=0))
        except IntegrityError:
            pass
        state = session.scalars(
            select(RefreshState).where(RefreshState.tenant_id == tenant_id).with_for_update()
        ).one()
    return state


def _chunks(ids: Sequence[uuid.UUID], size: int) -> Iterable[list[uuid.UUID]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _touched(session: Session, tenant_id: int, since: datetime | None) -> list[uuid.UUID]:
    """Conversations that changed since `since` (all of them when None), plus the same
    customers' conversations that ended in the day before one of them started, whose 24-hour
    return may have changed. Conversations anonymised by retention (no customer link, their
    turn events stripped) keep the facts computed before: recomputing them from what is left
    would rewrite the past (no flows, no returns)."""
    conv = Conversation
    frozen = and_(
        conv.customer_id.is_(None),
        exists().where(ConversationFact.conversation_id == conv.id),
    )
    if since is None:
        query = select(conv.id).where(conv.tenant_id == tenant_id, not_(frozen))
        return sorted(session.scalars(query), key=str)
    changed = union(
        select(conv.id).where(conv.tenant_id == tenant_id, conv.updated_at >= since),
        select(Handoff.conversation_id).where(
            Handoff.tenant_id == tenant_id,
            or_(
                Handoff.requested_at >= since,
                Handoff.assigned_at >= since,
                Handoff.first_reply_at >= since,
                Handoff.ended_at >= since,
            ),
        ),
        select(Rating.conversation_id).where(
            Rating.tenant_id == tenant_id, Rating.created_at >= since
        ),
    ).subquery()
    ids = set(session.scalars(select(changed.c[0])))
    # In slices: PostgreSQL takes at most 65,535 parameters in a statement.
    for part in _chunks(sorted(ids, key=str), 10_000):
        earliest = session.scalar(select(func.min(conv.created_at)).where(conv.id.in_(part)))
        customers = select(conv.customer_id).where(conv.id.in_(part)).scalar_subquery()
        earlier = select(conv.id).where(
            conv.tenant_id == tenant_id,
            conv.customer_id.in_(customers),
            # Ended (last touched) within the return window before the earliest new start.
            conv.updated_at >= (earliest or since) - RETURN_WINDOW - OVERLAP,
        )
        ids.update(session.scalars(earlier))
    for part in _chunks(sorted(ids, key=str), 10_000):
        ids.difference_update(session.scalars(select(conv.id).where(conv.id.in_(part), frozen)))
    return sorted(ids, key=str)
