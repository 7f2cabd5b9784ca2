"""The queue and routing: which agent gets which waiting customer, and how long the wait is.

Order: priority rank (urgent, high, vip, normal), then waiting time. A queued handoff goes to
an online agent with a free seat whose skills, languages and teams fit; the least loaded such
agent wins, then the one idle longest. Routing for a tenant is serialised (a PostgreSQL
advisory lock inside the transaction; SQLite serialises writers itself), so two processes
never give one agent more chats than their capacity.
"""

from __future__ import annotations

import math
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from kefu.accounts.models import Account
from kefu.accounts.permissions import AccountRole, Permission, permissions_of
from kefu.conversations.models import Conversation, ConversationStatus
from kefu.handoff.models import Agent, AgentStatus, Handoff, HandoffStatus

PRIORITIES = ("urgent", "high", "vip", "normal")
HANDLE_TIME_SAMPLE = 50  # recent finished chats the wait estimate averages over
HANDLE_TIME_WINDOW = timedelta(days=7)
ROUTE_BATCH = 1000  # queued customers looked at per routing run
PRESENCE = timedelta(seconds=120)  # an online agent unseen for longer is treated as away


def rank_of(priority: str) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES) - 1


@dataclass(frozen=True)
class Assignment:
    handoff_id: int
    conversation_id: uuid.UUID
    agent_id: int


def queue_order() -> tuple[object, ...]:
    return (Handoff.rank, Handoff.requested_at, Handoff.id)


def active_counts(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(Handoff.agent_id, func.count())
        .where(Handoff.status == HandoffStatus.ASSIGNED, Handoff.agent_id.is_not(None))
        .group_by(Handoff.agent_id)
    )
    return {agent_id: count for agent_id, count in rows if agent_id is not None}


def fits(agent: Agent, handoff: Handoff) -> bool:
    """Can this agent serve this customer (skills, language, team)? Empty lists mean any."""
    if handoff.skill and agent.skills and handoff.skill not in agent.skills:
        return False
    if agent.languages and handoff.language not in agent.languages:
        return False
    return not (handoff.team and handoff.team not in (agent.teams or []))


def pick_agent(handoff: Handoff, agents: Sequence[Agent], active: dict[int, int]) -> Agent | None:
    """Least loaded fitting agent with a free seat; ties go to the one idle longest."""
    floor = datetime.min.replace(tzinfo=None)

    def idle_since(agent: Agent) -> datetime:
        at = agent.last_assigned_at
        return at.replace(tzinfo=None) if at else floor

    candidates = [
        a
        for a in agents
        if a.status is AgentStatus.ONLINE
        and active.get(a.account_id, 0) < a.capacity
        and fits(a, handoff)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda a: (active.get(a.account_id, 0) / a.capacity, idle_since(a)))


# Roles that serve customers: a deactivated or demoted account gets no chats, whatever its
# agent profile still says.
WORK_ROLES = tuple(r for r in AccountRole if Permission.HANDOFF_WORK in permissions_of(r))


def available(session: Session, now: datetime) -> Sequence[Agent]:
    """Agents who are online, present (seen within PRESENCE) and still allowed to serve."""
    return session.scalars(
        select(Agent)
        .join(Account, Account.id == Agent.account_id)
        .where(
            Agent.status == AgentStatus.ONLINE,
            Agent.seen_at >= now - PRESENCE,
            Account.active.is_(True),
            Account.role.in_(WORK_ROLES),
        )
    ).all()


def orphaned(session: Session) -> Sequence[Handoff]:
    """Chats assigned to an account that may no longer serve (deactivated, demoted)."""
    return session.scalars(
        select(Handoff)
        .join(Account, Account.id == Handoff.agent_id)
        .where(
            Handoff.status == HandoffStatus.ASSIGNED,
            (Account.active.is_(False)) | (Account.role.not_in(WORK_ROLES)),
        )
    ).all()


def requeue(session: Session, handoff: Handoff, now: datetime) -> None:
    """Back to the queue, keeping its place (it has waited since `requested_at`)."""
    handoff.status = HandoffStatus.QUEUED
    handoff.agent_id = None
    handoff.assigned_at = None
    session.execute(
        update(Conversation)
        .where(
            Conversation.id == handoff.conversation_id,
            Conversation.status == ConversationStatus.WITH_AGENT,
        )
        .values(status=ConversationStatus.WAITING_AGENT, updated_at=now)
    )


