"""Retention (anonymise / delete after N days) and data-subject requests (export, erase),
on SQLite and PostgreSQL. Aggregate analytics (turn events) survive anonymisation and erasure."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from kefu.conversations.models import Conversation, Customer, Message, Ticket, TurnEvent
from kefu.db.base import utcnow
from kefu.privacy import retention
from kefu.privacy.audit import AuditEvent
from kefu.runtime import Runtime
from kefu.tenants.models import Tenant
from tests.conftest import start

PHONE = "13812345678"


def _chat(client: TestClient, external_id: str, text_: str) -> str:
    conv, auth = start(client, customer={"external_id": external_id, "name": "王小明"})
    res = client.post(f"/v1/conversations/{conv}/messages", json={"text": text_}, headers=auth)
    assert res.status_code == 201, res.text
    return conv


def _age(runtime: Runtime, days: int) -> None:
    with runtime.system_sessions.begin() as session:
        session.execute(
            Conversation.__table__.update().values(  # type: ignore[attr-defined]
                updated_at=utcnow() - timedelta(days=days)
            )
        )


def _policy(runtime: Runtime, days: int | None, mode: str) -> None:
    with runtime.system_sessions.begin() as session:
        tenant = session.get(Tenant, runtime.tenant.id)
        assert tenant is not None
        retention.set_policy(session, tenant, days, mode)


def _counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.system_sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Conversation)) or 0,
            session.scalar(select(func.count()).select_from(Message)) or 0,
            session.scalar(select(func.count()).select_from(TurnEvent)) or 0,
        )


def test_anonymise_keeps_analytics_and_removes_identity(
    client: TestClient, runtime: Runtime
) -> None:
    _chat(client, "u-1", f"押金怎么退？我的电话{PHONE}")
    fresh = _chat(client, "u-2", "hello")
    _age(runtime, 40)
    with runtime.system_sessions.begin() as session:  # one conversation is recent
        session.execute(
            Conversation.__table__.update()  # type: ignore[attr-defined]
            .where(Conversation.id == uuid.UUID(fresh))
            .values(updated_at=utcnow())
        )
    before = _counts(runtime)
    _policy(runtime, 30, "anonymise")
    result = retention.purge_tenant(runtime.system_sessions, runtime.tenant.id)
    assert result.conversations == 1 and result.customers == 1
    assert _counts(runtime) == before  # nothing deleted: analytics intact
    with runtime.system_sessions() as session:
        stored = list(session.scalars(select(Message).order_by(Message.id)))
        texts = [m.text for m in stored]
        assert not any(PHONE in t for t in texts)
        old_id = session.scalars(
            select(Conversation.id).where(Conversation.customer_id.is_(None))
        ).one()
        # Bot replies lose their rich payloads (cards and option lists may echo the customer).
        assert all(
            m.payload is None
            for m in stored
            if m.conversation_id == old_id and m.role.value == "bot"
        )
        assert any("138****5678" in t for t in texts)
        old = session.scalars(select(Conversation).where(Conversation.customer_id.is_(None))).one()
        assert old.status.value == "closed"
        assert old.dialogue is None  # slot values the customer typed go too
        events = session.scalars(select(TurnEvent).where(TurnEvent.conversation_id == old.id))
        for event in events:
            assert event.understanding.get("redacted") and "text_masked" not in event.understanding
            assert event.intent is not None or event.decision
        assert session.scalar(select(func.count()).select_from(Customer)) == 1
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "retention.anonymise")
            )
            == 1
        )
    # A second run finds nothing left to do.
    again = retention.purge_tenant(runtime.system_sessions, runtime.tenant.id)
    assert again.conversations == 0


def test_delete_mode_removes_old_conversations(client: TestClient, runtime: Runtime) -> None:
    _chat(client, "u-1", f"我的电话{PHONE}")
    # A trusted start (the operator's own server): u-1 is unknown to the (empty) demo
    # operator, so the deposit flow keeps a kefu ticket.
    conv = runtime.conversations.start(language="zh", customer_external_id="u-1")
    runtime.conversations.post(conv.id, "押金怎么退")
    with runtime.system_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
    _age(runtime, 10)
    _policy(runtime, 7, "delete")
    result = retention.purge_tenant(runtime.system_sessions, runtime.tenant.id, batch=1)
    assert result.conversations == 2 and result.messages >= 4
    assert _counts(runtime) == (0, 0, 0)
    with runtime.system_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 0


def test_no_policy_keeps_everything(client: TestClient, runtime: Runtime) -> None:
    _chat(client, "u-1", "hi")
    _age(runtime, 4000)
    result = retention.purge_tenant(runtime.system_sessions, runtime.tenant.id)
    assert result.skipped and _counts(runtime)[0] == 1


def test_bad_policy_is_refused(runtime: Runtime) -> None:
    with pytest.raises(Exception, match="days"):
        _policy(runtime, 0, "delete")
    with pytest.raises(Exception, match="mode"):
        _policy(runtime, 5, "shred")


def test_export_and_erase_one_customer(client: TestClient, runtime: Runtime) -> None:
    _chat(client, "rider-42", f"我的电话{PHONE}，押金怎么退？")
    _chat(client, "someone-else", "你好")
    tid = runtime.tenant.id
    with runtime.sessions_for(tid)() as session:
        cid = retention.find_customer(session, tid, "rider-42", runtime.settings)
        data = retention.export_customer(session, tid, cid)
    assert data["customer"]["external_id"] == "rider-42"
    assert data["customer"]["display_name"] == "王小明"
    texts = [m["text"] for c in data["conversations"] for m in c["messages"]]
    assert any(PHONE in t for t in texts)
    assert any("understood_as" in m for c in data["conversations"] for m in c["messages"])
    before = _counts(runtime)
    with runtime.sessions_for(tid).begin() as session:
        counts = retention.erase_customer(session, tid, cid)
    assert counts["conversations"] == 1
    assert _counts(runtime) == before  # rows stay for analytics
    with runtime.sessions_for(tid)() as session:
        gone = retention.export_customer(session, tid, cid)
        assert gone["customer"]["external_id"] is None
        assert all(
            m["text"] == retention.ERASED for c in gone["conversations"] for m in c["messages"]
        )
        with pytest.raises(Exception, match="no customer"):
            retention.find_customer(session, tid, "rider-42", runtime.settings)
    # The other customer is untouched.
    with runtime.sessions_for(tid)() as session:
        other = retention.find_customer(session, tid, "someone-else", runtime.settings)
        kept = retention.export_customer(session, tid, other)
        assert kept["conversations"][0]["messages"][0]["text"] == "你好"


def test_audit_log_is_append_only(runtime: Runtime) -> None:
    from kefu.privacy import audit
    from kefu.privacy.audit import Actor

    with runtime.system_sessions.begin() as session:
        audit.record(session, Actor.cli(), "test.event", tenant_id=runtime.tenant.id)
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(Exception, match="append-only"), runtime.engine.begin() as conn:
            conn.execute(text(statement))
    with runtime.system_sessions() as session:
        assert session.scalars(select(AuditEvent.action)).all() == ["test.event"]


def test_the_server_applies_retention_on_a_schedule(client: TestClient, runtime: Runtime) -> None:
    _chat(client, "u-9", f"电话{PHONE}")
    _age(runtime, 40)
    _policy(runtime, 30, "anonymise")
    jobs = runtime.jobs  # the server's (the client's app started them)
    assert jobs is not None
    assert "retention.purge" in jobs.schedule.tick()  # what the schedule's thread does
    jobs.queue.join(30)
    with runtime.system_sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.customer_id.is_(None))
            )
            == 1
        )


def test_retention_reaches_the_analytics_rollups(client: TestClient, runtime: Runtime) -> None:
    """Anonymising keeps the counts but drops the masked words of unanswered questions and
    the customer link from the rollups, and a later full refresh leaves those facts alone (it
    would recompute them from stripped events); deleting removes their rows too."""
    from zoneinfo import ZoneInfo

    from kefu.analytics.models import ConversationFact, TurnFact
    from kefu.analytics.refresh import refresh

    tz = ZoneInfo(runtime.settings.timezone)
    _chat(client, "u-1", "天上有几颗星星，我的电话13812345678")
    refresh(runtime.engine, runtime.tenant.id, tz)
    with runtime.system_sessions() as session:
        (turn,) = session.scalars(select(TurnFact)).all()
        assert turn.gap and turn.text_masked and PHONE not in turn.text_masked
    _age(runtime, 40)
    _policy(runtime, 30, "anonymise")
    retention.purge_tenant(runtime.system_sessions, runtime.tenant.id)
    refresh(runtime.engine, runtime.tenant.id, tz, full=True)
    with runtime.system_sessions() as session:
        (turn,) = session.scalars(select(TurnFact)).all()
        (fact,) = session.scalars(select(ConversationFact)).all()
        assert turn.gap and turn.text_masked is None and fact.customer_id is None
        assert fact.turns == 1 and fact.fallbacks + fact.clarifications == 1
        # Frozen as computed before: retention closing it is no resolution, even after --full.
        assert not fact.closed and not fact.automated
    _policy(runtime, 30, "delete")
    retention.purge_tenant(runtime.system_sessions, runtime.tenant.id)
    with runtime.system_sessions() as session:
        assert session.scalar(select(func.count()).select_from(ConversationFact)) == 0
        assert session.scalar(select(func.count()).select_from(TurnFact)) == 0
