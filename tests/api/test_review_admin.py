"""Conversation review and intents in the admin API, on SQLite and PostgreSQL: the turns kefu
handled poorly are found by their problem, PII-masked; a verdict naming an FAQ entry makes the
same question answered from the next message; one naming an intent becomes training data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kefu.accounts.permissions import AccountRole
from kefu.handoff.models import Rating
from kefu.knowledge.intent_store import training_examples
from kefu.runtime import Runtime
from tests.api.test_knowledge_admin import Admin
from tests.conftest import start
from tests.handoff.test_live import make_account, say

UNKNOWN = "安全帽去哪儿拿"


@pytest.fixture
def admin(client: TestClient, runtime: Runtime) -> Iterator[Admin]:
    make_account(runtime, "laowang", AccountRole.ADMIN)
    with TestClient(client.app) as own:
        yield Admin(own, "laowang")


def review(admin: Admin, query: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = admin.admin("GET", "/review?" + query)["items"]
    return items


def test_a_fallback_assigned_to_an_entry_is_answered_next_time(
    client: TestClient, runtime: Runtime, admin: Admin
) -> None:
    conv, headers = start(client, language="zh")
    assert say(client, conv, headers, UNKNOWN)["replies"]
    say(client, conv, headers, "押金怎么退")
    fallbacks = review(admin, "filter=fallback")
    assert [i["text"] for i in fallbacks] == [UNKNOWN]
    turn = fallbacks[0]
    assert turn["decision"] == "fallback" and turn["reply"] and turn["review"] is None
    assert "fallback" in turn["tags"]

    marked = admin.admin("POST", f"/review/{turn['turn_id']}", {"entry_id": "bike.helmet"})
    assert marked["review"]["entry_id"] == "bike.helmet"
    assert marked["review"]["by_name"] == "laowang"
    assert review(admin, "filter=fallback") == []  # reviewed ones are hidden by default
    assert [i["turn_id"] for i in review(admin, "filter=fallback&reviewed=true")] == [
        turn["turn_id"]
    ]
    entry = admin.admin("GET", "/knowledge/bike.helmet")
    assert UNKNOWN in entry["similar"]["zh"]
    assert admin.admin("GET", "/knowledge/bike.helmet/history")[0]["action"] == "review"

    again, headers2 = start(client, language="zh")
    answer = say(client, again, headers2, UNKNOWN)
    events = review(admin, "reviewed=all&limit=1")
    assert events[0]["decision"] == "answer" and events[0]["faq_entry_id"] == "bike.helmet"
    assert answer["replies"][0]["text"]


def test_an_intent_verdict_becomes_training_data_with_pii_masked(
    client: TestClient, runtime: Runtime, admin: Admin
) -> None:
    conv, headers = start(client, language="zh")
    say(client, conv, headers, "我手机13812345678的车子一直扣钱怎么回事")
    turn = review(admin, "reviewed=all&limit=1")[0]
    assert "13812345678" not in turn["text"]
    admin.admin("POST", f"/review/{turn['turn_id']}", {"intent": "bike.refund_ride"})
    with runtime.sessions() as session:
        examples = training_examples(session, runtime.tenant.id)
    reviewed = [t for t, label in examples if label == "bike.refund_ride" and "扣钱" in t]
    assert reviewed and "13812345678" not in reviewed[0]
    counts = {i["name"]: i["reviewed"] for i in admin.admin("GET", "/intents")}
    assert counts["bike.refund_ride"] == 1


def test_filters_find_negative_handoff_and_low_rated_turns(
    client: TestClient, runtime: Runtime, admin: Admin
) -> None:
    conv, headers = start(client, language="zh")
    say(client, conv, headers, "押金怎么退")
    say(client, conv, headers, "转人工")
    angry, h2 = start(client, language="zh")
    say(client, angry, h2, "你们的车太烂了，气死我了，垃圾！")
    with runtime.sessions.begin() as session:
        session.add(Rating(tenant_id=runtime.tenant.id, conversation_id=uuid.UUID(angry), score=1))
    handoffs = review(admin, "filter=handoff")
    assert [i["text"] for i in handoffs] == ["转人工"] and handoffs[0]["handoff"]
    negative = review(admin, "filter=negative")
    assert any("气死我了" in i["text"] for i in negative)
    low = review(admin, "filter=low_rating")
    assert {i["conversation_id"] for i in low} == {angry} and low[0]["rating"] == 1
    both = review(admin, "filter=handoff&filter=low_rating")
    assert len(both) == len(handoffs) + len(low)
    assert len(review(admin, "")) == 3
    assert admin.admin("GET", "/review?filter=nope", expect=422)


def test_bad_verdicts_get_clear_errors(client: TestClient, admin: Admin) -> None:
    conv, headers = start(client, language="zh")
    say(client, conv, headers, UNKNOWN)
    turn = review(admin, "filter=fallback")[0]["turn_id"]
    assert admin.admin("POST", f"/review/{turn}", {}, expect=422)
    assert admin.admin("POST", "/review/999999", {"intent": "bike.unlock"}, expect=404)
    error = admin.admin("POST", f"/review/{turn}", {"intent": "no.such"}, expect=422)["error"]
    assert "no.such" in error["message"]
    admin.admin("POST", f"/review/{turn}", {"entry_id": "no.such"}, expect=404)
    assert review(admin, "filter=fallback")[0]["review"] is None  # nothing half-stored


def test_intents_are_edited_and_flow_intents_kept(admin: Admin) -> None:
    listed = {i["name"]: i for i in admin.admin("GET", "/intents")}
    assert "out_of_scope" in listed and listed["bike.report_fault"]["flow"]
    created = admin.admin(
        "POST",
        "/intents",
        {"name": "bike.helmet", "examples": {"zh": ["头盔在哪借", "头盔在哪借", " 有头盔吗 "]}},
        expect=201,
    )
    assert created["examples"]["zh"] == ["头盔在哪借", "有头盔吗"] and created["flow"] is None
    updated = admin.admin("PUT", "/intents/bike.helmet", {"examples": {"en": ["helmet?"]}})
    assert updated["examples"] == {"zh": [], "en": ["helmet?"]}
    admin.admin("POST", "/intents", {"name": "bike.helmet", "examples": {"zh": ["x"]}}, expect=409)
    admin.admin("POST", "/intents", {"name": "Bad Name", "examples": {"zh": ["x"]}}, expect=422)
    admin.admin("POST", "/intents", {"name": "a.b", "examples": {}}, expect=422)
    flow = admin.admin("DELETE", "/intents/bike.report_fault", expect=409)["error"]
    assert flow["code"] == "intent_in_use"
    admin.admin("DELETE", "/intents/bike.helmet", expect=204)
    admin.admin("DELETE", "/intents/bike.helmet", expect=404)


def test_a_changed_verdict_moves_the_words_and_their_language_is_their_own(
    client: TestClient, admin: Admin
) -> None:
    conv, headers = start(client, language="zh")
    say(client, conv, headers, UNKNOWN)
    say(client, conv, headers, "where do I grab the scooter lid")  # English, in a zh chat
    zh_turn, en_turn = sorted(review(admin, "reviewed=all&limit=2"), key=lambda i: i["turn_id"])
    admin.admin("POST", f"/review/{zh_turn['turn_id']}", {"entry_id": "bike.helmet"})
    admin.admin("POST", f"/review/{zh_turn['turn_id']}", {"entry_id": "bike.parking_zone"})
    assert UNKNOWN not in admin.admin("GET", "/knowledge/bike.helmet")["similar"]["zh"]
    assert UNKNOWN in admin.admin("GET", "/knowledge/bike.parking_zone")["similar"]["zh"]
    admin.admin("POST", f"/review/{en_turn['turn_id']}", {"entry_id": "bike.helmet"})
    helmet = admin.admin("GET", "/knowledge/bike.helmet")["similar"]
    assert "where do I grab the scooter lid" in helmet["en"]
    assert "where do I grab the scooter lid" not in helmet["zh"]
