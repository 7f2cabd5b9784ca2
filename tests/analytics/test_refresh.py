"""The rollups on SQLite and PostgreSQL: a refresh reads only what changed, a customer coming
back settles the earlier conversation's resolution, flows report where customers left, and
gap turns keep only their masked text."""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.analytics import metrics
from kefu.analytics.filters import Filters
from kefu.analytics.models import ConversationFact, TurnFact
from kefu.analytics.refresh import refresh
from kefu.clock import simulated_clock, utcnow
from kefu.runtime import Runtime, prepare_database
from tests.conftest import start
from tests.handoff.test_live import say


def run(runtime: Runtime, full: bool = False) -> int:
    return refresh(
        runtime.engine, runtime.tenant.id, ZoneInfo(runtime.settings.timezone), full=full
    )


def fact(runtime: Runtime, conv: str) -> ConversationFact:
    with runtime.sessions() as session:
        return session.scalars(
            select(ConversationFact).where(ConversationFact.conversation_id == uuid.UUID(conv))
        ).one()


def test_a_refresh_reads_only_what_changed(client: TestClient, runtime: Runtime) -> None:
    first, auth = start(client, language="zh")
    say(client, first, auth, "押金怎么退？")
    second, auth2 = start(client, language="en")
    say(client, second, auth2, "how do I get my deposit back?")
    assert run(runtime) == 2
    assert run(runtime) == 2  # within the overlap: recomputed again, idempotently
    assert fact(runtime, first).customer_messages == 1
    say(client, first, auth, "多久到账")
    assert fact(runtime, first).customer_messages == 1  # not yet refreshed
    run(runtime)
    again = fact(runtime, first)
    assert (again.customer_messages, again.messages, again.turns) == (2, 4, 2)
    assert again.skill == "bike" and again.language == "zh" and again.channel == "web"
    with runtime.sessions() as session:
        assert len(session.scalars(select(TurnFact)).all()) == 3
    assert run(runtime, full=True) == 2


def test_coming_back_within_a_day_unsettles_the_earlier_resolution(
    client: TestClient, runtime: Runtime
) -> None:
    earlier, auth = start(client, language="zh", customer={"external_id": "u-77"})
    say(client, earlier, auth, "押金怎么退？")
    client.post(f"/v1/conversations/{earlier}/close", headers=auth)
    run(runtime)
    settled = fact(runtime, earlier)
    assert settled.closed and settled.automated and settled.resolved_first_contact
    assert not settled.returned_24h
    later, auth2 = start(client, language="zh", customer={"external_id": "u-77"})
    say(client, later, auth2, "押金还没到账")
    run(runtime)
    unsettled = fact(runtime, earlier)
    assert unsettled.returned_24h and not unsettled.automated
    assert not unsettled.resolved_first_contact
    assert not fact(runtime, later).closed


def test_flows_report_completion_and_the_step_customers_left_at(
    client: TestClient, runtime: Runtime
) -> None:
    left, auth = start(client, language="zh")
    assert say(client, left, auth, "我要投诉，太差了")["replies"]
    done, auth2 = start(client, language="zh")
    say(client, done, auth2, "我要投诉，太差了")
    say(client, done, auth2, "车坏了还扣了我钱")
    run(runtime)
    dropped = fact(runtime, left)
    assert (dropped.flow, dropped.flow_outcome, dropped.flow_last_step) == (
        "common.complaint",
        None,
        "detail",
    )
    finished = fact(runtime, done)
    assert (finished.flow, finished.flow_outcome, finished.flow_last_step) == (
        "common.complaint",
        "resolved",
        None,
    )


def test_gap_turns_keep_masked_text_only(client: TestClient, runtime: Runtime) -> None:
    conv, auth = start(client, language="zh")
    say(client, conv, auth, "押金怎么退？")
    say(client, conv, auth, "我的手机号13812345678，天上有几颗星星")
    run(runtime)
    with runtime.sessions() as session:
        turns = session.scalars(select(TurnFact).order_by(TurnFact.turn_event_id)).all()
    assert [t.gap for t in turns] == [False, True]
    assert turns[0].text_masked is None
    assert turns[1].text_masked and "13812345678" not in turns[1].text_masked
    assert turns[1].decision in ("fallback", "clarify")


