"""Live chat across two `kefu serve` processes that share a database and Redis: the customer's
socket is on worker A, the agent's console on worker B, and every event crosses between them
through Redis pub/sub (docs/handoff.md). On SQLite and PostgreSQL.

One scenario per database (starting two servers is most of the cost): the handoff reaches the
agent (inbox `queued` then `assigned`, and the messages); the agent's reply reaches the
customer; typing both ways; the bot stays silent while the agent owns the chat; a reconnecting
customer gets exactly what it missed, once each, in order, on either worker.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from kefu.testing import Server

pytestmark = [pytest.mark.redis]

PASSWORD = "correct horse battery"
WAIT_S = 10.0  # for a frame that should come; generous, the machine is shared
QUIET_S = 0.7  # for frames that should not come

Frame = dict[str, Any]


class Socket:
    """A WebSocket client that keeps every frame it received, in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self.taken: set[int] = set()  # frames `until` returned

    def send(self, frame: Frame) -> None:
        self.ws.send(json.dumps(frame, ensure_ascii=False))

    def until(self, wanted: Callable[[Frame], bool], timeout: float = WAIT_S) -> Frame:
        """The first `wanted` frame not returned before: among those received already, else
        the next one to come."""
        for n, seen in enumerate(self.frames):
            if n not in self.taken and wanted(seen):
                self.taken.add(n)
                return seen
        deadline = time.monotonic() + timeout
        start = len(self.frames)
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame: Frame = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                break
            self.frames.append(frame)
            if wanted(frame):
                self.taken.add(len(self.frames) - 1)
                return frame
        raise AssertionError(f"not received in {timeout}s; got meanwhile: {self.frames[start:]}")

    def drain(self, seconds: float = QUIET_S) -> list[Frame]:
        """Every frame that arrives within `seconds`."""
        deadline = time.monotonic() + seconds
        start = len(self.frames)
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.frames.append(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                break
        return self.frames[start:]

    def messages(self, conversation_id: str | None = None) -> list[Frame]:
        return [
            f["message"]
            for f in self.frames
            if f.get("type") == "message"
            and (conversation_id is None or f.get("conversation_id") == conversation_id)
        ]

    def close(self) -> None:
        self.ws.close()

    def last_seq(self) -> int:
        """The last `seq` this (customer) socket has, from message and turn frames."""
        seqs = [m["seq"] for m in self.messages()]
        for f in self.frames:
            if f.get("type") == "turn":
                seqs += [f["message"]["seq"], *(r["seq"] for r in f["replies"])]
        return max(seqs, default=0)


def message(seq_or_text: int | str) -> Callable[[Frame], bool]:
    key = "seq" if isinstance(seq_or_text, int) else "text"
    return lambda f: f.get("type") == "message" and f["message"][key] == seq_or_text


def is_type(kind: str) -> Callable[[Frame], bool]:
    return lambda f: f.get("type") == kind


def assert_once_in_order(messages: list[Frame]) -> None:
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(set(seqs)), f"message frames out of order or repeated: {seqs}"


class Live:
    """Worker A (the customer's), worker B (the agent's), a signed-in agent and sockets."""

    def __init__(self, a: Server, b: Server, stack: ExitStack) -> None:
        self.a, self.b, self.stack = a, b, stack
        self.agent_http = stack.enter_context(httpx.Client(base_url=b.url, timeout=WAIT_S))
        res = self.agent_http.post(
            "/v1/auth/login", json={"username": "xiaoli", "password": PASSWORD}
        )
        assert res.status_code == 200, res.text
        self.csrf = {"X-CSRF-Token": res.json()["csrf_token"]}
        res = self.agent_http.put(
            "/v1/agent/me/status", json={"status": "online"}, headers=self.csrf
        )
        assert res.status_code == 200 and res.json()["status"] == "online", res.text
        res = httpx.post(f"{a.url}/v1/conversations", json={"language": "zh"})
        assert res.status_code == 201, res.text
        self.conversation: dict[str, str] = res.json()
        self.cid = self.conversation["id"]

    def agent_socket(self) -> Socket:
        token = self.agent_http.cookies.get("kefu_session")
        assert token, "no session cookie after sign-in"
        ws = connect(
            f"ws://127.0.0.1:{self.b.port}/v1/agent/ws",
            additional_headers={"Cookie": f"kefu_session={token}"},
            open_timeout=WAIT_S,
        )
        return Socket(self.stack.enter_context(ws))

    def customer_socket(self, server: Server, after: int) -> Socket:
        ws = connect(
            f"ws://127.0.0.1:{server.port}/v1/conversations/{self.cid}/ws"
            f"?token={self.conversation['token']}&after={after}",
            open_timeout=WAIT_S,
        )
        return Socket(self.stack.enter_context(ws))

    def agent_says(self, text: str) -> Frame:
        res = self.agent_http.post(
            f"/v1/agent/conversations/{self.cid}/messages", json={"text": text}, headers=self.csrf
        )
        assert res.status_code == 201, res.text
        sent: Frame = res.json()
        return sent

    def stored(self) -> list[Frame]:
        res = httpx.get(
            f"{self.a.url}/v1/conversations/{self.cid}/messages",
            headers={"Authorization": f"Bearer {self.conversation['token']}"},
        )
        assert res.status_code == 200, res.text
        found: list[Frame] = res.json()["messages"]
        return found


def sync(agent: Socket) -> None:
    """Wait until the agent socket has handled every frame sent before: it handles frames in
    order and answers a malformed one with an error."""
    agent.send({"type": "sync"})
    agent.until(lambda f: f.get("type") == "error" and f["error"]["code"] == "invalid_frame")


@pytest.fixture
def live(tmp_path: Path, db_url: str, redis_url: str) -> Iterator[Live]:
    a = Server(tmp_path / "var", KEFU_DATABASE_URL=db_url, KEFU_REDIS_URL=redis_url)
    # The same data dir: the same secret key.
    b = Server(tmp_path / "var", KEFU_DATABASE_URL=db_url, KEFU_REDIS_URL=redis_url)
    with ExitStack() as stack:
        stack.callback(a.stop)
        stack.callback(b.stop)
        a.start(timeout=60)  # the first start migrates and seeds
        # B starts while the agent account is made (both take seconds).
        failed: list[BaseException] = []
        starting = threading.Thread(target=lambda: _start(b, failed))
        starting.start()
        command = ["accounts", "create", "xiaoli", "--role", "agent", "--password-stdin"]
        made = a.cli(*command, stdin=PASSWORD + "\n")
        starting.join()
        assert made.returncode == 0, made.stderr
        if failed:
            raise failed[0]
        yield Live(a, b, stack)


def _start(server: Server, failed: list[BaseException]) -> None:
    try:
        server.start(timeout=60)
    except BaseException as exc:
        failed.append(exc)


def test_live_chat_across_two_workers(live: Live) -> None:
    cid = live.cid
    # The agent's console on B watches the conversation; the customer connects on A.
    agent = live.agent_socket()
    agent.send({"type": "watch", "conversation_id": cid, "after": 0})
    sync(agent)
    customer = live.customer_socket(live.a, after=0)

    # 1. The customer asks for a person on A; the agent on B hears of it and gets the chat.
    customer.send({"text": "转人工", "client_message_id": "c1"})
    turn = customer.until(is_type("turn"))
    assert turn["message"]["seq"] == 1 and turn["status"] == "waiting_agent"
    assert [r["role"] for r in turn["replies"]] == ["bot"]

    def inbox(event: str) -> Callable[[Frame], bool]:
        return lambda f: (
            f.get("type") == "inbox" and f["event"] == event and f["conversation_id"] == cid
        )

    agent.until(inbox("queued"))
    agent.until(inbox("assigned"))
    events = [
        f["event"]
        for f in agent.frames
        if f.get("type") == "inbox" and f.get("conversation_id") == cid
    ]
    assert events == ["queued", "assigned"]
    # The customer's message, the bot's "transferring you" and the "agent joined" notice.
    joined = agent.until(lambda f: message(3)(f) and f["conversation_id"] == cid)
    assert joined["message"]["payload"]["kind"] == "joined"
    assert agent.messages(cid)[0]["text"] == "转人工"
    assert [(m["seq"], m["role"]) for m in agent.messages(cid)] == [
        (1, "customer"),
        (2, "bot"),
        (3, "system"),
    ]
    customer.until(lambda f: f.get("type") == "status" and f["status"] == "with_agent")
    customer.until(message(3))

    # 2. The agent replies over HTTP on B; the customer's socket on A gets it.
    sent = live.agent_says("您好，我是小李，请讲")
    got = customer.until(message(sent["seq"]))["message"]
    assert (got["role"], got["text"]) == ("agent", "您好，我是小李，请讲")
    agent.until(lambda f: message(sent["seq"])(f) and f["conversation_id"] == cid)

    # 3. Typing, customer -> agent and agent -> customer.
    customer.send({"type": "typing"})
    typing = agent.until(is_type("typing"))
    assert typing == {"type": "typing", "conversation_id": cid, "role": "customer"}
    agent.send({"type": "typing", "conversation_id": cid})
    assert customer.until(is_type("typing")) == {"type": "typing", "role": "agent"}

    # 4. The bot stays silent while the agent owns the chat: the customer's message is
    # stored and reaches the agent, and nothing answers it.
    customer.send({"text": "押金怎么退", "client_message_id": "c2"})
    turn = customer.until(is_type("turn"))
    assert turn["replies"] == [] and turn["status"] == "with_agent"
    seq = turn["message"]["seq"]
    got = agent.until(lambda f: message(seq)(f) and f["conversation_id"] == cid)["message"]
    assert (got["role"], got["text"]) == ("customer", "押金怎么退")
    later = customer.drain() + agent.drain()
    assert not [f for f in later if f.get("type") == "message"], later
    assert [m["role"] for m in live.stored()] == ["customer", "bot", "system", "agent", "customer"]
    # Every message frame once, in order, on each socket; typing forwarded once each way.
    assert_once_in_order(customer.messages())
    assert [m["seq"] for m in agent.messages(cid)] == [1, 2, 3, 4, 5]
    assert sum(f.get("type") == "typing" for f in customer.frames) == 1
    assert sum(f.get("type") == "typing" for f in agent.frames) == 1

    # 5. Offline: the customer's socket on A closes, the agent sends three messages.
    last = customer.last_seq()
    assert last == 5
    customer.close()
    missed = [live.agent_says(f"第{n}条：您还在吗？") for n in (1, 2, 3)]
    assert [m["seq"] for m in missed] == [6, 7, 8]
    # Back on A with ?after=: those three, once each, in order; then live ones again.
    again = live.customer_socket(live.a, after=last)
    again.until(message(8))
    again.drain()
    assert [(m["seq"], m["text"]) for m in again.messages()] == [
        (m["seq"], m["text"]) for m in missed
    ]
    now = live.agent_says("我看到您上线了")
    again.until(message(now["seq"]))
    assert [m["seq"] for m in again.messages()] == [6, 7, 8, 9]

    # 6. Again, this time coming back on the other worker (as a load balancer may send it).
    last = again.last_seq()
    again.close()
    missed = [live.agent_says(f"第{n}条") for n in (4, 5)]
    on_b = live.customer_socket(live.b, after=last)
    on_b.until(message(missed[-1]["seq"]))
    on_b.send({"text": "在的", "client_message_id": "c3"})
    turn = on_b.until(is_type("turn"))
    assert turn["replies"] == [] and turn["message"]["seq"] == 12  # still the agent's chat
    on_b.drain()
    # The turn frame carries seq 12: it never comes as a message frame as well.
    assert [m["seq"] for m in on_b.messages()] == [10, 11]

    # The agent's socket saw every message once, in order, all along.
    agent.until(lambda f: message(12)(f) and f["conversation_id"] == cid)
    assert [m["seq"] for m in agent.messages(cid)] == list(range(1, 13))
    assert [m["seq"] for m in live.stored()] == list(range(1, 13))
