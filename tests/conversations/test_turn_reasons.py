"""Every decision is stored with its reason, and a backend failure's ticket is stored with the
turn (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select

from kefu.conversations.models import Ticket, TurnEvent
from kefu.runtime import Runtime


def test_turn_events_keep_the_policys_reason_and_tickets_are_stored(runtime: Runtime) -> None:
    service = runtime.conversations
    visitor = service.start(language="zh")
    service.post(visitor.id, "押金怎么退？")
    service.post(visitor.id, "asdfgh")
    # A trusted start for a customer the (empty) demo operator doesn't know: the deposit
    # flow can't load the account, so the customer is told and a kefu ticket is kept.
    known = service.start(language="zh", customer_external_id="u-404")
    failed = service.post(known.id, "押金怎么退？")
    assert "KF" in failed.replies[0].text
    with runtime.system_sessions() as session:
        events = session.scalars(select(TurnEvent).order_by(TurnEvent.id)).all()
        assert [e.reason for e in events] == ["faq", "fallback", "faq_flow"]
        assert events[2].understanding["dialogue"]["actions"][0]["error"] == "not_found"
        (ticket,) = session.scalars(select(Ticket)).all()
        assert ticket.conversation_id == known.id and ticket.reason == "backend_not_found"
        assert ticket.id in failed.replies[0].text