def lock_routing(session: Session, tenant_id: int) -> None:
    """Serialise routing for one tenant until the transaction ends (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"kefu-routing:{tenant_id}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def route(session: Session, tenant_id: int, now: datetime) -> list[Assignment]:
    """Assign as many queued handoffs as the online agents can take, in queue order."""
    lock_routing(session, tenant_id)
    queued = session.scalars(
        select(Handoff)
        .where(Handoff.status == HandoffStatus.QUEUED)
        .order_by(*queue_order())  # type: ignore[arg-type]
        .limit(ROUTE_BATCH)
    ).all()
    if not queued:
        return []
    agents = available(session, now)
    if not agents:
        return []
    active = active_counts(session)
    done = []
    for handoff in queued:
        agent = pick_agent(handoff, agents, active)
        if agent is None:
            continue
        assign(session, handoff, agent.account_id, now)
        agent.last_assigned_at = now
        active[agent.account_id] = active.get(agent.account_id, 0) + 1
        done.append(Assignment(handoff.id, handoff.conversation_id, agent.account_id))
    return done


def assign(session: Session, handoff: Handoff, agent_id: int, now: datetime) -> None:
    handoff.status = HandoffStatus.ASSIGNED
    handoff.agent_id = agent_id
    handoff.assigned_at = now
    session.execute(
        update(Conversation)
        .where(
            Conversation.id == handoff.conversation_id,
            Conversation.status != ConversationStatus.CLOSED,
        )
        .values(status=ConversationStatus.WITH_AGENT, updated_at=now)
    )


@dataclass(frozen=True)
class QueueInfo:
    position: int | None  # 1-based; None when not queued
    wait_seconds: int | None  # None: no honest estimate (nobody online, or no history yet)
    agents_online: int


class QueueSnapshot:
    """The queue's numbers, read once (a handful of queries) and then asked for any number of
    handoffs: an inbox or a queue broadcast costs the same for 1 customer or 200.

    The wait estimate is honest: every seat of an online agent frees once per mean handle
    time, so the queue drains at `seats / handle_time`; a customer at position p behind f free
    seats waits about `(p - f) * handle_time / seats`. Nobody online, or no finished chat yet
    to learn from: no estimate.
    """

    def __init__(self, session: Session, now: datetime) -> None:
        agents = available(session, now)
        self.online = len(agents)
        ordered = session.scalars(
            select(Handoff.id)
            .where(Handoff.status == HandoffStatus.QUEUED)
            .order_by(*queue_order())  # type: ignore[arg-type]
        ).all()
        self.positions = {handoff_id: n for n, handoff_id in enumerate(ordered, start=1)}
        self.handle = mean_handle_seconds(session, now) if agents else None
        active = active_counts(session) if agents else {}
        self.seats = sum(a.capacity for a in agents)
        self.free = sum(max(0, a.capacity - active.get(a.account_id, 0)) for a in agents)

    def info(self, handoff: Handoff | None) -> QueueInfo:
        position = self.positions.get(handoff.id) if handoff is not None else None
        if position is None or not self.online or self.handle is None:
            return QueueInfo(position, None, self.online)
        ahead = max(0, position - self.free)
        return QueueInfo(position, math.ceil(ahead * self.handle / max(1, self.seats)), self.online)


def mean_handle_seconds(session: Session, now: datetime) -> float | None:
    """Mean time an agent spent on a chat, over the last finished ones (None: no history)."""
    rows = session.execute(
        select(Handoff.assigned_at, Handoff.ended_at)
        .where(
            Handoff.assigned_at.is_not(None),
            Handoff.ended_at.is_not(None),
            Handoff.ended_at >= now - HANDLE_TIME_WINDOW,
        )
        .order_by(Handoff.ended_at.desc())
        .limit(HANDLE_TIME_SAMPLE)
    ).all()
    spans = [(end - start).total_seconds() for start, end in rows if end and start]
    return sum(spans) / len(spans) if spans else None


def queue_info(session: Session, handoff: Handoff | None, now: datetime) -> QueueInfo:
    """Position and wait estimate of one handoff (see QueueSnapshot)."""
    return QueueSnapshot(session, now).info(handoff)
