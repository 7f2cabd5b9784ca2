"""The customer chat page goes live: after the bot hands over, a person answers from the agent
console and the page shows what nobody on it asked for (the agent's replies, notices, typing,
the queue), each message once, across reconnects; when the agent closes, the customer rates the
chat. Real server, real headless chromium; the agent side is driven over plain HTTP (httpx)
and the agent's WebSocket (websockets).

A phone-sized screenshot goes to $KEFU_ARTIFACTS/screenshots (default ./artifacts).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, WebSocketRoute, expect
from websockets.sync.client import ClientConnection, connect

from kefu.privacy.crypto import KEY_FILE, Keyring, parse_key_file
from kefu.testing import Server
from tests.web.test_chat_page import browser  # noqa: F401 - the shared chromium fixture

PASSWORD = "correct horse battery"
PHONE: ViewportSize = {"width": 390, "height": 844}
AGENTS = {"wang": "王小明", "amy": "Amy"}
SOCKET = re.compile(r"/v1/conversations/[^/]+/ws\?")


def shots() -> Path:
    path = Path(os.environ.get("KEFU_ARTIFACTS", "artifacts")) / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # No intent model needed: asking for a person is a rule, and the FAQ answers without it.
    srv = Server(tmp_path_factory.mktemp("live") / "var")
    srv.start()
    for username, name in AGENTS.items():
        made = srv.cli(
            "accounts",
            "create",
            username,
            "--role",
            "agent",
            "--display-name",
            name,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert made.returncode == 0, made.stderr
    yield srv
    srv.stop()


class Agent:
    """A signed-in console account: session cookie, CSRF token on writes."""

    def __init__(self, server: Server, username: str) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=10)
        res = self.http.post("/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert res.status_code == 200, res.text
        self.id: int = res.json()["id"]
        self.csrf: str = res.json()["csrf_token"]

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        res = self.http.request(
            method, "/v1/agent" + path, json=body, headers={"X-CSRF-Token": self.csrf}
        )
        assert res.status_code == expect, f"{method} {path}: {res.status_code} {res.text}"
        return res.json()

    def status(self, status: str) -> None:
        self.call("PUT", "/me/status", {"status": status})

    def say(self, conversation_id: str, text: str) -> dict[str, Any]:
        sent: dict[str, Any] = self.call(
            "POST", f"/conversations/{conversation_id}/messages", {"text": text}, expect=201
        )
        return sent

    def socket(self) -> ClientConnection:
        cookie = f"kefu_session={self.http.cookies['kefu_session']}"
        url = self.server.url.replace("http://", "ws://") + "/v1/agent/ws"
        return connect(url, additional_headers={"Cookie": cookie})

    def close(self) -> None:
        self.status("offline")
        self.http.close()


@pytest.fixture
def agent(server: Server, request: pytest.FixtureRequest) -> Iterator[Agent]:
    one = Agent(server, request.param)
    yield one
    one.close()  # offline again: the next test's customer finds nobody online


def frame_where(ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while (left := deadline - time.monotonic()) > 0:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=left))
        if wanted(frame):
            return frame
    raise TimeoutError("no such frame in 10 s")


def page_errors(page: Page) -> list[str]:
    """The page's script errors. Chromium also logs every non-2xx answer ("Failed to load
    resource"); those the tests check themselves."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    return errors


def conversation(page: Page, lang: str) -> dict[str, Any]:
    stored: dict[str, Any] = json.loads(
        page.evaluate(f"sessionStorage.getItem('kefu.conversation.{lang}')")
    )
    return stored


def shown_seqs(page: Page) -> list[str]:
    seqs: list[str] = page.locator("#log [data-seq]").evaluate_all(
        "els => els.map(e => e.dataset.seq)"
    )
    return seqs


