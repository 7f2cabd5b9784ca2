"""Ratings and handoffs under retention and data-subject requests: a survey comment is the
customer's free text, so it is masked, erased or deleted with the transcript."""

from __future__ import annotations

from sqlalchemy import func, select

from kefu.handoff.models import Handoff, Rating
from kefu.privacy import retention
from kefu.runtime import Runtime
from tests.privacy.test_retention import PHONE, _age, _policy


def _rated_chat(runtime: Runtime, customer: str) -> None:
    conv = runtime.conversations.start(language="zh", customer_external_id=customer)
    runtime.conversations.post(conv.id, "转人工")
    runtime.conversations.close(conv.id)  # the customer gave up waiting, then rated
    runtime.handoffs.rate(conv.id, 2, f"太慢了，回电{PHONE}")


def test_anonymise_masks_comments_and_delete_removes_ratings_and_handoffs(
    runtime: Runtime,
) -> None:
    _rated_chat(runtime, "u-1")
    _age(runtime, 40)
    _policy(runtime, 30, "anonymise")
    retention.purge_tenant(runtime.system_sessions, runtime.tenant.id)
    with runtime.system_sessions() as session:
        rating = session.scalars(select(Rating)).one()
        assert rating.score == 2 and PHONE not in (rating.comment or "")
        assert "138****5678" in (rating.comment or "")
        assert session.scalar(select(func.count()).select_from(Handoff)) == 1  # analytics
    _policy(runtime, 30, "delete")
    retention.purge_tenant(runtime.system_sessions, runtime.tenant.id)
    with runtime.system_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Rating)) == 0
        assert session.scalar(select(func.count()).select_from(Handoff)) == 0


def test_export_includes_the_rating_and_erase_removes_the_comment(runtime: Runtime) -> None:
    _rated_chat(runtime, "u-2")
    with runtime.system_sessions.begin() as session:
        customer = retention.find_customer(session, runtime.tenant.id, "u-2", runtime.settings)
        exported = retention.export_customer(session, runtime.tenant.id, customer)
        assert exported["conversations"][0]["rating"] == {
            "score": 2,
            "comment": f"太慢了，回电{PHONE}",
        }
        retention.erase_customer(session, runtime.tenant.id, customer)
    with runtime.system_sessions() as session:
        assert PHONE not in (session.scalars(select(Rating)).one().comment or "")
