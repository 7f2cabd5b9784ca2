"""The traffic simulator (`kefu demo simulate`): seeded, inside its window, and its ledger equal
to what the database holds, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from kefu.analytics.simulate import simulate
from kefu.analytics.simulate_script import GAP_TOPICS, SPIKE_HOUR
from kefu.cli import app
from kefu.clock import simulated_clock, utcnow
from kefu.config import Settings
from kefu.conversations.models import Conversation, ConversationStatus, Message, Role, TurnEvent
from kefu.db.engine import make_engine
from kefu.handoff.models import Handoff, Rating
from kefu.runtime import Runtime, prepare_database

END = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)  # 20:30 in Shanghai: the spike day is the last


def test_the_clock_seam_moves_only_inside_the_block() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with simulated_clock(start, timedelta(milliseconds=5)) as clock:
        assert utcnow() == start
        assert utcnow() == start + timedelta(milliseconds=5)
        clock.advance(60)
        assert utcnow() - start == timedelta(seconds=60, milliseconds=10)
        clock.set(datetime(2025, 2, 1, 8, tzinfo=ZoneInfo("Asia/Shanghai")))
        assert utcnow() == datetime(2025, 2, 1, 0, tzinfo=UTC)
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.parametrize("workers", [1, 3])
def test_the_ledger_equals_the_database(runtime: Runtime, workers: int) -> None:
    n = 120 if workers == 1 else 60
    ledger = simulate(runtime, n, 5, seed=11, end=END, workers=workers)
    convs = {c.id: c for c in ledger.conversations}
    assert len(convs) == n
    start, end = datetime.fromisoformat(ledger.window_start), END
    tz = ZoneInfo(runtime.settings.timezone)
    assert start == datetime(2026, 3, 6, tzinfo=tz)
    with runtime.sessions() as session:
        rows = session.scalars(select(Conversation)).all()
        assert {str(c.id) for c in rows} == set(convs)
        for conv in rows:
            rec = convs[str(conv.id)]
            local = conv.created_at.astimezone(tz)
            assert (local.date().isoformat(), local.hour) == (rec.local_day, rec.local_hour)
            assert (conv.channel, conv.language) == (rec.channel, rec.language)
            assert (conv.status is ConversationStatus.CLOSED) == rec.closed
            for stamp in (conv.created_at, conv.updated_at, conv.closed_at):
                assert stamp is None or start <= stamp <= end
        by_role = Counter(
            (str(cid), role.value)
            for cid, role in session.execute(select(Message.conversation_id, Message.role))
        )
        for cid, rec in convs.items():
            counts = (by_role[cid, "customer"], by_role[cid, "bot"], by_role[cid, "agent"])
            assert counts == (rec.customer_messages, rec.bot_messages, rec.agent_messages)
            assert by_role[cid, "system"] == rec.system_messages
        handoffs = session.scalars(select(Handoff)).all()
        assert sorted(str(h.conversation_id) for h in handoffs) == sorted(
            c.id for c in ledger.conversations if c.handed_off
        )
        ratings = {str(r.conversation_id): r.score for r in session.scalars(select(Rating))}
        assert ratings == {c.id: c.rating for c in ledger.conversations if c.rating is not None}
        stamps = [
            *session.scalars(select(Message.created_at)),
            *session.scalars(select(TurnEvent.created_at)),
            *session.scalars(select(Rating.created_at)),
            *(
                t
                for h in handoffs
                for t in (h.requested_at, h.assigned_at, h.first_reply_at, h.ended_at)
                if t is not None
            ),
        ]
        assert stamps and all(start <= t <= end for t in stamps)
        turns = session.scalar(select(func.count()).select_from(TurnEvent))
    totals = ledger.totals()
    assert totals["messages"] == sum(by_role.values())
    assert turns == totals["customer_messages"]
    # Every scenario happened: handoffs taken by the agent, ratings, returns, both skills.
    assert totals["agent_took"] > 0 and totals["ratings"] > 0 and totals["returned_24h"] > 0
    assert {"bike", "lodging", "common"} <= {c.skill for c in ledger.conversations}
    assert {"zh", "en"} == {c.language for c in ledger.conversations}
    json.dumps(ledger.to_json())  # JSON-able as it is


def test_planted_gaps_returns_and_spike(runtime: Runtime) -> None:
    ledger = simulate(runtime, 150, 4, seed=5, end=END)
    for topic, questions in ledger.gap_topics.items():
        assert all(q.text in GAP_TOPICS[topic] for q in questions)
        assert all(q.decision in ("fallback", "clarify", "handoff") for q in questions), topic
    assert sum(len(q) for q in ledger.gap_topics.values()) >= 6
    spike = ledger.spike
    assert spike is not None and spike.count >= 5
    assert (spike.local_day, spike.hour) == ("2026-03-10", SPIKE_HOUR)
    planted = {c.id: c for c in ledger.conversations if c.scenario == "spike"}
    assert set(spike.conversation_ids) == set(planted)
    assert {(c.local_day, c.local_hour) for c in planted.values()} == {("2026-03-10", SPIKE_HOUR)}
    returns = [c for c in ledger.conversations if c.return_kind]
    assert returns and all(c.return_of for c in returns)
    earlier = {c.id: c for c in ledger.conversations}
    for again in returns:
        before = earlier[again.return_of or ""]
        assert before.customer == again.customer
        assert before.returned_24h == (again.return_kind == "within_24h")
        assert before.next_visit_s is not None
        assert not 23 * 3600 < before.next_visit_s < 25 * 3600  # clear of the 24 h line


def _texts_and_times(
    path: Path, seed: int, workers: int = 1
) -> list[tuple[str, str, list[tuple[str, str]]]]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=path / "var",
        database_url=f"sqlite:///{path / 'kefu.db'}",
        redis_url=None,
        secret_key=None,
    )
    prepare_database(settings)
    runtime = Runtime.build(settings)
    try:
        ledger = simulate(runtime, 40, 3, seed=seed, end=END, workers=workers)
        with runtime.sessions() as session:
            said: dict[str, list[tuple[str, str]]] = {}
            for cid, text, at in session.execute(
                select(Message.conversation_id, Message.text, Message.created_at)
                .where(Message.role == Role.CUSTOMER)
                .order_by(Message.created_at)
            ):
                said.setdefault(str(cid), []).append((text, at.isoformat()))
    finally:
        runtime.close()
    return [(c.started_at, c.scenario, said.get(c.id, [])) for c in ledger.conversations]


def test_the_same_seed_gives_the_same_traffic(tmp_path: Path) -> None:
    first = _texts_and_times(tmp_path / "a", 3)
    assert first == _texts_and_times(tmp_path / "b", 3)
    assert first != _texts_and_times(tmp_path / "c", 4)
    # Customers served in parallel threads: the same traffic.
    assert first == _texts_and_times(tmp_path / "d", 3, workers=3)


@pytest.fixture
def database(cli_database: str) -> str:
    return cli_database


def test_the_cli_simulates_into_the_configured_database(database: str, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["demo", "simulate", "-n", "30", "--days", "3", "--seed", "2", "--json"]
    res = runner.invoke(app, [*args, "--ledger", str(tmp_path / "ledger.json")])
    assert res.exit_code == 0, res.output
    totals = json.loads(res.stdout.strip().splitlines()[-1])
    assert totals["conversations"] == 30 and totals["analytics_refreshed"] == 30
    ledger = json.loads((tmp_path / "ledger.json").read_text("utf-8"))
    assert len(ledger["conversations"]) == 30 and ledger["totals"]["messages"] == totals["messages"]
    engine = make_engine(database)
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Message)) == totals["messages"]
    finally:
        engine.dispose()
    table = runner.invoke(app, ["demo", "simulate", "-n", "5", "--days", "1"])
    assert table.exit_code == 0, table.output
    assert "conversations" in table.stdout and "analytics refreshed" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "0"], "conversations must be"),
        (["-n", "10", "--days", "0"], "days must be"),
        (["-n", "99999999"], "conversations must be"),
        (["-n", "10", "--workers", "99"], "workers must be"),
    ],
)
def test_bad_sizes_are_one_clear_line(database: str, args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["demo", "simulate", *args])
    assert res.exit_code == 1
    assert message in res.output and "Traceback" not in res.output