def stored_rating(server: Server, conversation_id: str) -> tuple[int, str | None, int | None]:
    """The rating as stored: straight from the server's SQLite file, comment decrypted."""
    cid = uuid.UUID(conversation_id)
    with sqlite3.connect(server.data_dir / "kefu.db") as db:
        row = db.execute(
            "SELECT score, comment, agent_id FROM ratings WHERE conversation_id IN (?, ?)",
            (cid.hex, str(cid)),
        ).fetchone()
    assert row is not None, "no rating stored"
    score, comment, agent_id = row
    if comment is not None:
        path = server.data_dir / KEY_FILE
        keys, primary = parse_key_file(path.read_text(encoding="utf-8"), path)
        comment = Keyring(keys, primary).decrypt(comment, "ratings.comment")
    return score, comment, agent_id


REPLY = "您好，我是王小明。请问是哪辆车出了问题？"
FOLLOW_UP = "车号B123456，锁不上一直在计费"
COMMENT = "客服很耐心，问题解决了"


@pytest.mark.parametrize("agent", ["wang"], indirect=True)
def test_customer_is_queued_served_by_an_agent_and_rates_the_chat(
    browser: Browser,  # noqa: F811
    server: Server,
    agent: Agent,
) -> None:
    ctx = browser.new_context(locale="zh-CN", viewport=PHONE)
    page = ctx.new_page()
    errors = page_errors(page)
    page.goto(server.url + "/")

    # Nobody is online: the customer is told where they are, and honestly that no one is there.
    page.fill("#text", "转人工")
    with page.expect_response(lambda r: r.url.endswith("/queue")) as asked:
        page.click("#send")
    assert asked.value.status == 200
    queue = page.locator(".queue")
    expect(queue).to_have_text("您目前排在第 1 位。目前没有客服在线，客服一上线就会在这里回复您。")
    expect(queue).to_have_attribute("role", "status")
    expect(page.locator(".msg.customer")).to_have_text(["转人工"])
    expect(page.locator(".msg.bot")).to_have_count(2)  # the welcome and the handoff reply
    cid = conversation(page, "zh")["id"]

    # The agent comes online: routing gives them the chat and the customer is told, live.
    agent.status("online")
    joined = page.locator('.msg.system[data-kind="joined"]')
    expect(joined).to_have_count(1)
    expect(joined).to_contain_text(AGENTS["wang"])
    expect(queue).to_be_hidden()

    with agent.socket() as ws:
        ws.send(json.dumps({"type": "watch", "conversation_id": cid}))
        # The agent types: the customer sees it, for a few seconds.
        ws.send(json.dumps({"type": "typing", "conversation_id": cid}))
        expect(page.locator("#typing")).to_have_text("客服正在输入…")
        expect(page.locator("#typing")).to_have_attribute("aria-live", "polite")
        # The customer types: the agent sees it.
        page.locator("#text").press_sequentially("好的")
        seen = frame_where(ws, lambda f: f.get("type") == "typing")
        assert seen == {"type": "typing", "role": "customer", "conversation_id": cid}
        page.fill("#text", "")

    # The agent replies: it shows once, with the agent's name, and the typing notice goes.
    agent.say(cid, REPLY)
    replies = page.locator(".msg.agent")
    expect(replies.locator(".text")).to_have_text([REPLY])
    expect(replies.locator(".who")).to_have_text([AGENTS["wang"]])
    expect(page.locator("#typing")).to_have_text("")

    # The customer answers; the bot stays silent, and nothing shows twice.
    page.fill("#text", FOLLOW_UP)
    with page.expect_response(lambda r: r.url.endswith("/messages")):
        page.click("#send")
    page.wait_for_timeout(500)  # the socket's copy of the message, if shown, would be here
    expect(page.locator(".msg.customer")).to_have_text(["转人工", FOLLOW_UP])
    expect(page.locator(".msg.bot")).to_have_count(2)

    # The agent closes: the survey, five scores by name, submit once a score is chosen.
    agent.call("POST", f"/conversations/{cid}/close")
    survey = page.locator(".survey")
    expect(survey).to_be_visible()
    expect(page.locator('.msg.system[data-kind="closed"]')).to_have_count(1)
    for n in range(1, 6):
        expect(survey.get_by_role("button", name=f"{n} 分", exact=True)).to_have_text(str(n))
    expect(page.locator("#survey-send")).to_be_disabled()
    five = page.get_by_role("button", name="5 分", exact=True)
    five.click()
    expect(five).to_have_attribute("aria-pressed", "true")
    page.fill("#survey-comment", COMMENT)
    expect(page.locator("#survey-comment")).to_have_attribute("maxlength", "2000")
    seqs = shown_seqs(page)
    assert seqs == [str(n) for n in range(1, 7)]  # each message once, in order
    page.screenshot(path=str(shots() / "chat-live-zh.png"))

    with page.expect_response(lambda r: r.url.endswith("/rating")) as rated:
        page.click("#survey-send")
    assert rated.value.status == 201
    expect(page.locator(".survey-done")).to_have_text("感谢您的评价！")
    expect(survey).to_have_count(0)
    assert stored_rating(server, cid) == (5, COMMENT, agent.id)

    # The next message starts a new conversation with the bot.
    page.fill("#text", "押金怎么退？")
    page.click("#send")
    expect(page.locator(".msg.bot").last).to_have_attribute("data-faq", "bike.deposit_refund")
    assert conversation(page, "zh")["id"] != cid
    expect(page.locator(".msg.error")).to_have_count(0)
    assert errors == []
    ctx.close()


