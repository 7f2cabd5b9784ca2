"""Routing rules: who may serve whom, least-loaded first, queue order and the wait estimate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from kefu.handoff import routing
from kefu.handoff.models import Agent, AgentStatus, Handoff, HandoffStatus
from kefu.runtime import Runtime

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def agent(
    account_id: int,
    status: AgentStatus = AgentStatus.ONLINE,
    capacity: int = 3,
    skills: list[str] | None = None,
    languages: list[str] | None = None,
    teams: list[str] | None = None,
    last: datetime | None = None,
) -> Agent:
    return Agent(
        account_id=account_id,
        tenant_id=1,
        status=status,
        capacity=capacity,
        skills=skills or [],
        languages=languages or [],
        teams=teams or [],
        last_assigned_at=last,
    )


def handoff(skill: str | None = None, language: str = "zh", team: str | None = None) -> Handoff:
    return Handoff(
        id=1,
        tenant_id=1,
        conversation_id=uuid.uuid4(),
        status=HandoffStatus.QUEUED,
        reason="human_request",
        priority="normal",
        rank=3,
        skill=skill,
        language=language,
        team=team,
        requested_at=NOW,
    )


def test_priorities_rank_in_queue_order() -> None:
    assert [routing.rank_of(p) for p in ("urgent", "high", "vip", "normal")] == [0, 1, 2, 3]
    assert routing.rank_of("something-new") == 3


def test_skills_languages_and_teams_must_fit() -> None:
    bike_zh = agent(1, skills=["bike"], languages=["zh"])
    assert routing.fits(bike_zh, handoff("bike", "zh"))
    assert not routing.fits(bike_zh, handoff("lodging", "zh"))
    assert not routing.fits(bike_zh, handoff("bike", "en"))
    assert routing.fits(bike_zh, handoff(None, "zh"))  # no skill asked: anyone
    assert routing.fits(agent(2), handoff("lodging", "en"))  # empty lists: anything
    assert not routing.fits(agent(3, teams=["vip-desk"]), handoff(team="night"))
    assert routing.fits(agent(3, teams=["vip-desk"]), handoff(team="vip-desk"))
    assert not routing.fits(agent(4), handoff(team="vip-desk"))


def test_least_loaded_fitting_online_agent_wins() -> None:
    agents = [
        agent(1, skills=["bike"]),
        agent(2, skills=["bike"]),
        agent(3, skills=["lodging"]),
        agent(4, status=AgentStatus.AWAY),
        agent(5, status=AgentStatus.OFFLINE),
    ]
    active = {1: 2, 2: 1, 3: 0, 4: 0, 5: 0}
    assert routing.pick_agent(handoff("bike"), agents, active).account_id == 2  # type: ignore[union-attr]
    # Load is relative to capacity: 1 of 1 is full, 1 of 4 is light.
    agents = [agent(1, capacity=1), agent(2, capacity=4)]
    assert routing.pick_agent(handoff(), agents, {1: 0, 2: 1}).account_id == 1  # type: ignore[union-attr]
    assert routing.pick_agent(handoff(), agents, {1: 1, 2: 1}).account_id == 2  # type: ignore[union-attr]


def test_full_away_and_offline_agents_get_nothing() -> None:
    agents = [
        agent(1, capacity=2),
        agent(2, status=AgentStatus.AWAY),
        agent(3, status=AgentStatus.OFFLINE),
    ]
    assert routing.pick_agent(handoff(), agents, {1: 2}) is None


def test_ties_go_to_the_agent_idle_longest() -> None:
    agents = [
        agent(1, last=NOW - timedelta(minutes=1)),
        agent(2, last=NOW - timedelta(minutes=30)),
        agent(3, last=NOW - timedelta(minutes=5)),
    ]
    assert routing.pick_agent(handoff(), agents, {}).account_id == 2  # type: ignore[union-attr]
    agents.append(agent(4, last=None))  # never assigned anything yet
    assert routing.pick_agent(handoff(), agents, {}).account_id == 4  # type: ignore[union-attr]


def test_the_wait_estimate_follows_handle_time_seats_and_position(runtime: Runtime) -> None:
    from kefu.accounts import service as accounts
    from kefu.accounts.permissions import AccountRole
    from kefu.db.base import utcnow

    now = utcnow()
    with runtime.system_sessions.begin() as session:
        account = accounts.create_account(
            session, runtime.tenant.id, "xiaoli", "correct horse battery", AccountRole.AGENT
        )
        account_id = account.id
    convs = [runtime.conversations.start(language="zh").id for _ in range(4)]

    def row(conv: uuid.UUID, status: HandoffStatus, minutes_ago: int, **more: object) -> Handoff:
        return Handoff(
            tenant_id=runtime.tenant.id,
            conversation_id=conv,
            status=status,
            reason="human_request",
            priority="normal",
            rank=3,
            language="zh",
            requested_at=now - timedelta(minutes=minutes_ago),
            **more,
        )

    with runtime.sessions.begin() as session:
        session.add(
            Agent(account_id=account_id, tenant_id=runtime.tenant.id, capacity=2,
                  status=AgentStatus.ONLINE, seen_at=now, skills=[], languages=[], teams=[])
        )  # fmt: skip
        # One finished chat took 10 minutes; one chat is in progress (1 of 2 seats busy).
        session.add(row(convs[0], HandoffStatus.CLOSED, 30, agent_id=account_id,
                        assigned_at=now - timedelta(minutes=20),
                        ended_at=now - timedelta(minutes=10)))  # fmt: skip
        session.add(row(convs[1], HandoffStatus.ASSIGNED, 5, agent_id=account_id,
                        assigned_at=now - timedelta(minutes=4)))  # fmt: skip
        first = row(convs[2], HandoffStatus.QUEUED, 3)
        second = row(convs[3], HandoffStatus.QUEUED, 1)
        session.add_all([first, second])
        session.flush()
        snapshot = routing.QueueSnapshot(session, now)
        # Position 1 has the free seat: no wait. Position 2 waits for a seat to free: 10 min
        # of handle time over 2 seats.
        assert snapshot.info(first) == routing.QueueInfo(1, 0, 1)
        assert snapshot.info(second) == routing.QueueInfo(2, 300, 1)
        assert snapshot.info(None) == routing.QueueInfo(None, None, 1)
