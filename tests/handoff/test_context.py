"""What the agent gets beside the transcript (the operator's profile and recent rides, FAQ
suggestions for the latest message) and the tenant's rules taking effect: business hours turn a
handoff into a message left for later, stored as a ticket."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.accounts.permissions import AccountRole
from kefu.backends.demo.seed import seed
from kefu.conversations.models import Ticket
from kefu.runtime import Runtime
from tests.conftest import start
from tests.handoff.test_live import Agent, make_account, say
from tests.handoff.test_live import agents as agents


def test_the_agent_sees_the_signed_customers_profile_rides_and_suggestions(
    client: TestClient, runtime: Runtime, agents: dict[str, Agent]
) -> None:
    li = agents["xiaoli"]
    li.online()
    seed(runtime.engine, customers=25, bikes=150)
    conv = runtime.conversations.start(language="zh", customer_external_id="c-1001")
    runtime.conversations.post(conv.id, "转人工")
    runtime.conversations.post(conv.id, "押金怎么退")  # while the agent has it: the bot is quiet
    view = li.get(f"/conversations/{conv.id}")
    profile = view["context"]["profile"]
    assert profile["tier"] and profile["phone"] and "12345678" not in profile["phone"]
    rides = view["context"]["recent"]["rides"]
    assert rides and all(r["ride_id"].endswith("****") for r in rides)  # last four: a factor
    suggestions = li.get(f"/conversations/{conv.id}/suggestions")
    assert suggestions and "押金" in suggestions[0]["question"] + suggestions[0]["text"]
    # An anonymous visitor: no profile, and no backend call.
    other, other_auth = start(client, language="zh")
    say(client, other, other_auth, "转人工")
    assert li.get(f"/conversations/{other}")["context"]["profile"] is None


def test_outside_business_hours_a_handoff_becomes_a_message_left_as_a_ticket(
    client: TestClient, runtime: Runtime, agents: dict[str, Agent]
) -> None:
    boss = agents["boss"]
    # Open one minute a week, at a time that isn't now: closed.
    now = datetime.now(UTC)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(now.weekday() + 3) % 7]
    rules = {"business_hours": {"timezone": "UTC", "weekly": {day: ["03:00-03:01"]}}}
    put = boss.client.put("/v1/admin/escalation", json=rules, headers=boss.headers)
    assert put.status_code == 403  # a supervisor has no settings:manage
    make_account(runtime, "admin", AccountRole.ADMIN)
    admin = Agent(TestClient(client.app), "admin")
    put = admin.client.put("/v1/admin/escalation", json=rules, headers=admin.headers)
    assert put.status_code == 200, put.text
    bad = admin.client.put(
        "/v1/admin/escalation", json={"anger_turns": 5, "anger_window": 3}, headers=admin.headers
    )
    assert bad.status_code == 422 and "anger_window" in bad.text
    conv, auth = start(client, language="zh")
    turn = say(client, conv, auth, "转人工")
    assert turn["status"] == "bot"  # nobody is queued for a person who isn't there
    left = say(client, conv, auth, "B123456 的车锁坏了，明天早上联系我")
    assert "KF" in left["replies"][-1]["text"]
    with runtime.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert (ticket.conversation_id, ticket.reason) == (uuid.UUID(conv), "after_hours")
        assert "B123456" not in str(ticket.detail)  # the text stays in the encrypted message
    # Safety is never deferred.
    urgent, urgent_auth = start(client, language="zh")
    assert say(client, urgent, urgent_auth, "我被车撞了，腿在流血")["status"] == "waiting_agent"
