"""The dashboard's numbers equal what the simulator generated, exactly, on SQLite and
PostgreSQL: a seeded week of traffic through the real pipeline, the rollups refreshed, then
every metric compared with the simulator's ledger (what it did and what the calls returned).
The planted knowledge gaps come back as clusters, and the planted spike as a hot topic."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from kefu.analytics import alerts, metrics
from kefu.analytics.filters import Filters
from kefu.analytics.gaps import gap_clusters, gap_items, score_clusters
from kefu.analytics.refresh import refresh
from kefu.analytics.simulate import simulate
from kefu.analytics.simulate_ledger import ConversationRecord, Ledger
from kefu.runtime import Runtime
from kefu.understanding.embeddings import make_embedder

END = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # a fixed past: flows left open have idled
CONVERSATIONS = 500
DAYS = 8


@pytest.fixture
def world(runtime: Runtime) -> Iterator[tuple[Runtime, Ledger, Filters]]:
    ledger = simulate(runtime, CONVERSATIONS, DAYS, seed=5, end=END)
    tz = ZoneInfo(runtime.settings.timezone)
    assert refresh(runtime.engine, runtime.tenant.id, tz) == CONVERSATIONS
    days = sorted({date.fromisoformat(c.local_day) for c in ledger.conversations})
    yield runtime, ledger, Filters.of(tz, days[0], days[-1])


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def expected_summary(convs: list[ConversationRecord]) -> dict[str, object]:
    n = len(convs)
    turns = sum(v for c in convs for k, v in c.decisions.items() if k != "silent")
    ratings = Counter(c.rating for c in convs if c.rating is not None)
    rated = sum(ratings.values())
    return {
        "conversations": n,
        "messages": sum(c.messages for c in convs),
        "customer_messages": sum(c.customer_messages for c in convs),
        "automated_resolution_rate": rate(
            sum(c.closed and not c.handed_off and not c.returned_24h for c in convs), n
        ),
        "first_contact_resolution_rate": rate(
            sum(c.closed and not c.returned_24h for c in convs), n
        ),
        "handoff_rate": rate(sum(c.handed_off for c in convs), n),
        "fallback_rate": rate(sum(c.decisions.get("fallback", 0) for c in convs), turns),
        "clarification_rate": rate(sum(c.decisions.get("clarify", 0) for c in convs), turns),
        "satisfaction": {
            "average": round(sum(s * k for s, k in ratings.items()) / rated, 3) if rated else None,
            "count": rated,
            "distribution": {str(s): ratings.get(s, 0) for s in range(1, 6)},
        },
    }


def check(session: Session, runtime: Runtime, f: Filters, convs: list[ConversationRecord]) -> None:
    got = metrics.summary(session, runtime.tenant.id, f)
    want = expected_summary(convs)
    assert {k: got[k] for k in want} == want


def test_every_metric_equals_the_simulation(world: tuple[Runtime, Ledger, Filters]) -> None:
    runtime, ledger, f = world
    convs = ledger.conversations
    tid = runtime.tenant.id
    # The traffic has what the dashboard needs to show.
    assert {c.skill for c in convs} >= {"bike", "lodging"} and {c.language for c in convs} == {
        "zh",
        "en",
    }
    assert sum(c.handed_off for c in convs) and sum(c.rating is not None for c in convs)
    assert sum(c.returned_24h for c in convs) and sum(c.flow is not None for c in convs)
    with runtime.sessions() as session:
        check(session, runtime, f, convs)
        for dim in ("skill", "channel", "language"):
            attr = "touched_skill" if dim == "skill" else dim
            for value in {getattr(c, attr) for c in convs}:
                sub = Filters(f.since, f.until, **{dim: value})
                check(session, runtime, sub, [c for c in convs if getattr(c, attr) == value])

        by_day = Counter(c.local_day for c in convs)
        msgs_by_day = Counter[str]()
        for c in convs:
            msgs_by_day[c.local_day] += c.messages
        rows = metrics.volume(session, tid, f, "day")
        assert {r["bucket"]: r["conversations"] for r in rows if r["conversations"]} == by_day
        assert {r["bucket"]: r["messages"] for r in rows if r["messages"]} == msgs_by_day
        hours = metrics.volume(session, tid, f, "hour")
        assert {int(r["bucket"]): r["conversations"] for r in hours if r["conversations"]} == (
            Counter(c.local_hour for c in convs)
        )

        reasons = Counter(c.handoff_reason for c in convs if c.handed_off)
        got = metrics.handoff_reasons(session, tid, f)
        assert {r["reason"]: r["conversations"] for r in got} == reasons

        scores = Counter(c.rating for c in convs if c.rating is not None)
        assert {r["score"]: r["conversations"] for r in metrics.satisfaction(session, tid, f)} == {
            s: scores.get(s, 0) for s in range(1, 6)
        }

        trend = {r["day"]: r for r in metrics.trend(session, tid, f)}
        for day, count in by_day.items():
            assert trend[day]["conversations"] == count
            today = [c for c in convs if c.local_day == day]
            assert trend[day]["handoff_rate"] == rate(sum(c.handed_off for c in today), count)

        started = Counter(c.flow for c in convs if c.flow)
        resolved = Counter(c.flow for c in convs if c.flow_outcome == "resolved")
        flows = {r["flow"]: r for r in metrics.flows(session, tid, f)}
        assert {k: v["started"] for k, v in flows.items()} == started
        assert {k: v["completed"] for k, v in flows.items() if v["completed"]} == resolved
        for flow in started:
            left = Counter(
                c.flow_last_step
                for c in convs
                if c.flow == flow and c.flow_last_step and c.flow_outcome in (None, "cancelled")
            )
            got_steps = metrics.flow_steps(session, tid, f, flow)
            assert {r["step"]: r["dropped"] for r in got_steps if r["step"] != "(start)"} == left

        # Drill-down: the conversations behind a rating are exactly the rated ones.
        for score, count in scores.items():
            total, rows = metrics.conversations(session, tid, f, score=score, limit=500)
            assert total == count
            assert {r["id"] for r in rows} == {c.id for c in convs if c.rating == score}


def test_planted_gaps_and_spike_are_found(world: tuple[Runtime, Ledger, Filters]) -> None:
    runtime, ledger, f = world
    tid = runtime.tenant.id
    tz = ZoneInfo(runtime.settings.timezone)
    with runtime.sessions() as session:
        items = gap_items(session, tid, f)
        clusters = gap_clusters(
            session, tid, f, today=f.until, embedder=make_embedder(runtime.settings.embedder)
        )
        planted = {
            topic: [q.text for q in questions if q.decision != "answer"]
            for topic, questions in ledger.gap_topics.items()
        }
        scores = score_clusters(clusters, planted, items)
        # A small sample (about 12 questions a topic); bench/analytics_gaps.py reports the
        # figures on 3,000 conversations (docs/benchmarks.md).
        assert scores["purity"] >= 0.8, scores
        assert scores["recall"] >= 0.7, scores
        assert scores["own_cluster"] >= len(planted) - 1, scores

        spike = ledger.spike
        assert spike is not None and spike.count >= 8
        day = date.fromisoformat(spike.local_day)
        now = datetime(day.year, day.month, day.day, spike.hour, 59, tzinfo=tz)
        found = alerts.hot_topics(session, tid, Filters(f.since, day), now=now, tz=tz)
        place = [t for t in found if t.kind == "place" and t.value == spike.place]
        assert place and place[0].hour == spike.hour
        assert place[0].count == spike.places.get(spike.place, 0)
