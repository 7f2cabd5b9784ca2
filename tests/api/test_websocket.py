"""The WebSocket carries the same exchange as POST .../messages."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.conftest import start


def test_websocket_exchange_in_order(client: TestClient) -> None:
    conv, auth = start(client)
    token = auth["Authorization"].removeprefix("Bearer ")
    with client.websocket_connect(f"/v1/conversations/{conv}/ws?token={token}") as ws:
        ws.send_json({"text": "押金怎么退？", "client_message_id": "w1"})
        turn = ws.receive_json()
        assert turn["type"] == "turn"
        assert turn["replies"][0]["payload"]["faq"] == "bike.deposit_refund"
        ws.send_json({"text": "押金怎么退？", "client_message_id": "w1"})
        assert ws.receive_json()["duplicate"] is True
        ws.send_text("{not json")
        assert ws.receive_json()["error"]["code"] == "invalid_json"
        ws.send_json({"text": "   "})
        assert ws.receive_json()["error"]["code"] == "empty_text"
        ws.send_json({"nope": 1})
        assert ws.receive_json()["error"]["code"] == "invalid_request"
        ws.send_json({"text": "thanks"})
        assert ws.receive_json()["type"] == "turn"
    messages = client.get(f"/v1/conversations/{conv}/messages", headers=auth).json()["messages"]
    assert [m["role"] for m in messages] == ["customer", "bot", "customer", "bot"]


def test_websocket_accepts_authorization_header(client: TestClient) -> None:
    conv, auth = start(client)
    with client.websocket_connect(f"/v1/conversations/{conv}/ws", headers=auth) as ws:
        ws.send_json({"text": "hello"})
        assert ws.receive_json()["type"] == "turn"


@pytest.mark.parametrize("token", ["", "garbage"])
def test_websocket_refuses_bad_token(client: TestClient, token: str) -> None:
    conv, _ = start(client)
    with (
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect(f"/v1/conversations/{conv}/ws?token={token}") as ws,
    ):
        ws.receive_json()
    assert info.value.code == 1008


def test_websocket_binary_frame_and_long_chinese_message(client: TestClient) -> None:
    conv, auth = start(client)
    with client.websocket_connect(f"/v1/conversations/{conv}/ws", headers=auth) as ws:
        ws.send_bytes(b"\x00\x01")
        assert ws.receive_json()["error"]["code"] == "invalid_frame"
        # The longest allowed message, ASCII-escaped as json.dumps does by default.
        ws.send_text(json.dumps({"text": "好" * 2000}))
        assert ws.receive_json()["type"] == "turn"
        ws.send_text(json.dumps({"text": "好" * 2001}))
        assert ws.receive_json()["error"]["code"] == "text_too_long"


def test_websocket_deeply_nested_frame_is_invalid_json(client: TestClient) -> None:
    conv, auth = start(client)
    with client.websocket_connect(f"/v1/conversations/{conv}/ws", headers=auth) as ws:
        ws.send_text("[" * 5000 + "]" * 5000)
        assert ws.receive_json()["error"]["code"] == "invalid_json"
        ws.send_json({"text": "押金怎么退"})
        assert ws.receive_json()["type"] == "turn"  # the socket survived
