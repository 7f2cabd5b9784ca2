"""Hot topics and the alert webhook, on fact rows planted directly (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from kefu.analytics.alerts import (
    Bucket,
    HotTopic,
    SpikeRules,
    current_window,
    detect_spikes,
    hot_topics,
    poisson_surprise,
)
from kefu.analytics.alerts_webhook import MAX_ATTEMPTS, check_and_notify
from kefu.analytics.filters import Filters
from kefu.analytics.models import ConversationFact, SentAlert, TurnFact
from kefu.config import Settings
from kefu.conversations.models import Conversation
from kefu.db.engine import make_engine, make_session_factory
from kefu.runtime import prepare_database
from kefu.tenants.models import Tenant

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=TZ)  # local Tuesday morning
TODAY = NOW.date()
STATION, OTHER = "人民广场站", "徐家汇站"
SECRET = "s3cret-for-tests"


def make_settings(tmp_path: Path, db_url: str, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=db_url,
        load_default_knowledge=False,
        **extra,
    )


@dataclass
class Db:
    engine: Engine
    tenant_id: int
    next_turn: int = 1

    def session(self) -> Session:
        return make_session_factory(self.engine, tenant_id=self.tenant_id)()

    def conversation(
        self,
        day: date,
        hour: int,
        turns: list[tuple[str | None, str | None]],
        *,
        minute: int = 1,
    ) -> str:
        """One conversation at local `day` `hour` with turns (intent, place), a minute apart."""
        cid = uuid.uuid4()
        start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)
        with self.session() as s, s.begin():
            s.add(Conversation(id=cid, tenant_id=self.tenant_id, language="zh", channel="web"))
            s.flush()
            s.add(conversation_fact(cid, self.tenant_id, start, len(turns)))
            s.flush()
            for n, (intent, place) in enumerate(turns):
                at = start + timedelta(minutes=n)
                s.add(
                    TurnFact(
                        turn_event_id=self.next_turn,
                        tenant_id=self.tenant_id,
                        conversation_id=cid,
                        created_at=at,
                        local_day=day,
                        local_hour=hour,
                        skill="bike",
                        channel="web",
                        language="zh",
                        decision="flow",
                        intent=intent,
                        polarity=-1,
                        place=place,
                        gap=False,
                    )
                )
                self.next_turn += 1
        return str(cid)


def conversation_fact(
    cid: uuid.UUID, tenant_id: int, start: datetime, turns: int
) -> ConversationFact:
    local = start.astimezone(TZ)
    return ConversationFact(
        conversation_id=cid,
        tenant_id=tenant_id,
        started_at=start,
        local_day=local.date(),
        local_hour=local.hour,
        skill="bike",
        channel="web",
        language="zh",
        status="closed",
        closed=True,
        messages=turns * 2,
        customer_messages=turns,
        bot_messages=turns,
        agent_messages=0,
        turns=turns,
        answered=0,
        fallbacks=0,
        clarifications=0,
        negative_turns=turns,
        sentiment_sum=-turns,
        handed_off=False,
        returned_24h=False,
        resolved_first_contact=True,
        automated=True,
    )


@pytest.fixture
def db(tmp_path: Path, db_url: str) -> Iterator[Db]:
    settings = make_settings(tmp_path, db_url)
    engine = make_engine(db_url)
    prepare_database(settings, engine)
    with make_session_factory(engine, system=True)() as s:
        tenant_id = s.scalar(select(Tenant.id).where(Tenant.slug == settings.tenant))
    assert tenant_id is not None
    yield Db(engine, tenant_id)
    engine.dispose()


def plant_baseline(db: Db, days: int = 14) -> None:
    """Usual mornings: 2 conversations an hour about STATION (unlock failed), 3 about OTHER."""
    for back in range(1, days + 1):
        day = TODAY - timedelta(days=back)
        for hour in (7, 8, 9):
            for _ in range(2):
                db.conversation(day, hour, [("bike.unlock_failed", STATION)])
            for _ in range(3):
                db.conversation(day, hour, [("bike.return", OTHER)])


def plant_spike(db: Db) -> list[str]:
    """This morning at 8: 12 conversations about STATION, some saying hello first."""
    ids = []
    for n in range(12):
        turns: list[tuple[str | None, str | None]] = [("bike.unlock_failed", STATION)]
        if n % 3 == 0:
            turns = [("greeting", None), *turns, ("bike.unlock_failed", STATION)]
        ids.append(db.conversation(TODAY, 8, turns, minute=2 * n + 1))
    for _ in range(3):
        db.conversation(TODAY, 8, [("bike.return", OTHER)])
    return ids


def topics(db: Db, **filters: Any) -> list[HotTopic]:
    with db.session() as s:
        return hot_topics(s, db.tenant_id, Filters.of(TZ, today=TODAY, **filters), now=NOW, tz=TZ)


# -- the rule alone ----------------------------------------------------------------------------


def test_detect_spikes_compares_with_the_same_hour_on_days_with_traffic() -> None:
    days = [date(2026, 11, d) for d in range(10, 24)]
    base = {Bucket("place", "A", d, 8): 2 for d in days}
    today = date(2026, 11, 24)
    current = {Bucket("place", "A", today, 8): 9}
    (topic,) = detect_spikes(current, base, days)
    assert (topic.count, topic.expected, topic.ratio) == (9, 2.0, 4.5)
    assert topic.score == poisson_surprise(9, 2.0) > 3
    # 3x the usual, but 8 against 2 happens by chance (p > 0.1 %); 5 is under 3x.
    assert detect_spikes({Bucket("place", "A", today, 8): 8}, base, days) == []
    loose = SpikeRules(min_score=0)
    assert len(detect_spikes({Bucket("place", "A", today, 8): 6}, base, days, loose)) == 1
    assert detect_spikes({Bucket("place", "A", today, 8): 5}, base, days, loose) == []
    # A quiet hour's expected count has a floor of 1; too little history: no verdict.
    quiet = {Bucket("place", "A", today, 3): 6}
    assert detect_spikes(quiet, base, days)[0].expected == 1.0
    assert detect_spikes(quiet, base, days[-2:]) == []
    assert detect_spikes(current, base, days, SpikeRules(min_count=10)) == []


def test_poisson_surprise_is_finite_for_large_counts() -> None:
    assert poisson_surprise(0, 3.0) == 0.0
    assert poisson_surprise(2, 3.0) < 0.2
    assert 300 < poisson_surprise(500, 1.0) < float("inf")


def test_current_window_is_the_last_24_hours_or_the_ranges_last_day() -> None:
    window = current_window(Filters(TODAY - timedelta(days=6), TODAY), NOW, TZ)
    assert window[0] == (TODAY - timedelta(days=1), 10) and window[-1] == (TODAY, 9)
    assert len(window) == 24
    assert current_window(Filters(TODAY, TODAY), NOW, TZ)[0] == (TODAY, 0)
    past = TODAY - timedelta(days=3)
    assert current_window(Filters(past - timedelta(days=5), past), NOW, TZ) == [
        (past, h) for h in range(24)
    ]


# -- hot topics from the fact tables -----------------------------------------------------------


def test_a_planted_spike_at_one_station_is_found_with_its_conversations(db: Db) -> None:
    plant_baseline(db)
    ids = plant_spike(db)
    found = topics(db)
    place = next(t for t in found if t.kind == "place")
    assert [(t.kind, t.value) for t in found if t.kind == "place"] == [("place", STATION)]
    assert (place.day, place.hour, place.count, place.expected) == (TODAY, 8, 12, 2.0)
    assert place.ratio == 6.0 and place.intent == "bike.unlock_failed"
    assert place.conversations == tuple(ids[:10])
    assert place.breakdown == {
        "skill": {"bike": 12},
        "channel": {"web": 12},
        "language": {"zh": 12},
    }
    # The intent behind it spikes too; the other station's steady traffic doesn't.
    assert {(t.kind, t.value) for t in found} == {
        ("place", STATION),
        ("intent", "bike.unlock_failed"),
    }
    assert all(t.value != OTHER for t in found)
    # A filter on another skill sees none of it.
    assert topics(db, skill="lodging") == []


def test_steady_traffic_and_rare_keys_are_not_hot(db: Db) -> None:
    plant_baseline(db)
    for hour in (7, 8, 9):  # today like every day
        for _ in range(2):
            db.conversation(TODAY, hour, [("bike.unlock_failed", STATION)])
        for _ in range(3):
            db.conversation(TODAY, hour, [("bike.return", OTHER)])
    for _ in range(4):  # a place never seen before, but under the minimum of 5
        db.conversation(TODAY, 8, [("bike.parking", "龙华站")])
    # One customer repeating themselves is one conversation.
    db.conversation(TODAY, 9, [("bike.fault", "莘庄站")] * 8)
    assert topics(db) == []


# -- the webhook -------------------------------------------------------------------------------


def recorder(status: int = 200) -> tuple[list[httpx.Request], httpx.Client]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    return seen, httpx.Client(transport=httpx.MockTransport(handle))


def alerts(db: Db) -> dict[str, SentAlert]:
    with db.session() as s:
        return {a.key: a for a in s.scalars(select(SentAlert))}


def test_each_spike_is_posted_once_and_signed(db: Db, tmp_path: Path, db_url: str) -> None:
    plant_baseline(db)
    ids = plant_spike(db)
    settings = make_settings(
        tmp_path,
        db_url,
        analytics_webhook_url="https://hooks.example/kefu?token=abc",
        analytics_webhook_secret=SECRET,
        analytics_dashboard_url="https://kefu.example/console/analytics",
    )
    seen, client = recorder()
    first = check_and_notify(db.engine, db.tenant_id, TZ, settings, now=NOW, client=client)
    later = NOW + timedelta(minutes=10)
    second = check_and_notify(db.engine, db.tenant_id, TZ, settings, now=later, client=client)
    assert len(first) == 2 and second == []
    assert len(seen) == 2
    bodies = []
    for request in seen:
        assert str(request.url) == "https://hooks.example/kefu?token=abc"
        expected = hmac.new(SECRET.encode(), request.content, hashlib.sha256).hexdigest()
        assert request.headers["X-Kefu-Signature"] == f"sha256={expected}"
        bodies.append(json.loads(request.content))
    place = next(b for b in bodies if b["topic"]["kind"] == "place")
    assert place["type"] == "kefu.hot_topic" and place["tenant"] == "default"
    assert place["dashboard_url"] == "https://kefu.example/console/analytics"
    topic = place["topic"]
    assert (topic["value"], topic["day"], topic["hour"], topic["count"]) == (
        STATION,
        TODAY.isoformat(),
        8,
        12,
    )
    assert topic["conversations"] == ids[:10] and topic["key"] == f"place:{STATION}:{TODAY}:08"
    stored = alerts(db)
    assert {a.status for a in stored.values()} == {"sent"}
    assert {a.attempts for a in stored.values()} == {1}


def test_concurrent_checks_post_each_spike_once(db: Db, tmp_path: Path, db_url: str) -> None:
    """The server's schedule and `kefu analytics` may check at the same moment."""
    plant_baseline(db, days=3)
    plant_spike(db)
    settings = make_settings(tmp_path, db_url, analytics_webhook_url="https://hooks.example/k")
    seen: list[bytes] = []

    def slow(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        threading.Event().wait(0.2)  # both checks are in flight
        return httpx.Response(200)

    def check() -> None:
        client = httpx.Client(transport=httpx.MockTransport(slow))
        check_and_notify(db.engine, db.tenant_id, TZ, settings, now=NOW, client=client)

    threads = [threading.Thread(target=check) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 2 and len(set(seen)) == 2
    assert {(a.status, a.attempts) for a in alerts(db).values()} == {("sent", 1)}


def test_a_failing_endpoint_is_retried_on_the_next_check(
    db: Db, tmp_path: Path, db_url: str
) -> None:
    plant_baseline(db)
    plant_spike(db)
    settings = make_settings(tmp_path, db_url, analytics_webhook_url="https://hooks.example/k")

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = httpx.Client(transport=httpx.MockTransport(unreachable))
    failed = check_and_notify(db.engine, db.tenant_id, TZ, settings, now=NOW, client=down)
    assert [a.status for a in failed] == ["failed", "failed"]
    stored = alerts(db)
    assert all(a.status == "failed" and a.attempts == 1 for a in stored.values())
    assert all("ConnectError" in (a.last_error or "") for a in stored.values())

    seen, erroring = recorder(status=503)
    check_and_notify(db.engine, db.tenant_id, TZ, settings, now=NOW, client=erroring)
    assert {a.last_error for a in alerts(db).values()} == {"HTTP 503"}

    seen, ok = recorder()
    sent = check_and_notify(db.engine, db.tenant_id, TZ, settings, now=NOW, client=ok)
    assert len(seen) == 2 and [a.status for a in sent] == ["sent", "sent"]
    assert all(
        a.status == "sent" and a.attempts == 3 and a.last_error is None for a in alerts(db).values()
    )


def test_an_alert_left_sending_by_a_dead_check_is_sent_after_the_lease(
    db: Db, tmp_path: Path, db_url: str
) -> None:
    plant_baseline(db, days=3)
    plant_spike(db)
    settings = make_settings(tmp_path, db_url, analytics_webhook_url="https://hooks.example/k")
    seen, ok = recorder()
    check_and_notify(db.engine, db.tenant_id, TZ, settings, now=NOW, client=ok)
    with db.session() as s, s.begin():  # as if the check died while posting
        for alert in s.scalars(select(SentAlert)):
            alert.status, alert.attempted_at = "sending", NOW
    seen.clear()
    soon, later = NOW + timedelta(minutes=1), NOW + timedelta(minutes=10)
    assert check_and_notify(db.engine, db.tenant_id, TZ, settings, now=soon, client=ok) == []
    sent = check_and_notify(db.engine, db.tenant_id, TZ, settings, now=later, client=ok)
    assert len(seen) == 2 and {(a.status, a.attempts) for a in sent} == {("sent", 2)}


def test_retries_stop_after_the_last_attempt(db: Db, tmp_path: Path, db_url: str) -> None:
    plant_baseline(db, days=3)
    plant_spike(db)
    settings = make_settings(tmp_path, db_url, analytics_webhook_url="http://hooks.example/k")
    seen, erroring = recorder(status=500)
    for _ in range(MAX_ATTEMPTS + 2):
        check_and_notify(db.engine, db.tenant_id, TZ, settings, now=NOW, client=erroring)
    assert len(seen) == 2 * MAX_ATTEMPTS
    assert {a.attempts for a in alerts(db).values()} == {MAX_ATTEMPTS}


def test_no_webhook_no_check(db: Db, tmp_path: Path, db_url: str) -> None:
    plant_baseline(db, days=3)
    plant_spike(db)
    settings = make_settings(tmp_path, db_url)
    assert check_and_notify(db.engine, db.tenant_id, TZ, settings, now=NOW) == []
    assert alerts(db) == {}


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_url() -> Iterator[str]:
    """A webhook receiver on 127.0.0.1; what it got is in _Hook.received."""
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_posts_to_a_real_local_endpoint(db: Db, tmp_path: Path, db_url: str, hook_url: str) -> None:
    plant_baseline(db, days=3)
    plant_spike(db)
    settings = make_settings(
        tmp_path, db_url, analytics_webhook_url=hook_url, analytics_webhook_secret=SECRET
    )
    sent = check_and_notify(db.engine, db.tenant_id, TZ, settings, now=NOW)
    assert [a.status for a in sent] == ["sent", "sent"]
    assert len(_Hook.received) == 2
    for headers, body in _Hook.received:
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Kefu-Signature"] == f"sha256={expected}"
        assert "text" not in json.loads(body)["topic"]


def test_webhook_settings_are_validated_and_masked(tmp_path: Path) -> None:
    for bad in ("ftp://hooks.example/k", "hooks.example/k", "https://"):
        with pytest.raises(ValidationError, match="must be an http:// or https:// URL"):
            make_settings(tmp_path, "sqlite://", analytics_webhook_url=bad)
    with pytest.raises(ValidationError):
        make_settings(tmp_path, "sqlite://", analytics_spike_min_ratio=0.5)
    settings = make_settings(
        tmp_path,
        "sqlite://",
        analytics_webhook_url="https://hooks.example/services/T0/B0/token",
        analytics_webhook_secret=SECRET,
    )
    masked = settings.masked()
    assert masked["analytics_webhook_url"] == "https://hooks.example/***"
    assert masked["analytics_webhook_secret"] == "********"
    assert (
        make_settings(tmp_path, "sqlite://", analytics_webhook_url="").analytics_webhook_url is None
    )