@pytest.mark.parametrize("agent", ["amy"], indirect=True)
def test_a_message_missed_while_offline_arrives_once_on_reconnect(
    browser: Browser,  # noqa: F811
    server: Server,
    agent: Agent,
) -> None:
    agent.status("online")
    ctx = browser.new_context(locale="en-US", viewport=PHONE)
    page = ctx.new_page()
    errors = page_errors(page)
    page.goto(server.url + "/?lang=en")
    page.fill("#text", "I want to talk to a human")
    page.click("#send")
    expect(page.locator('.msg.system[data-kind="joined"]')).to_contain_text("Amy")
    expect(page.locator(".queue")).to_be_hidden()
    cid = conversation(page, "en")["id"]

    first = 'Hi, Amy here. <img src=x onerror="document.title=1"> Which bike?'
    agent.say(cid, first)
    texts = page.locator(".msg.agent .text")
    expect(texts).to_have_text([first])  # shown as text, never as markup
    assert page.locator(".msg.agent img").count() == 0

    # The network goes: the page drops its socket. A reply sent meanwhile can't arrive...
    ctx.set_offline(True)
    page.wait_for_function("navigator.onLine === false")
    missed = "Are you still there? Your ride has been refunded."
    agent.say(cid, missed)
    page.wait_for_timeout(1000)
    expect(texts).to_have_text([first])

    # ...until it's back: the page reconnects after the last seq it showed, and shows it once.
    last = max(int(s) for s in shown_seqs(page))
    with page.expect_websocket() as reconnected:
        ctx.set_offline(False)
    assert f"after={last}" in reconnected.value.url
    expect(texts).to_have_text([first, missed])
    live = "Anything else I can help with?"
    agent.say(cid, live)
    expect(texts).to_have_text([first, missed, live])
    seqs = shown_seqs(page)
    assert len(seqs) == len(set(seqs))

    # A reload keeps the conversation: its transcript is replayed, each message once.
    page.reload()
    expect(texts).to_have_text([first, missed, live])
    expect(page.locator(".msg.customer")).to_have_text(["I want to talk to a human"])
    assert shown_seqs(page) == seqs

    # Closed; rated already (say, from another tab): the page thanks the customer anyway.
    agent.call("POST", f"/conversations/{cid}/close")
    expect(page.locator(".survey")).to_be_visible()
    names = ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]
    for n, name in enumerate(names, 1):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_text(str(n))
    token = conversation(page, "en")["token"]
    res = httpx.post(
        f"{server.url}/v1/conversations/{cid}/rating",
        json={"score": 4},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert res.status_code == 201, res.text
    page.get_by_role("button", name="1 star", exact=True).click()
    with page.expect_response(lambda r: r.url.endswith("/rating")) as rated:
        page.click("#survey-send")
    assert rated.value.status == 409
    expect(page.locator(".survey-done")).to_have_text("Thank you for your feedback!")
    assert stored_rating(server, cid) == (4, None, agent.id)
    assert errors == []
    ctx.close()


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No agents at all: nothing but the test speaks on the customer's socket."""
    srv = Server(tmp_path_factory.mktemp("quiet") / "var")
    srv.start()
    yield srv
    srv.stop()


@pytest.mark.parametrize(
    ("lang", "ask", "say"),
    [
        (
            "zh",
            "转人工",
            {
                "nobody": "您目前排在第 1 位。目前没有客服在线，客服一上线就会在这里回复您。",
                "wait": "您目前排在第 3 位，预计等待约 3 分钟。",
                "unknown": "您目前排在第 2 位，暂时无法估计等待时间。",
                "typing": "客服正在输入…",
                "agent": "客服",
                "star": "5 分",
            },
        ),
        (
            "en",
            "human please",
            {
                "nobody": "You are number 1 in the queue. No agent is online right now; "
                "someone will reply here as soon as they are.",
                "wait": "You are number 3 in the queue, about 3 min.",
                "unknown": "You are number 2 in the queue. We can't estimate the wait yet.",
                "typing": "Agent is typing…",
                "agent": "Agent",
                "star": "5 stars",
            },
        ),
    ],
)
def test_queue_typing_and_status_frames(
    browser: Browser,  # noqa: F811
    quiet_server: Server,
    lang: str,
    ask: str,
    say: dict[str, str],
) -> None:
    """Frames the server sends in situations hard to stage (a long queue with an estimate),
    added to the real socket's."""
    page = browser.new_page(viewport=PHONE)
    errors = page_errors(page)
    sockets: list[WebSocketRoute] = []

    def through(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        ws.connect_to_server()

    page.route_web_socket(SOCKET, through)
    page.goto(f"{quiet_server.url}/?lang={lang}")
    page.fill("#text", ask)
    page.click("#send")
    queue = page.locator(".queue")
    expect(queue).to_have_text(say["nobody"])
    assert len(sockets) == 1
    socket = sockets[0]

    def queued(position: int, wait_seconds: int | None, agents_online: int) -> None:
        frame = {"position": position, "wait_seconds": wait_seconds, "agents_online": agents_online}
        socket.send(json.dumps({"type": "queue", **frame}))

    queued(3, 150, 2)
    expect(queue).to_have_text(say["wait"])
    queued(2, None, 1)
    expect(queue).to_have_text(say["unknown"])

    started = time.monotonic()
    socket.send(json.dumps({"type": "typing", "role": "agent"}))
    typing = page.locator("#typing")
    expect(typing).to_have_text(say["typing"])
    expect(typing).to_have_text("", timeout=8000)
    assert 3 < time.monotonic() - started < 7

    socket.send(json.dumps({"type": "status", "status": "with_agent", "agent": None}))
    expect(queue).to_be_hidden()
    message = {
        "seq": 90,
        "role": "agent",
        "text": "<b>hi</b>",
        "payload": {},
        "created_at": "2026-01-01T00:00:00Z",
    }
    for _ in range(2):  # the same seq twice: shown once
        socket.send(json.dumps({"type": "message", "message": message}))
    expect(page.locator(".msg.agent .text")).to_have_text(["<b>hi</b>"])
    expect(page.locator(".msg.agent .who")).to_have_text([say["agent"]])
    socket.send(json.dumps({"type": "status", "status": "closed", "agent": None}))
    expect(page.get_by_role("button", name=say["star"], exact=True)).to_be_visible()
    assert errors == []
    stored = conversation(page, lang)  # closed, so the next language's customer is first again
    res = httpx.post(
        f"{quiet_server.url}/v1/conversations/{stored['id']}/close",
        headers={"Authorization": f"Bearer {stored['token']}"},
    )
    assert res.status_code == 200, res.text
    page.close()