def test_a_long_conversation_closed_just_before_the_customer_returns_is_rechecked(
    client: TestClient, runtime: Runtime
) -> None:
    """The 24 hours run from the end: a chat opened three days ago and closed an hour before
    the customer came back is found again by an incremental refresh."""
    three_days_ago = utcnow() - timedelta(days=3)
    with simulated_clock(three_days_ago):
        earlier = runtime.conversations.start(language="zh", customer_external_id="u-88")
        runtime.conversations.post(earlier.id, "押金怎么退？")
    run(runtime)
    runtime.conversations.post(earlier.id, "好的，谢谢")
    runtime.conversations.close(earlier.id)
    run(runtime)
    assert fact(runtime, str(earlier.id)).automated
    later = runtime.conversations.start(language="zh", customer_external_id="u-88")
    runtime.conversations.post(later.id, "押金还没到账")
    run(runtime)
    again = fact(runtime, str(earlier.id))
    assert again.returned_24h and not again.automated


def test_a_new_time_zone_recomputes_every_day_and_hour(runtime: Runtime) -> None:
    conv = runtime.conversations.start(language="en")
    runtime.conversations.post(conv.id, "how do I get my deposit back?")
    tz = ZoneInfo(runtime.settings.timezone)
    assert refresh(runtime.engine, runtime.tenant.id, tz) == 1
    assert refresh(runtime.engine, runtime.tenant.id, ZoneInfo("America/New_York")) == 1
    moved = fact(runtime, str(conv.id))
    assert moved.local_hour == moved.started_at.astimezone(ZoneInfo("America/New_York")).hour


def test_a_flow_left_before_its_first_step_drills_down(runtime: Runtime) -> None:
    conv = runtime.conversations.start(language="zh")
    runtime.conversations.post(conv.id, "押金怎么退？")
    runtime.conversations.close(conv.id)
    run(runtime)
    with runtime.sessions.begin() as session:
        row = session.get(ConversationFact, conv.id)
        assert row is not None
        row.flow, row.flow_outcome, row.flow_last_step = "bike.report_fault", None, None
    tz = ZoneInfo(runtime.settings.timezone)
    with runtime.sessions() as session:
        f = Filters.of(tz)
        steps = metrics.flow_steps(session, runtime.tenant.id, f, "bike.report_fault")
        assert steps == [{"step": metrics.START, "dropped": 1, "share": 1.0}]
        total, rows = metrics.conversations(
            session, runtime.tenant.id, f, flow="bike.report_fault", step=metrics.START
        )
        assert total == 1 and rows[0]["id"] == str(conv.id)


def test_each_tenant_sees_only_its_own_numbers(runtime: Runtime) -> None:
    other_settings = runtime.settings.model_copy(update={"tenant": "other-shop"})
    prepare_database(other_settings, runtime.engine)
    other = Runtime.build(other_settings, runtime.engine)
    try:
        mine = runtime.conversations.start(language="zh")
        runtime.conversations.post(mine.id, "押金怎么退？")
        for text in ("hello", "how do I get my deposit back?"):
            theirs = other.conversations.start(language="en")
            other.conversations.post(theirs.id, text)
        tz = ZoneInfo(runtime.settings.timezone)
        assert refresh(runtime.engine, runtime.tenant.id, tz) == 1
        assert refresh(runtime.engine, other.tenant.id, tz) == 2
        f = Filters.of(tz)
        with runtime.sessions() as session:
            assert metrics.summary(session, runtime.tenant.id, f)["conversations"] == 1
            assert metrics.summary(session, other.tenant.id, f)["conversations"] == 0
        with other.sessions() as session:
            assert metrics.summary(session, other.tenant.id, f)["conversations"] == 2
    finally:
        other.close()
