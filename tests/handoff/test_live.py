"""A live handoff end to end through the API, on SQLite and PostgreSQL: the bot queues the
customer, routing gives them to an online agent, the agent replies, the bot stays silent, the
agent hands back or closes, and the customer's rating is stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.accounts import service as accounts
from kefu.accounts.permissions import AccountRole
from kefu.handoff.models import Rating
from kefu.runtime import Runtime
from tests.conftest import start

PASSWORD = "correct horse battery"


class Agent:
    """A signed-in console account driving the agent API."""

    def __init__(self, client: TestClient, username: str) -> None:
        self.client = client
        res = client.post("/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert res.status_code == 200, res.text
        self.id = res.json()["id"]
        self.headers = {"X-CSRF-Token": res.json()["csrf_token"]}

    def get(self, path: str) -> Any:
        res = self.client.get("/v1/agent" + path, headers=self.headers)
        assert res.status_code == 200, res.text
        return res.json()

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        res = self.client.request(method, "/v1/agent" + path, json=body, headers=self.headers)
        assert res.status_code == expect, res.text
        return res.json() if res.content else None

    def online(self) -> None:
        self.call("PUT", "/me/status", {"status": "online"})


def make_account(runtime: Runtime, username: str, role: AccountRole = AccountRole.AGENT) -> None:
    with runtime.system_sessions.begin() as session:
        accounts.create_account(session, runtime.tenant.id, username, PASSWORD, role)


@pytest.fixture
def agents(client: TestClient, runtime: Runtime) -> Iterator[dict[str, Agent]]:
    for name in ("xiaoli", "xiaowang"):
        make_account(runtime, name)
    make_account(runtime, "boss", AccountRole.SUPERVISOR)
    # One TestClient per agent: each holds its own session cookie.
    with (
        TestClient(client.app) as one,
        TestClient(client.app) as two,
        TestClient(client.app) as boss,
    ):
        yield {
            "xiaoli": Agent(one, "xiaoli"),
            "xiaowang": Agent(two, "xiaowang"),
            "boss": Agent(boss, "boss"),
        }


def say(client: TestClient, conv: str, headers: dict[str, str], text: str) -> dict[str, Any]:
    res = client.post(f"/v1/conversations/{conv}/messages", json={"text": text}, headers=headers)
    assert res.status_code == 201, res.text
    data: dict[str, Any] = res.json()
    return data


def messages(client: TestClient, conv: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    res = client.get(f"/v1/conversations/{conv}/messages", headers=headers)
    assert res.status_code == 200, res.text
    found: list[dict[str, Any]] = res.json()["messages"]
    return found


def test_complaint_goes_to_an_agent_who_replies_and_closes_and_the_rating_is_stored(
    client: TestClient, runtime: Runtime, agents: dict[str, Agent]
) -> None:
    li = agents["xiaoli"]
    li.online()
    conv, auth = start(client, language="zh")
    turn = say(client, conv, auth, "我要投诉，转人工")
    assert turn["status"] == "waiting_agent"
    # Routing gave the chat to the only online agent at once.
    assert client.get(f"/v1/conversations/{conv}", headers=auth).json()["status"] == "with_agent"
    mine = li.get("/inbox?view=mine")
    assert [item["conversation_id"] for item in mine] == [conv]
    assert mine[0]["handoff"]["reason"] == "human_request"
    assert mine[0]["handoff"]["agent"]["id"] == li.id

    view = li.get(f"/conversations/{conv}")
    summary = view["context"]["summary"]
    assert summary["reason"] == "human_request"
    assert summary["tried"] and summary["sentiment"]
    assert view["messages"][0]["text"] == "我要投诉，转人工"
    assert view["messages"][-1]["role"] == "system"  # "人工客服 ... 已接入"

    sent = li.call("POST", f"/conversations/{conv}/messages", {"text": "您好，我是小李，请讲"}, 201)
    assert sent["role"] == "agent"
    seen = messages(client, conv, auth)
    assert seen[-1]["role"] == "agent" and seen[-1]["text"] == "您好，我是小李，请讲"

    # The bot says nothing while the agent owns the conversation.
    quiet = say(client, conv, auth, "押金怎么退")
    assert quiet["replies"] == []
    assert li.get(f"/conversations/{conv}")["messages"][-1]["text"] == "押金怎么退"

    closed = li.call("POST", f"/conversations/{conv}/close")
    assert closed["status"] == "closed"
    last = messages(client, conv, auth)[-1]
    assert last["role"] == "system" and last["payload"]["survey"] == {"scale": [1, 5]}
    assert client.get(f"/v1/conversations/{conv}", headers=auth).json()["status"] == "closed"

    rated = client.post(
        f"/v1/conversations/{conv}/rating", json={"score": 5, "comment": "很快"}, headers=auth
    )
    assert rated.status_code == 201, rated.text
    again = client.post(f"/v1/conversations/{conv}/rating", json={"score": 1}, headers=auth)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_rated"
    with runtime.sessions() as session:
        rating = session.scalars(select(Rating)).one()
        assert (rating.score, rating.comment, rating.agent_id) == (5, "很快", li.id)


def test_queue_waits_for_an_agent_in_priority_order(
    client: TestClient, agents: dict[str, Agent]
) -> None:
    li = agents["xiaoli"]
    normal, normal_auth = start(client, language="zh")
    say(client, normal, normal_auth, "转人工")
    urgent, urgent_auth = start(client, language="zh")
    say(client, urgent, urgent_auth, "我被车撞了，腿在流血")
    queue = li.get("/inbox?view=queue")
    assert [item["conversation_id"] for item in queue] == [urgent, normal]
    assert queue[0]["handoff"]["priority"] == "urgent"
    where = client.get(f"/v1/conversations/{normal}/queue", headers=normal_auth).json()
    # Nobody online: a place in the queue, but no made-up wait.
    assert where == {
        "status": "waiting_agent",
        "position": 2,
        "wait_seconds": None,
        "agents_online": 0,
    }
    li.call("PUT", f"/agents/{li.id}", {"capacity": 1}, expect=403)  # agents can't
    agents["boss"].call("PUT", f"/agents/{li.id}", {"capacity": 1})
    li.online()
    # Capacity 1: the urgent one first; the other keeps waiting, now first in line.
    assert [i["conversation_id"] for i in li.get("/inbox?view=mine")] == [urgent]
    where = client.get(f"/v1/conversations/{normal}/queue", headers=normal_auth).json()
    assert where["position"] == 1 and where["agents_online"] == 1
    li.call("POST", f"/conversations/{urgent}/close")
    # The freed seat goes to the next in line.
    assert [i["conversation_id"] for i in li.get("/inbox?view=mine")] == [normal]
    where = client.get(f"/v1/conversations/{normal}/queue", headers=normal_auth).json()
    assert where["position"] is None


def test_hand_back_lets_the_bot_answer_again(client: TestClient, agents: dict[str, Agent]) -> None:
    li = agents["xiaoli"]
    li.online()
    conv, auth = start(client, language="zh")
    say(client, conv, auth, "人工客服")
    back = li.call("POST", f"/conversations/{conv}/handback")
    assert back["status"] == "returned"
    assert client.get(f"/v1/conversations/{conv}", headers=auth).json()["status"] == "bot"
    assert say(client, conv, auth, "押金怎么退")["replies"]  # the bot answers again
    li.call("POST", f"/conversations/{conv}/handback", expect=409)


def test_take_over_from_the_bot_transfer_and_ownership(
    client: TestClient, agents: dict[str, Agent]
) -> None:
    li, wang, boss = agents["xiaoli"], agents["xiaowang"], agents["boss"]
    conv, auth = start(client, language="zh")
    say(client, conv, auth, "押金怎么退")
    wang.online()
    taken = li.call("POST", f"/conversations/{conv}/take")
    assert taken["reason"] == "agent_takeover" and taken["agent"]["id"] == li.id
    # Another agent may not reply, take or close it.
    wang.call("POST", f"/conversations/{conv}/messages", {"text": "hi"}, expect=409)
    wang.call("POST", f"/conversations/{conv}/take", expect=409)
    wang.call("POST", f"/conversations/{conv}/close", expect=409)
    moved = li.call("POST", f"/conversations/{conv}/transfer", {"agent_id": wang.id})
    assert moved["agent"]["id"] == wang.id
    wang.call("POST", f"/conversations/{conv}/messages", {"text": "我来处理"}, 201)
    li.call("POST", f"/conversations/{conv}/messages", {"text": "x"}, expect=409)
    # A transfer to a team waits in the queue for an agent of that team.
    queued = wang.call("POST", f"/conversations/{conv}/transfer", {"team": "lodging-desk"})
    assert queued["status"] == "queued" and queued["team"] == "lodging-desk"
    boss.call("PUT", f"/agents/{li.id}", {"teams": ["lodging-desk"]})
    li.online()
    assert [i["conversation_id"] for i in li.get("/inbox?view=mine")] == [conv]
    # A supervisor may take over a chat someone else owns.
    assert boss.call("POST", f"/conversations/{conv}/take")["agent"]["id"] == boss.id


def test_bad_requests_get_clear_errors(client: TestClient, agents: dict[str, Agent]) -> None:
    li = agents["xiaoli"]
    conv, auth = start(client, language="zh")
    li.call("POST", f"/conversations/{conv}/close", expect=409)  # nobody is handling it
    li.call("POST", "/conversations/not-a-uuid/take", expect=404)
    li.call("PUT", "/me/status", {"status": "asleep"}, expect=422)
    li.call("POST", f"/conversations/{conv}/transfer", {"team": "x", "agent_id": 1}, expect=422)
    res = client.post(f"/v1/conversations/{conv}/rating", json={"score": 6}, headers=auth)
    assert res.status_code == 422
    res = client.post(f"/v1/conversations/{conv}/rating", json={"score": 4})
    assert res.status_code == 401


def test_an_online_agent_who_left_gets_no_new_chats_until_seen_again(
    client: TestClient, runtime: Runtime, agents: dict[str, Agent]
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from kefu.db.base import utcnow
    from kefu.handoff.models import Agent as AgentRow
    from kefu.handoff.routing import PRESENCE

    li = agents["xiaoli"]
    li.online()
    with runtime.sessions.begin() as session:  # closed the laptop without signing out
        session.execute(update(AgentRow).values(seen_at=utcnow() - PRESENCE - timedelta(seconds=1)))
    conv, auth = start(client, language="zh")
    say(client, conv, auth, "转人工")
    assert li.get("/inbox?view=mine") == []
    where = client.get(f"/v1/conversations/{conv}/queue", headers=auth).json()
    assert where["agents_online"] == 0
    runtime.handoffs.touch(li.id)  # the console's socket reconnects
    assert [i["conversation_id"] for i in li.get("/inbox?view=mine")] == [conv]


def test_a_waiting_chat_is_taken_before_it_is_handed_back_or_closed(
    client: TestClient, agents: dict[str, Agent]
) -> None:
    li, boss = agents["xiaoli"], agents["boss"]
    # Every account that may serve customers is in the transfer picker, console opened or not.
    names = {a["name"] for a in li.get("/agents")}
    assert {"xiaoli", "xiaowang", "boss"} <= names
    conv, auth = start(client, language="zh")
    say(client, conv, auth, "转人工")  # nobody online: queued
    li.call("POST", f"/conversations/{conv}/handback", expect=409)
    li.call("POST", f"/conversations/{conv}/close", expect=409)
    assert boss.call("POST", f"/conversations/{conv}/close")["status"] == "closed"  # triage
