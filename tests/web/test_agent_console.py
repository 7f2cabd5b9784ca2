"""The agent console in a real browser, against a real server with the trained intent model:
a customer asks for a person on the chat page, an online agent gets the chat with its summary,
replies live while the bot stays silent, closes, and the customer's rating is stored. Also:
roles without `handoff:work` get no agent tools, and the page speaks zh and en.

Screenshots of the console go to $KEFU_ARTIFACTS/screenshots (default ./artifacts), kept by CI
as a test artifact for review.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Response,
    ViewportSize,
    expect,
)

from kefu.testing import Server
from tests.web import test_chat_live as chat_live
from tests.web.test_chat_page import browser  # noqa: F401 - the shared chromium fixture

PASSWORD = "correct horse battery"
AGENT = "wang"
AGENT_NAME = "王小明"
REPLY = "您好，我是客服王小明，非常抱歉给您添麻烦了，请问是哪辆车出了问题？"
FOLLOW_UP = "车号B123456，锁不上一直在计费"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


def shots() -> Path:
    path = Path(os.environ.get("KEFU_ARTIFACTS", "artifacts")) / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, trained_models: Path) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("agent") / "var", KEFU_MODELS_DIR=str(trained_models))
    srv.start(timeout=60)
    for username, role, name in ((AGENT, "agent", AGENT_NAME), ("lin", "analyst", "")):
        made = srv.cli(
            "accounts",
            "create",
            username,
            "--role",
            role,
            "--display-name",
            name,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert made.returncode == 0, made.stderr
    # A conversation the bot handled, so every list has something in it whatever runs first.
    status, conv = _call(srv, "POST", "/v1/conversations", {"language": "zh"})
    assert status == 201, conv
    _call(
        srv,
        "POST",
        f"/v1/conversations/{conv['id']}/messages",
        {"text": "押金怎么退？", "client_message_id": "m1"},
        conv["token"],
    )
    yield srv
    srv.stop()


def _call(
    server: Server, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def stored_rating(server: Server, conversation_id: str) -> tuple[int, int | None]:
    """Score and agent of the conversation's rating, as stored (no API reads ratings back)."""
    score, _comment, agent = chat_live.stored_rating(server, conversation_id)
    return score, agent


