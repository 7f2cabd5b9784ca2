"""Live frames in one process (the in-process bus): the customer's socket gets the agent's
messages, the agent's socket gets the inbox and the customer's messages (masked), typing goes
both ways, and a reconnect replays exactly what was missed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from kefu.runtime import Runtime
from tests.conftest import start
from tests.handoff.test_live import Agent, make_account


@pytest.fixture
def agent(client: TestClient, runtime: Runtime) -> Agent:
    make_account(runtime, "xiaoli")
    return Agent(TestClient(client.app), "xiaoli")


def until(ws: WebSocketTestSession, kind: str, **match: Any) -> dict[str, Any]:
    """The next frame of `kind` (with the given fields), skipping others."""
    for _ in range(50):
        frame: dict[str, Any] = ws.receive_json()
        if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame
    raise AssertionError(f"no {kind} frame")


def message_frames(ws: WebSocketTestSession, count: int) -> list[dict[str, Any]]:
    out = []
    while len(out) < count:
        frame = ws.receive_json()
        if frame["type"] == "message":
            out.append(frame["message"])
    return out


def test_customer_and_agent_talk_live_and_a_reconnect_misses_nothing(
    client: TestClient, agent: Agent
) -> None:
    conv, auth = start(client, language="zh")
    token = auth["Authorization"].split()[1]
    with agent.client.websocket_connect("/v1/agent/ws") as console:
        with client.websocket_connect(f"/v1/conversations/{conv}/ws?token={token}&after=0") as ws:
            ws.send_json({"text": "转人工，我的手机13812345678", "client_message_id": "m1"})
            turn = until(ws, "turn")
            assert turn["status"] == "waiting_agent"
            assert until(console, "inbox", event="queued")["conversation_id"] == conv
            console.send_json({"type": "watch", "conversation_id": conv, "after": 0})
            first = until(console, "message")["message"]
            assert first["role"] == "customer"
            assert "13812345678" not in first["text"]  # masked for the agent
            agent.online()
            assert until(console, "inbox", event="assigned")["conversation_id"] == conv
            joined = until(ws, "message")["message"]
            assert joined["role"] == "system" and joined["payload"]["kind"] == "joined"
            assert until(ws, "status")["status"] == "with_agent"

            ws.send_json({"type": "typing"})
            assert until(console, "typing")["role"] == "customer"
            console.send_json({"type": "typing", "conversation_id": conv})
            assert until(ws, "typing") == {"type": "typing", "role": "agent"}

            agent.call("POST", f"/conversations/{conv}/messages", {"text": "您好，请讲"}, 201)
            reply = until(ws, "message")["message"]
            assert (reply["role"], reply["text"]) == ("agent", "您好，请讲")
            last_seen = reply["seq"]
        # The customer is away; the agent writes three times.
        for n in range(3):
            agent.call("POST", f"/conversations/{conv}/messages", {"text": f"第{n}条"}, 201)
        url = f"/v1/conversations/{conv}/ws?token={token}&after={last_seen}"
        with client.websocket_connect(url) as ws:
            missed = message_frames(ws, 3)
            assert [m["text"] for m in missed] == ["第0条", "第1条", "第2条"]
            assert [m["seq"] for m in missed] == list(range(last_seen + 1, last_seen + 4))
            # The bot stays silent; the customer's own message comes back as its turn only.
            ws.send_json({"text": "好的", "client_message_id": "m2"})
            turn = until(ws, "turn")
            assert turn["replies"] == []
            agent.call("POST", f"/conversations/{conv}/messages", {"text": "收到"}, 201)
            nxt = until(ws, "message")["message"]
            assert nxt["text"] == "收到" and nxt["seq"] == turn["message"]["seq"] + 1


def test_agent_socket_needs_a_session_and_the_same_origin(client: TestClient, agent: Agent) -> None:
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/v1/agent/ws") as ws:
        ws.receive_json()  # no session cookie
    with (
        pytest.raises(WebSocketDisconnect),
        agent.client.websocket_connect(
            "/v1/agent/ws", headers={"origin": "https://evil.example"}
        ) as ws,
    ):
        ws.receive_json()
    with agent.client.websocket_connect("/v1/agent/ws") as ws:
        ws.send_text("not json")
        assert ws.receive_json()["error"]["code"] == "invalid_frame"
        ws.send_json({"type": "watch", "conversation_id": "nope"})
        assert ws.receive_json()["error"]["code"] == "invalid_frame"
