"""The analytics API on SQLite and PostgreSQL, over a small hand-made day: an FAQ answer closed
by the customer, a question kefu could not answer, a complaint handed to an agent who replies
and closes and gets rated, and a customer who comes back within 24 h. Every figure is checked
exactly; tables come back as JSON and as CSV; bad filters get clear 4xx errors."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from kefu.accounts.permissions import AccountRole
from kefu.runtime import Runtime
from tests.conftest import start
from tests.handoff.test_live import Agent, make_account, say


class Analyst(Agent):
    def stats(self, path: str, expect: int = 200, **params: Any) -> Any:
        res = self.client.get("/v1/analytics" + path, params=params, headers=self.headers)
        assert res.status_code == expect, res.text
        return res.json() if "json" in res.headers.get("content-type", "") else res.text


@pytest.fixture
def analyst(client: TestClient, runtime: Runtime) -> Iterator[Analyst]:
    make_account(runtime, "xiaozhao", AccountRole.ANALYST)
    with TestClient(client.app) as own:
        yield Analyst(own, "xiaozhao")


@pytest.fixture
def day(client: TestClient, runtime: Runtime, analyst: Analyst) -> dict[str, str]:
    make_account(runtime, "xiaoli")
    with TestClient(client.app) as own:
        li = Agent(own, "xiaoli")
        li.online()
        faq, auth = start(client, language="zh", customer={"external_id": "u-1"})
        say(client, faq, auth, "押金怎么退？")
        assert client.post(f"/v1/conversations/{faq}/close", headers=auth).status_code == 200
        back, auth2 = start(client, language="zh", customer={"external_id": "u-1"})
        say(client, back, auth2, "押金还没到账")
        unknown, auth3 = start(client, language="en", channel="app")
        say(client, unknown, auth3, "Can I bring my parrot on the scooter?")
        human, auth4 = start(client, language="zh")
        assert say(client, human, auth4, "我要投诉，转人工")["status"] == "waiting_agent"
        li.call("POST", f"/conversations/{human}/messages", {"text": "您好，请讲"}, 201)
        li.call("POST", f"/conversations/{human}/close")
        rated = client.post(f"/v1/conversations/{human}/rating", json={"score": 4}, headers=auth4)
        assert rated.status_code == 201
    refreshed = analyst.client.post("/v1/analytics/refresh", headers=analyst.headers)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["conversations"] == 4
    return {"faq": faq, "back": back, "unknown": unknown, "human": human}


def today(runtime: Runtime) -> str:
    return datetime.now(ZoneInfo(runtime.settings.timezone)).date().isoformat()


def test_summary_counts_the_day_exactly(
    analyst: Analyst, day: dict[str, str], runtime: Runtime
) -> None:
    s = analyst.stats("/summary")
    assert s["conversations"] == 4
    assert s["customer_messages"] == 4
    # The FAQ chat was closed, but its customer came back within 24 h: not resolved.
    assert s["automated_resolution_rate"] == 0.0
    assert s["first_contact_resolution_rate"] == 0.25  # the agent's chat
    assert s["handoff_rate"] == 0.25
    assert s["satisfaction"] == {
        "average": 4.0,
        "count": 1,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0},
    }
    assert s["agent_first_response_ms"]["avg"] is not None
    assert s["bot_first_response_ms"]["p50"] is not None
    assert s["filters"]["until"] == today(runtime)
    assert s["refreshed_at"] is not None

    by_lang = analyst.stats("/summary", language="en")
    assert by_lang["conversations"] == 1 and by_lang["fallback_rate"] == 1.0
    assert analyst.stats("/summary", channel="app")["conversations"] == 1
    assert analyst.stats("/summary", skill="bike")["conversations"] == 2


def test_tables_drill_down_and_csv(analyst: Analyst, day: dict[str, str], runtime: Runtime) -> None:
    volume = analyst.stats("/volume", by="day")
    assert volume["columns"] == ["bucket", "conversations", "messages"]
    assert volume["rows"][-1]["bucket"] == today(runtime)
    assert sum(r["conversations"] for r in volume["rows"]) == 4
    hours = analyst.stats("/volume", by="hour")["rows"]
    assert len(hours) == 24 and sum(r["conversations"] for r in hours) == 4

    reasons = analyst.stats("/handoff-reasons")["rows"]
    assert reasons == [{"reason": "human_request", "conversations": 1, "share": 1.0}]
    drilled = analyst.stats("/conversations", reason="human_request")
    assert drilled["total"] == 1 and drilled["rows"][0]["id"] == day["human"]
    assert analyst.stats("/conversations", score=4)["rows"][0]["id"] == day["human"]
    faqs = analyst.stats("/intents", kind="faq")["rows"]
    assert {r["key"]: r["turns"] for r in faqs} == {
        "bike.deposit_refund": 1,
        "bike.deposit_not_received": 1,
    }
    behind = analyst.stats("/conversations", faq="bike.deposit_refund")["rows"]
    assert [r["id"] for r in behind] == [day["faq"]]
    assert analyst.stats("/conversations", decision="fallback", language="en")["total"] == 1

    sheet = analyst.stats("/handoff-reasons", format="csv")
    assert sheet.startswith("\ufeffreason,conversations,share")
    rows = list(csv.reader(io.StringIO(sheet.lstrip("\ufeff"))))
    assert rows[1] == ["human_request", "1", "1.0"]
    flat = analyst.stats("/summary", format="csv")
    assert "satisfaction.average,4.0" in flat
    trend = analyst.stats("/trend")["rows"][-1]
    assert trend["conversations"] == 4 and trend["satisfaction"] == 4.0


def test_bad_filters_and_permissions_are_refused(
    client: TestClient, runtime: Runtime, analyst: Analyst
) -> None:
    bad = analyst.stats("/summary", expect=422, since="2026-05-02", until="2026-05-01")
    assert bad["error"]["code"] == "invalid_range"
    assert analyst.stats("/summary", expect=422, since="yesterday")["error"]
    assert analyst.stats("/volume", expect=422, by="minute")["error"]
    assert analyst.stats("/summary", expect=422, skill="<script>")["error"]
    assert analyst.stats("/conversations", expect=422, hour=24)["error"]
    assert analyst.stats("/flow-steps", expect=422)["error"]
    assert analyst.stats("/summary", expect=422, since="2020-01-01", until="2026-01-01")
    empty = analyst.stats("/summary", since="2020-01-01", until="2020-01-31")
    assert empty["conversations"] == 0 and empty["handoff_rate"] is None
    assert client.get("/v1/analytics/summary").status_code == 401
    make_account(runtime, "xiaoli")
    with TestClient(client.app) as own:
        agent = Agent(own, "xiaoli")
        res = own.get("/v1/analytics/summary", headers=agent.headers)
        assert res.status_code == 403 and res.json()["error"]["code"] == "forbidden"


def test_unanswered_questions_come_back_as_a_gap_cluster_with_a_draft_entry(
    client: TestClient, runtime: Runtime, analyst: Analyst
) -> None:
    asked = ["学生有折扣吗", "有没有学生折扣", "学生能打折吗", "学生骑车便宜点吗"]
    for text in asked:
        conv, auth = start(client, language="zh")
        say(client, conv, auth, text)
    analyst.client.post("/v1/analytics/refresh", headers=analyst.headers)
    found = analyst.stats("/gaps")
    assert found["columns"][:3] == ["id", "label", "size"]
    (gap,) = [row for row in found["rows"] if set(row["questions"]) & set(asked)]
    assert (
        gap["size"] == 4
        and gap["conversations"] == 4
        and gap["trend"]
        in (
            "rising",
            "steady",
            "falling",
        )
    )
    assert "turn_ids" not in gap and len(gap["sample_conversations"]) == 4
    draft = gap["draft"]
    assert "knowledge-gap" in draft["tags"] and draft["enabled"] is False
    assert draft["question"]["zh"] in asked
    assert set(draft["similar"]["zh"]) | {draft["question"]["zh"]} == set(asked)
    assert analyst.stats("/gaps")["rows"] == found["rows"]  # cached until the next refresh
    sheet = analyst.stats("/gaps", format="csv")
    assert (
        sheet.splitlines()[0]
        == "\ufeffid,label,size,conversations,trend,first_day,last_day,questions"
    )