def account_id(server: Server, username: str) -> int:
    listed = server.cli("accounts", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return next(int(a["id"]) for a in json.loads(listed.stdout) if a["username"] == username)


def _sign_in(page: Page, server: Server, username: str, lang: str) -> list[str]:
    """Open the console signed in; returns the list the page's console errors go to."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Failed loads are checked below with their address; a CSP violation lands here.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Response) -> None:
        # Before sign-in GET /v1/auth/me answers 401; browsers ask for a favicon kefu hasn't.
        expected = response.url.endswith(("/v1/auth/me", "/favicon.ico"))
        if response.status >= 400 and not expected:
            errors.append(f"{response.status} {response.request.method} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/console?lang={lang}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#signout")).to_be_visible()
    return errors


def test_agent_serves_a_customer_from_handoff_to_rating(
    browser: Browser,  # noqa: F811
    server: Server,
) -> None:
    agent_ctx = browser.new_context(locale="zh-CN", viewport=DESKTOP, permissions=["notifications"])
    customer_ctx = browser.new_context(locale="zh-CN", viewport={"width": 480, "height": 800})
    console = agent_ctx.new_page()
    errors = _sign_in(console, server, AGENT, "zh")
    expect(console.locator("#who")).to_have_text(f"{AGENT_NAME} · 客服")
    expect(console.locator("#not-agent")).to_be_hidden()
    expect(console.locator("#tab-queue")).to_have_attribute("aria-selected", "true")
    with console.expect_response("**/v1/agent/me/status") as answered:
        console.select_option("#status", "online")
    assert answered.value.status == 200
    expect(console.locator("#status")).to_have_attribute("data-status", "online")
    console.click("#notify")  # asked from a button, never on load
    expect(console.locator("#notify")).to_have_text("提醒已开启")

    # The customer asks for a person on the chat page.
    chat = customer_ctx.new_page()
    chat.goto(server.url + "/")
    chat.fill("#text", "我要投诉，转人工")
    chat.click("#send")
    expect(chat.locator(".msg.customer")).to_have_text("我要投诉，转人工")

    # Routing gives it to the only online agent: it rings, and it is in "mine".
    expect(console.locator("html")).to_have_attribute("data-alerts", "1", timeout=10_000)
    expect(console.locator("#announce")).to_contain_text("新会话")
    console.click("#tab-mine")
    item = console.locator("#inbox button").first
    expect(item).to_contain_text("客户要求人工")
    expect(item.locator(".last")).to_contain_text("王小明已接入")  # the last message
    expect(console.locator("#count-mine")).to_have_text("1")
    console.screenshot(path=str(shots() / "console-inbox-zh.png"))
    item.click()

    # The conversation, with what the bot knew in the context panel.
    expect(console.locator("#conv-state")).to_have_text("我正在接待")
    expect(console.locator("#messages .msg.customer").first).to_contain_text("我要投诉")
    expect(console.locator("#context")).to_be_visible()
    expect(console.locator("#summary")).to_contain_text("转人工原因")
    expect(console.locator("#summary")).to_contain_text("客户要求人工")
    expect(console.locator("#moods li").first).to_be_visible()
    for name in ("take",):
        expect(console.locator(f"#{name}")).to_be_hidden()
    for name in ("transfer", "handback", "close"):
        expect(console.locator(f"#{name}")).to_be_visible()

    # Typing shows on both sides.
    chat.locator("#text").press_sequentially("车号")
    expect(console.locator("#typing")).to_have_text("客户正在输入…")
    chat.fill("#text", "")
    console.locator("#reply").press_sequentially("您好")
    expect(chat.locator("#typing")).to_have_text("客服正在输入…")

    # Canned responses fill the box; the agent writes their own and sends with Enter.
    console.fill("#reply", "")
    console.click("#canned-toggle")
    expect(console.locator("#canned-list button").first).to_be_visible()
    console.locator("#canned-list button").first.click()
    expect(console.locator("#reply")).not_to_have_value("")
    console.fill("#reply", "第一行")
    console.press("#reply", "Shift+Enter")  # a new line, not a send
    expect(console.locator("#reply")).to_have_value("第一行\n")
    console.fill("#reply", REPLY)
    console.press("#reply", "Enter")
    expect(console.locator("#messages .msg.agent .text")).to_have_text([REPLY])
    expect(console.locator("#messages .msg.agent .role")).to_contain_text(AGENT_NAME)
    expect(console.locator("#reply")).to_have_value("")

    # The customer sees the reply, live.
    expect(chat.locator(".msg.agent .text")).to_have_text([REPLY])

    # While the agent has the chat the bot is silent; the agent sees the message live.
    bots_before = chat.locator(".msg.bot").count()
    chat.fill("#text", FOLLOW_UP)
    chat.click("#send")
    expect(console.locator("#messages .msg.customer").last).to_contain_text("锁不上一直在计费")
    chat.wait_for_timeout(1500)  # a bot reply, if any, would have arrived by now
    assert chat.locator(".msg.bot").count() == bots_before
    # Each message once, whatever the socket and the POST both delivered.
    seqs = console.locator("#messages li").evaluate_all("els => els.map(e => e.dataset.seq)")
    assert len(seqs) == len(set(seqs))
    # The new customer message brings suggested replies; a click fills the box.
    chip = console.locator("#suggestions .chip").first
    expect(chip).to_be_visible()
    console.screenshot(path=str(shots() / "console-conversation-zh.png"))
    chip.click()
    expect(console.locator("#reply")).not_to_have_value("")
    console.fill("#reply", "")

    # The agent closes; the customer rates the chat 5 on the chat page's survey.
    console.click("#close")
    expect(console.locator("#conv-state")).to_have_text("已结束")
    expect(console.locator("#reply-form")).to_be_hidden()
    expect(console.locator("#announce")).to_contain_text("会话已结束")
    survey = chat.locator(".survey")
    expect(survey).to_be_visible()
    survey.get_by_role("button", name="5 分", exact=True).click()
    with chat.expect_response(lambda r: r.url.endswith("/rating")) as rated:
        chat.click("#survey-send")
    assert rated.value.status == 201
    expect(chat.locator(".survey-done")).to_be_visible()
    conv = json.loads(chat.evaluate("sessionStorage.getItem('kefu.conversation.zh')"))
    assert stored_rating(server, conv["id"]) == (5, account_id(server, AGENT))
    # And through the API: the conversation is rated, a second rating is refused.
    status, again = _call(
        server, "POST", f"/v1/conversations/{conv['id']}/rating", {"score": 1}, conv["token"]
    )
    assert status == 409 and again["error"]["code"] == "already_rated"
    assert errors == []
    agent_ctx.close()
    customer_ctx.close()


def _customer_says(server: Server, text: str, lang: str = "zh") -> dict[str, str]:
    """A new conversation whose customer says `text`; its id and token."""
    status, conv = _call(server, "POST", "/v1/conversations", {"language": lang})
    assert status == 201, conv
    status, turn = _call(
        server,
        "POST",
        f"/v1/conversations/{conv['id']}/messages",
        {"text": text, "client_message_id": "c1"},
        conv["token"],
    )
    assert status == 201, turn
    return {"id": str(conv["id"]), "token": str(conv["token"])}


def test_the_queue_by_priority_take_transfer_and_hand_back(
    browser: Browser,  # noqa: F811
    server: Server,
) -> None:
    page = browser.new_page(locale="zh-CN", viewport=DESKTOP)
    errors = _sign_in(page, server, AGENT, "zh")
    # Away: no new chats are routed to this agent, so they wait in the queue, and don't ring.
    page.select_option("#status", "away")
    expect(page.locator("#status")).to_have_attribute("data-status", "away")
    _customer_says(server, "转人工")
    _customer_says(server, "电单车起火了，冒烟了")
    expect(page.locator("#count-queue")).to_have_text("2")
    first = page.locator("#inbox button").first
    expect(first).to_have_attribute("data-priority", "urgent")  # before the earlier request
    expect(first.locator(".badge.urgent")).to_have_text("紧急")
    expect(first).to_contain_text("安全问题")
    expect(first.locator(".wait")).to_contain_text("已等待")
    assert page.locator("html").get_attribute("data-alerts") is None
    page.screenshot(path=str(shots() / "console-queue-zh.png"))

    # Take the urgent one from the queue, then transfer it to a team.
    first.click()
    expect(page.locator("#take")).to_have_text("接入")
    page.click("#take")
    expect(page.locator("#conv-state")).to_have_text("我正在接待")
    expect(page.locator("#reply")).to_be_focused()
    page.click("#transfer")
    expect(page.locator("#transfer-to")).to_be_focused()
    page.fill("#transfer-team", "lodging")
    page.fill("#transfer-note", "需要民宿组跟进")
    page.click("#transfer-form button[type=submit]")
    expect(page.locator("#announce")).to_have_text("会话已转接。")
    expect(page.locator("#conv-state")).to_contain_text("等待人工")
    expect(page.locator("#transfer-form")).to_be_hidden()

    # Take the other one and hand it back to the bot.
    page.locator("#inbox button", has_text="客户要求人工").click()
    page.click("#take")
    expect(page.locator("#handback")).to_be_visible()
    page.click("#handback")
    expect(page.locator("#announce")).to_have_text("会话已交还机器人。")
    expect(page.locator("#conv-state")).to_have_text("机器人接待中")
    expect(page.locator("#take")).to_have_text("接管")  # over from the bot, if needed
    assert errors == []
    page.close()


def test_an_analyst_gets_no_agent_tools(browser: Browser, server: Server) -> None:  # noqa: F811
    page = browser.new_page(locale="en-US", viewport=DESKTOP)
    errors = _sign_in(page, server, "lin", "en")
    expect(page.locator("#who")).to_have_text("lin · analyst")
    notice = page.locator("#not-agent")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("can't serve customers")
    expect(notice).to_contain_text("handoff:work")
    for hidden in ("#agent-bar", "#status", "#tab-queue", "#tab-mine", "#tab-all"):
        expect(page.locator(hidden)).to_be_hidden()
    expect(page.locator("#tab-history")).to_have_attribute("aria-selected", "true")
    page.locator("#conversations button").first.click()
    expect(page.locator("#messages .msg").first).to_be_visible()
    expect(page.locator("#reply-form")).to_be_hidden()
    expect(page.locator("#actions")).to_be_hidden()
    expect(page.locator("#context")).to_be_hidden()
    expect(page.locator("#reveal")).to_be_hidden()  # analysts never unmask
    page.screenshot(path=str(shots() / "console-analyst-en.png"))
    assert errors == []
    page.close()


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        ("zh", {"#tab-queue": "排队", "#tab-all": "全部", "#notify": "开启新会话提醒"}),
        ("en", {"#tab-queue": "Queue", "#tab-all": "All", "#notify": "Turn on new-chat alerts"}),
    ],
)
def test_the_console_speaks_zh_and_en(
    browser: Browser,  # noqa: F811
    server: Server,
    lang: str,
    texts: dict[str, str],
) -> None:
    page = browser.new_page(viewport=DESKTOP)
    errors = _sign_in(page, server, AGENT, lang)
    assert page.locator("html").get_attribute("lang") == ("zh-CN" if lang == "zh" else "en")
    for selector, text in texts.items():
        expect(page.locator(selector)).to_contain_text(text)
    other = page.locator("#lang-link")
    expect(other).to_have_attribute("href", f"/console?lang={'en' if lang == 'zh' else 'zh'}")
    page.click("#tab-all")
    expect(page.locator("#inbox button").first).to_be_visible()
    page.locator("#inbox button").first.click()
    expect(page.locator("#context")).to_be_visible()
    page.screenshot(path=str(shots() / f"console-all-{lang}.png"))
    # Keyboard: arrows move between the inbox tabs.
    page.focus("#tab-all")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#tab-mine")).to_be_focused()
    expect(page.locator("#tab-mine")).to_have_attribute("aria-selected", "true")
    assert errors == []
    page.close()


def test_narrow_screens_get_one_column(browser: Browser, server: Server) -> None:  # noqa: F811
    page = browser.new_page(locale="zh-CN", viewport={"width": 390, "height": 800})
    _sign_in(page, server, AGENT, "zh")
    lists = page.locator("#lists").bounding_box()
    centre = page.locator("#transcript").bounding_box()
    assert lists and centre
    assert centre["y"] >= lists["y"] + lists["height"] - 1  # stacked, not side by side
    assert lists["width"] > 350
    page.screenshot(path=str(shots() / "console-narrow-zh.png"), full_page=True)
    page.close()


def test_the_console_reconnects_and_catches_up(
    browser: Browser,  # noqa: F811
    server: Server,
) -> None:
    """Last in this module: it restarts the server."""
    conv = _customer_says(server, "How do I get my deposit back?", "en")
    page = browser.new_page(locale="en-US", viewport=DESKTOP)
    _sign_in(page, server, AGENT, "en")
    page.click("#tab-all")
    page.locator(f"#inbox button[data-id='{conv['id']}']").click()
    expect(page.locator("#messages .msg.bot").first).to_be_visible()
    shown = page.locator("#messages li").count()

    server.stop()
    expect(page.locator("#ws-state")).to_have_text("Connection lost, reconnecting…")
    server.start(timeout=60)
    # Sent while the console is (most likely) still waiting to reconnect: the re-watch with
    # the last seq shown brings it, and the bot's answer, exactly once.
    status, turn = _call(
        server,
        "POST",
        f"/v1/conversations/{conv['id']}/messages",
        {"text": "How long does the refund take?", "client_message_id": "c2"},
        conv["token"],
    )
    assert status == 201, turn
    expect(page.locator("#ws-state")).to_be_hidden(timeout=40_000)
    expect(page.locator("#messages .msg.customer").last).to_contain_text("How long")
    expect(page.locator("#messages li")).to_have_count(shown + 1 + len(turn["replies"]))
    seqs = page.locator("#messages li").evaluate_all("els => els.map(e => e.dataset.seq)")
    assert seqs == sorted(set(seqs), key=int)
    page.close()
