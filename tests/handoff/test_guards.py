"""Who may serve, how many chats at once, and what an agent may see or do: the guards around
live chat (deactivated accounts, races for a seat, absent colleagues, reused ids, canned
templates, ratings mid-chat)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from kefu.accounts.models import Account
from kefu.errors import Conflict
from kefu.handoff.models import Handoff, HandoffStatus
from kefu.runtime import Runtime
from tests.conftest import start
from tests.handoff.test_live import Agent, make_account, say
from tests.handoff.test_live import agents as agents


def test_a_deactivated_agent_gets_no_chats_and_loses_the_ones_they_had(
    client: TestClient, runtime: Runtime, agents: dict[str, Agent]
) -> None:
    li, wang = agents["xiaoli"], agents["xiaowang"]
    li.online()
    first, first_auth = start(client, language="zh")
    say(client, first, first_auth, "转人工")
    assert [i["conversation_id"] for i in li.get("/inbox?view=mine")] == [first]
    with runtime.system_sessions.begin() as session:
        session.execute(update(Account).where(Account.id == li.id).values(active=False))
    second, second_auth = start(client, language="zh")
    say(client, second, second_auth, "转人工")  # routing runs: li's chat goes back too
    where = client.get(f"/v1/conversations/{second}/queue", headers=second_auth).json()
    assert where["status"] == "waiting_agent" and where["agents_online"] == 0
    assert client.get(f"/v1/conversations/{first}", headers=first_auth).json()["status"] == (
        "waiting_agent"
    )
    wang.online()  # the first in line comes first
    assert [i["conversation_id"] for i in wang.get("/inbox?view=mine")] == [first, second]


def test_parallel_takes_never_exceed_capacity(
    client: TestClient, runtime: Runtime, agents: dict[str, Agent]
) -> None:
    boss, li = agents["boss"], agents["xiaoli"]
    boss.call("PUT", f"/agents/{li.id}", {"capacity": 1})
    convs = []
    for _ in range(5):
        conv, auth = start(client, language="zh")
        say(client, conv, auth, "转人工")
        convs.append(conv)

    def take(conv: str) -> str:
        try:
            runtime.handoffs.take(li.id, uuid.UUID(conv))
            return "ok"
        except Conflict as exc:
            return exc.code

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(take, convs))
    assert sorted(results) == ["agent_full"] * 4 + ["ok"]
    with runtime.sessions() as session:
        assigned = session.scalars(
            select(Handoff).where(Handoff.status == HandoffStatus.ASSIGNED)
        ).all()
        assert [h.agent_id for h in assigned] == [li.id]


def test_transfers_go_only_to_present_colleagues_with_a_free_seat(
    client: TestClient, agents: dict[str, Agent]
) -> None:
    li, wang, boss = agents["xiaoli"], agents["xiaowang"], agents["boss"]
    li.online()
    conv, auth = start(client, language="zh")
    say(client, conv, auth, "转人工")
    wang.call("PUT", "/me/status", {"status": "away"})
    res = li.call("POST", f"/conversations/{conv}/transfer", {"agent_id": wang.id}, 409)
    assert res["error"]["code"] == "agent_offline"
    wang.online()
    boss.call("PUT", f"/agents/{wang.id}", {"capacity": 1})
    other, other_auth = start(client, language="zh")
    say(client, other, other_auth, "转人工")
    wang.call("POST", f"/conversations/{other}/take")  # wang is now full
    res = li.call("POST", f"/conversations/{conv}/transfer", {"agent_id": wang.id}, 409)
    assert res["error"]["code"] == "agent_full"
    # Going offline hands the chats back to the queue (and to whoever is free).
    li.call("PUT", "/me/status", {"status": "offline"})
    assert client.get(f"/v1/conversations/{conv}", headers=auth).json()["status"] == (
        "waiting_agent"
    )
    assert li.get("/inbox?view=mine") == []


def test_a_reused_client_message_id_never_returns_someone_elses_message(
    client: TestClient, agents: dict[str, Agent]
) -> None:
    li = agents["xiaoli"]
    li.online()
    conv, auth = start(client, language="zh")
    res = client.post(
        f"/v1/conversations/{conv}/messages",
        json={"text": "转人工，我的手机13812345678", "client_message_id": "1"},
        headers=auth,
    )
    assert res.status_code == 201
    clash = li.call(
        "POST", f"/conversations/{conv}/messages", {"text": "hi", "client_message_id": "1"}, 409
    )
    assert clash["error"]["code"] == "client_message_id_taken"
    assert "13812345678" not in str(clash)
    body = {"text": "您好", "client_message_id": "a-1"}
    first = li.call("POST", f"/conversations/{conv}/messages", body, 201)
    again = li.call("POST", f"/conversations/{conv}/messages", body, 201)
    assert first["seq"] == again["seq"]  # a retry stores nothing new


def test_canned_responses_mask_the_name_for_others_and_refuse_heavy_templates(
    client: TestClient, runtime: Runtime, agents: dict[str, Agent]
) -> None:
    li, wang, boss = agents["xiaoli"], agents["xiaowang"], agents["boss"]
    li.online()
    res = client.post(
        "/v1/conversations", json={"language": "en", "customer": {"name": "Zhang Sanfeng"}}
    )
    conv, auth = res.json()["id"], {"Authorization": f"Bearer {res.json()['token']}"}
    say(client, conv, auth, "human")
    mine = li.get(f"/canned?conversation_id={conv}")
    assert any("Zhang Sanfeng" in c["text"] for c in mine)
    theirs = wang.get(f"/canned?conversation_id={conv}")
    assert not any("Zhang Sanfeng" in c["text"] for c in theirs)
    for text in (
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{{ 'x' * 2000000000 }}",
        "{{ customer_name.__class__ }}",
        "{{ secret }}",
    ):
        res = boss.call("POST", "/canned", {"title": "t", "language": "en", "text": text}, 422)
        assert res["error"]["code"] == "invalid_template"
    boss.call("POST", "/canned", {"title": "hi", "language": "en",
              "text": "Hi{% if customer_name %} {{ customer_name }}{% endif %}!"}, 201)  # fmt: skip


def test_rating_waits_for_the_end_of_the_chat(client: TestClient, agents: dict[str, Agent]) -> None:
    li = agents["xiaoli"]
    li.online()
    conv, auth = start(client, language="zh")
    say(client, conv, auth, "转人工")
    early = client.post(f"/v1/conversations/{conv}/rating", json={"score": 1}, headers=auth)
    assert early.status_code == 409 and early.json()["error"]["code"] == "chat_in_progress"
    li.call("POST", f"/conversations/{conv}/close")
    late = client.post(f"/v1/conversations/{conv}/rating", json={"score": 5}, headers=auth)
    assert late.status_code == 201


def test_out_of_range_ids_and_binary_frames_get_clear_errors(
    client: TestClient, runtime: Runtime, agents: dict[str, Agent]
) -> None:
    li, boss = agents["xiaoli"], agents["boss"]
    conv, auth = start(client, language="zh")
    say(client, conv, auth, "转人工")
    li.call("POST", f"/conversations/{conv}/take")
    huge = 2**40
    li.call("POST", f"/conversations/{conv}/transfer", {"agent_id": huge}, 422)
    boss.call("PUT", f"/agents/{huge}", {"capacity": 2}, 422)
    boss.call("DELETE", f"/canned/{huge}", None, 422)
    with li.client.websocket_connect("/v1/agent/ws") as ws:
        ws.send_bytes(b"\x00\x01")
        assert ws.receive_json()["error"]["code"] == "invalid_frame"
        ws.send_json({"type": "typing", "conversation_id": conv})  # li owns it: fine
        ws.send_json({"type": "watch", "conversation_id": "nope"})
        assert ws.receive_json()["error"]["code"] == "invalid_frame"


def test_only_the_owner_types_to_the_customer(
    client: TestClient, runtime: Runtime, agents: dict[str, Agent]
) -> None:
    make_account(runtime, "stranger")
    stranger = Agent(TestClient(client.app), "stranger")
    conv, auth = start(client, language="zh")
    token = auth["Authorization"].split()[1]
    with (
        client.websocket_connect(f"/v1/conversations/{conv}/ws?token={token}") as customer,
        stranger.client.websocket_connect("/v1/agent/ws") as ws,
    ):
        ws.send_json({"type": "typing", "conversation_id": conv})
        ws.send_json({"type": "watch", "conversation_id": "nope"})  # a frame to wait on
        ws.receive_json()
        customer.send_json({"text": "押金怎么退", "client_message_id": "m1"})
        frame = customer.receive_json()
        assert frame["type"] == "turn"  # no "agent is typing" came first


def test_identity_check_answers_are_hidden_from_agents(
    client: TestClient, agents: dict[str, Agent]
) -> None:
    li = agents["xiaoli"]
    li.online()
    conv, auth = start(client, language="zh")
    say(client, conv, auth, "转人工")
    say(client, conv, auth, "4821")  # the last four of an order, typed for a check
    say(client, conv, auth, "订单尾号4821")  # said in a sentence: PII masking's business
    texts = [m["text"] for m in li.get(f"/conversations/{conv}")["messages"]]
    assert "****" in texts and "4821" not in texts
    assert li.get("/inbox?view=mine")[0]["last_message"]["text"] != "4821"
