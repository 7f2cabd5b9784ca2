"""The embeddable widget on another site's page, in a real headless chromium: a host page served
from another origin (a tiny http.server on another loopback port) embeds it with one script tag
and talks to a real `kefu serve` (SQLite, trained intent model for the flows' quick replies).
One host page sends a strict Content-Security-Policy (no inline styles allowed), as shops do.

Screenshots go to $KEFU_ARTIFACTS/screenshots (default ./artifacts).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Response,
    Route,
    WebSocketRoute,
    expect,
)

from kefu.testing import Server, free_port
from tests.web.test_chat_live import PASSWORD, Agent, frame_where, page_errors, shots
from tests.web.test_chat_page import browser  # noqa: F401 - the shared chromium fixture

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
pytestmark = pytest.mark.timeout(120)
LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8">'
    b'<circle cx="4" cy="4" r="4" fill="#fc0"/></svg>'
)


IDENTITY_KEY = "widget-test-identity-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, trained_models: Path) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("widget") / "var",
        KEFU_MODELS_DIR=str(trained_models),
        KEFU_CUSTOMER_IDENTITY_KEY=IDENTITY_KEY,
    )
    srv.start(timeout=60)
    for username, role in (("boss", "admin"), ("wang", "agent")):
        made = srv.cli(
            "accounts", "create", username, "--role", role, "--display-name", "王小明",
            "--password-stdin", stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def shop(server: Server) -> Iterator[str]:
    """The operator's site on another origin: `/?lang=zh&color=...` embeds the widget with those
    data-* attributes. Its own styles are hostile on purpose (they must not reach the widget)."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/":
                self.send_response(200 if url.path == "/logo.svg" else 404)
                self.send_header("Content-Type", "image/svg+xml")
                self.end_headers()
                self.wfile.write(LOGO if url.path == "/logo.svg" else b"")
                return
            attrs = dict(parse_qsl(url.query))
            strict = attrs.pop("csp", None)
            data = "".join(f' data-{k}="{html.escape(v)}"' for k, v in attrs.items())
            body = (
                '<!doctype html><html><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                '<title>Shop</title><style nonce="n0nce">body { font: 30px serif; color: #c00; } '
                "button, div, section { background: #000 !important; color: #ff0; }</style>"
                '<script nonce="n0nce">window.hostGlobals = Object.getOwnPropertyNames(window);'
                '</script></head><body><h1>A shop</h1><button id="host-button">Host button</button>'
                f'<script src="{server.url}/widget.js"{data} async></script></body></html>'
            ).encode()
            self.send_response(200)
            if strict:  # what docs/widget.md says a strict page must allow, and no more
                ws = server.url.replace("http://", "ws://")
                self.send_header(
                    "Content-Security-Policy",
                    f"default-src 'none'; script-src 'nonce-n0nce' {server.url}; "
                    f"style-src 'nonce-n0nce'; connect-src {server.url} {ws}; img-src 'self'",
                )
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def visit(ctx: BrowserContext, url: str) -> tuple[Page, list[str]]:
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    errors = page_errors(page)
    page.goto(url)
    return page, errors


def widget(page: Page) -> Locator:
    return page.locator("kefu-widget")  # Playwright's CSS pierces the open shadow root


def stored(page: Page, server: Server) -> dict[str, Any]:
    record: dict[str, Any] = page.evaluate(
        "key => JSON.parse(localStorage.getItem(key))", f"kefu:{server.url}:default"
    )
    return record


def transcript(server: Server, conv: dict[str, str]) -> list[dict[str, Any]]:
    res = httpx.get(
        f"{server.url}/v1/conversations/{conv['id']}/messages?limit=500",
        headers={"Authorization": f"Bearer {conv['token']}"},
        timeout=10,
    )
    assert res.status_code == 200, res.text
    messages: list[dict[str, Any]] = res.json()["messages"]
    return messages


def shown_once(page: Page) -> list[str]:
    ids: list[str] = (
        widget(page).locator(".log [data-id]").evaluate_all("els => els.map(e => e.dataset.id)")
    )
    assert len(ids) == len(set(ids)), ids
    return ids


def ask(page: Page, text: str) -> None:
    box = widget(page).locator("textarea").last
    box.fill(text)
    box.press("Enter")


def test_keyboard_faq_quick_reply_and_history_after_reload(
    browser: Browser,  # noqa: F811
    server: Server,
    shop: str,
) -> None:
    ctx = browser.new_context(locale="zh-CN", viewport=DESKTOP)  # type: ignore[arg-type]
    page, errors = visit(ctx, f"{shop}/?tenant=default&lang=zh&color=%230a7f5a&title=小店客服")
    w = widget(page)
    launcher = w.get_by_role("button", name="打开在线客服")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    for _ in range(5):  # Tab from the page's own button to the launcher
        page.keyboard.press("Tab")
        if launcher.evaluate("b => b.getRootNode().activeElement === b"):
            break
    expect(launcher).to_be_focused()
    page.keyboard.press("Enter")
    panel = w.get_by_role("dialog", name="小店客服")
    expect(panel).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(w.get_by_role("textbox", name="输入您的消息")).to_be_focused()
    expect(w.locator(".msg.greeting")).to_contain_text("您好！我是智能客服")

    page.keyboard.type("押金怎么退？")
    page.keyboard.press("Enter")
    answer = w.locator('.msg.bot[data-faq="bike.deposit_refund"]')
    expect(answer).to_contain_text("押金")

    ask(page, "我要报修，车号B123456")
    group = w.get_by_role("group", name="快捷回复").last
    expect(group).to_contain_text("刹车")
    group.get_by_role("button", name="刹车", exact=True).click()
    expect(w.locator(".msg.customer .text").last).to_have_text("刹车")
    expect(w.locator(".msg.bot").last).to_contain_text("停在哪里")
    customer = ["押金怎么退？", "我要报修，车号B123456", "刹车"]
    expect(w.locator(".msg.customer .text")).to_have_text(customer)
    page.screenshot(path=str(shots() / "widget-quick-replies.png"))

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(launcher).to_be_focused()
    page.keyboard.press(" ")  # Space opens too
    expect(panel).to_be_visible()
    page.keyboard.press("Escape")
    before = shown_once(page)
    conv = stored(page, server)["conv"]
    assert len(before) == len(transcript(server, conv))

    # A reload keeps the conversation: the transcript comes back, each message once.
    page.reload()
    w.get_by_role("button", name="打开在线客服").click()
    expect(w.locator(".msg.customer .text")).to_have_text(customer)
    expect(answer).to_have_count(1)
    expect(w.locator(".choices").last).to_contain_text("刹车")  # quick replies redrawn
    assert shown_once(page) == before
    assert stored(page, server)["conv"] == conv
    assert errors == []
    ctx.close()


def test_offline_messages_are_resent_in_order_and_stored_once(
    browser: Browser,  # noqa: F811
    server: Server,
    shop: str,
) -> None:
    ctx = browser.new_context(locale="en-US", viewport=DESKTOP)  # type: ignore[arg-type]
    page, errors = visit(ctx, f"{shop}/?tenant=default&lang=en")
    w = widget(page)
    w.get_by_role("button", name="Open customer service chat").click()
    ask(page, "How do I get my deposit back?")
    expect(w.locator('.msg.bot[data-faq="bike.deposit_refund"]')).to_be_visible()

    # The network goes; two messages wait in the outbox, marked as not sent.
    ctx.set_offline(True)
    page.wait_for_function("navigator.onLine === false")
    expect(w.locator(".offline")).to_be_visible()
    ask(page, "first while offline")
    ask(page, "second while offline")
    unsent = w.locator(".msg.customer.unsent")
    expect(unsent).to_have_count(2)
    expect(unsent.first).to_have_attribute("data-state", "failed")
    page.screenshot(path=str(shots() / "widget-offline.png"))
    outbox = stored(page, server)["outbox"]
    assert [m["text"] for m in outbox] == ["first while offline", "second while offline"]

    # Back online, but the first answer is lost on the way back: the server stored the message,
    # the page never heard. Meanwhile the live socket is refused (or it would tell the page),
    # so the page must resend, with the same client_message_id, and gets the stored turn.
    posts: list[str] = []
    answers: list[int] = []

    def lossy(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        posts.append((route.request.post_data_json or {}).get("client_message_id"))
        if len(posts) == 1:
            answers.append(route.fetch().status)
            route.abort("connectionreset")
        else:
            route.continue_()

    def socket(ws: WebSocketRoute) -> None:
        if len(posts) < 3:
            ws.close()  # the page backs off and tries again
        else:
            ws.connect_to_server()

    page.on(
        "response",
        lambda r: (
            answers.append(r.status)
            if r.request.method == "POST" and r.url.endswith("/messages")
            else None
        ),
    )
    page.route("**/v1/conversations/*/messages", lossy)
    page.route_web_socket(re.compile(r"/v1/conversations/[^/]+/ws\?"), socket)
    ctx.set_offline(False)
    texts = ["How do I get my deposit back?", "first while offline", "second while offline"]
    expect(w.locator(".msg.customer .text")).to_have_text(texts)
    expect(unsent).to_have_count(0)
    expect(w.locator(".offline")).to_be_hidden()
    assert posts == [outbox[0]["cid"], outbox[0]["cid"], outbox[1]["cid"]]
    assert answers == [201, 200, 201]  # stored once; the resend was answered as a duplicate
    assert stored(page, server)["outbox"] == []

    conv = stored(page, server)["conv"]
    messages = transcript(server, conv)
    mine = [m for m in messages if m["role"] == "customer"]
    assert [m["text"] for m in mine] == texts
    counts = Counter(m["client_message_id"] for m in mine)
    assert set(counts.values()) == {1}
    assert {outbox[0]["cid"], outbox[1]["cid"]} <= set(counts)
    expect(w.locator(".msg.bot:not(.greeting)")).to_have_count(
        sum(1 for m in messages if m["role"] == "bot")
    )
    assert sorted(map(int, shown_once(page))) == [m["id"] for m in messages]
    assert errors == []
    ctx.close()


@pytest.mark.parametrize(
    ("lang", "locale", "viewport", "labels"),
    [
        ("zh", "zh-CN", PHONE, ("打开在线客服", "关闭在线客服", "发送消息", "输入您的消息",
                                "聊天记录")),
        ("auto", "en-US", DESKTOP, ("Open customer service chat", "Close chat", "Send message",
                                    "Type your message", "Conversation")),
    ],
)  # fmt: skip
def test_layout_labels_and_isolation(
    browser: Browser,  # noqa: F811
    server: Server,
    shop: str,
    lang: str,
    locale: str,
    viewport: dict[str, int],
    labels: tuple[str, str, str, str, str],
) -> None:
    # Reduced motion: the panel's opening animation would make a busy machine measure it mid-way.
    ctx = browser.new_context(
        locale=locale,
        viewport=viewport,  # type: ignore[arg-type]
        reduced_motion="reduce",
    )
    # zh: a logo that loads; en: one that doesn't, and the launcher keeps its icon.
    logo = f"{shop}/logo.svg" if lang == "zh" else f"{shop}/missing.png"
    query = {
        "tenant": "default",
        "lang": lang,
        "color": "#0a7f5a",
        "position": "left",
        "logo": logo,
    }
    if lang != "zh":
        query["csp"] = "strict"  # no 'unsafe-inline' styles: the widget must still be styled
    page, errors = visit(ctx, f"{shop}/?{urlencode(query)}")
    w = widget(page)
    opener, closer, send, box, log = labels
    launcher = w.get_by_role("button", name=opener)
    expect(launcher).to_have_attribute("aria-controls", "kefu-panel")
    # The page's `button { background: #000 !important }` stays out; the brand colour is in.
    assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(10, 127, 90)"
    assert launcher.bounding_box()["x"] < 100  # type: ignore[index]  # data-position="left"
    expect(launcher.locator("img" if lang == "zh" else "svg")).to_have_count(1)
    launcher.click()
    panel = w.locator(".panel")
    expect(panel).to_have_attribute("role", "dialog")
    expect(panel).to_have_attribute("aria-modal", "false")
    expect(w.get_by_role("log", name=log)).to_have_attribute("aria-live", "polite")
    expect(w.get_by_role("button", name=closer)).to_be_visible()
    expect(w.get_by_role("button", name=send)).to_be_visible()
    expect(w.get_by_role("textbox", name=box)).to_be_focused()
    ask(page, "押金怎么退？" if lang == "zh" else "How do I get my deposit back?")
    expect(w.locator('.msg.bot[data-faq="bike.deposit_refund"]')).to_be_visible()
    frame = panel.bounding_box()
    assert frame is not None
    if viewport == PHONE:  # full screen, the launcher out of the way
        rect = tuple(round(frame[k]) for k in ("x", "y", "width", "height"))
        assert rect == (0, 0, 390, 844)
        expect(launcher).to_be_hidden()
        page.screenshot(path=str(shots() / "widget-phone.png"))
    else:  # a corner panel, the page still usable beside it
        assert frame["width"] < 400 and frame["x"] < 100
        page.screenshot(path=str(shots() / "widget-desktop.png"))
    # Nothing leaks into the host: one global, and the page's own button keeps its style.
    added = page.evaluate(
        "Object.getOwnPropertyNames(window).filter(n => !window.hostGlobals.includes(n))"
    )
    assert added == ["hostGlobals", "kefuWidget"]  # the page's own probe, and ours
    host_button = page.locator("#host-button")
    assert host_button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(0, 0, 0)"
    page.evaluate("kefuWidget.close()")
    expect(panel).to_be_hidden()
    expect(launcher).to_be_focused()
    assert errors == []
    ctx.close()


def admin_put(server: Server, body: dict[str, Any]) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        res = http.post("/v1/auth/login", json={"username": "boss", "password": PASSWORD})
        csrf = {"X-CSRF-Token": res.json()["csrf_token"]}
        assert http.put("/v1/admin/widget", json=body, headers=csrf).status_code == 200


def test_a_site_outside_allowed_origins_or_a_wrong_tenant_gets_no_widget(
    browser: Browser,  # noqa: F811
    server: Server,
    shop: str,
) -> None:
    admin_put(server, {"allowed_origins": ["https://shop.example"]})
    try:
        ctx = browser.new_context()
        for tenant, status, reason in (
            ("default", 403, "allowed_origins"),
            ("acme", 404, "tenant"),
        ):
            page = ctx.new_page()
            errors = page_errors(page)
            warnings: list[str] = []
            page.on(
                "console",
                lambda m, seen=warnings: seen.append(m.text) if m.type == "warning" else None,
            )
            with page.expect_response(lambda r: "/v1/widget/config" in r.url) as answered:
                page.goto(f"{shop}/?tenant={tenant}")
            assert answered.value.status == status
            page.wait_for_timeout(500)
            assert widget(page).count() == 0
            assert [w for w in warnings if "kefu widget" in w] == warnings[-1:]  # one, and why
            assert reason in warnings[-1]
            assert errors == []
            assert page.evaluate("typeof window.kefuWidget.open") == "function"  # harmless
        ctx.close()
    finally:
        admin_put(server, {"allowed_origins": []})


def test_agent_queue_messages_and_survey(
    browser: Browser,  # noqa: F811
    server: Server,
    shop: str,
) -> None:
    agent = Agent(server, "wang")
    try:
        ctx = browser.new_context(locale="zh-CN", viewport=PHONE)  # type: ignore[arg-type]
        page, errors = visit(ctx, f"{shop}/?tenant=default&lang=zh")
        w = widget(page)
        w.get_by_role("button", name="打开在线客服").click()
        ask(page, "转人工")
        expect(w.locator(".queue")).to_contain_text("您目前排在第 1 位")
        agent.status("online")
        expect(w.locator('.msg.system[data-kind="joined"]')).to_contain_text("王小明")
        expect(w.locator(".queue")).to_be_hidden()
        cid = stored(page, server)["conv"]["id"]
        with agent.socket() as ws:  # typing, both ways
            ws.send(json.dumps({"type": "watch", "conversation_id": cid}))
            ws.send(json.dumps({"type": "typing", "conversation_id": cid}))
            expect(w.locator(".typing")).to_have_text("客服正在输入…")
            expect(w.locator(".typing")).to_have_attribute("aria-live", "polite")
            w.locator("textarea").last.press_sequentially("好的")
            seen = frame_where(ws, lambda f: f.get("type") == "typing")
            assert seen == {"type": "typing", "role": "customer", "conversation_id": cid}
            w.locator("textarea").last.fill("")
        agent.say(cid, "您好，<b>请问</b>哪辆车？")
        expect(w.locator(".msg.agent .text")).to_have_text(["您好，<b>请问</b>哪辆车？"])
        expect(w.locator(".msg.agent .who")).to_have_text(["王小明"])
        assert w.locator(".msg.agent b").count() == 0
        agent.call("POST", f"/conversations/{cid}/close")
        survey = w.locator(".survey")
        expect(survey).to_be_visible()
        survey.get_by_role("button", name="4 分", exact=True).click()
        survey.get_by_role("textbox").fill("很好")
        page.screenshot(path=str(shots() / "widget-survey-phone.png"))
        with page.expect_response(lambda r: r.url.endswith("/rating")) as rated:
            survey.get_by_role("button", name="提交评价").click()
        assert rated.value.status == 201
        expect(w.locator(".survey-done")).to_have_text("感谢您的评价！")
        # A reload: the panel was open, so it opens again; rated, so no survey comes back.
        page.reload()
        expect(w.get_by_role("dialog")).to_be_visible()
        expect(w.locator(".msg.agent")).to_have_count(1)
        expect(w.locator('.msg.system[data-kind="closed"]')).to_have_count(1)
        expect(w.locator(".survey")).to_have_count(0)
        assert errors == []
        ctx.close()
    finally:
        agent.close()


def test_a_signed_customer_gets_cards_and_links_and_their_own_conversation(
    browser: Browser,  # noqa: F811
    server: Server,
    shop: str,
) -> None:
    """A signed-in rider and guest (the demo operator's c-1001): a flow acts on their account and
    answers with a card and a map link; another customer on the same browser starts afresh."""
    signature = hmac.new(IDENTITY_KEY.encode(), b"c-1001", hashlib.sha256).hexdigest()
    query = urlencode({"tenant": "default", "lang": "zh", "customer": "c-1001",
                       "customer-name": "张三", "signature": signature})  # fmt: skip
    ctx = browser.new_context(locale="zh-CN", viewport=DESKTOP)  # type: ignore[arg-type]
    page, errors = visit(ctx, f"{shop}/?{query}")
    w = widget(page)
    w.get_by_role("button", name="打开在线客服").click()
    ask(page, "怎么去我订的房子")
    expect(w.locator(".msg.bot").last).to_contain_text("出发")
    ask(page, "北京南站")
    link = w.get_by_role("link", name="打开地图")
    expect(link).to_be_visible()
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in (link.get_attribute("rel") or "")
    assert (link.get_attribute("href") or "").startswith("http")
    ask(page, "我要报修，车号B123456")
    w.get_by_role("button", name="刹车", exact=True).last.click()
    expect(w.locator(".msg.bot").last).to_contain_text("停在哪里")
    ask(page, "国贸")
    expect(w.locator(".msg.bot").last).to_contain_text("B123456")
    w.get_by_role("button", name="对", exact=True).last.click()
    expect(w.locator(".card").last).to_contain_text("工单号")
    page.screenshot(path=str(shots() / "widget-card-link.png"))
    key = f"kefu:{server.url}:default:c-1001"
    mine = page.evaluate("key => JSON.parse(localStorage.getItem(key))", key)
    assert mine and mine["conv"]["id"]
    # Someone else signs in on this browser: a new conversation, none of the first one's lines.
    other = urlencode({"tenant": "default", "lang": "zh", "customer": "c-1002"})
    page.goto(f"{shop}/?{other}")
    w = widget(page)
    w.get_by_role("button", name="打开在线客服").click()
    expect(w.locator(".msg.customer")).to_have_count(0)
    ask(page, "押金怎么退？")
    expect(w.locator('.msg.bot[data-faq="bike.deposit_refund"]')).to_be_visible()
    theirs = page.evaluate(
        "key => JSON.parse(localStorage.getItem(key))", key.replace("1001", "1002")
    )
    assert theirs["conv"]["id"] != mine["conv"]["id"]
    assert errors == []
    ctx.close()


def test_two_tabs_sending_their_first_message_share_one_conversation(
    browser: Browser,  # noqa: F811
    server: Server,
    shop: str,
) -> None:
    """Tab 1's first message waits on a slow start; tab 2 opens meanwhile and sends the queued
    message too. One conversation is started, and the message is stored once. (Tab 2 may still
    ask to start one: Chromium syncs localStorage between tabs asynchronously, so the start
    carries the message's key and the server answers with the same conversation.)"""
    ctx = browser.new_context(locale="zh-CN", viewport=DESKTOP)  # type: ignore[arg-type]
    held: list[Route] = []
    started: list[str] = []

    def hold(route: Route) -> None:
        if route.request.method == "POST":
            started.append(route.request.url)
            held.append(route)
        else:
            route.continue_()

    ctx.route(f"{server.url}/v1/conversations", hold)
    begun: list[dict[str, str]] = []

    def note(response: Response) -> None:
        if response.request.method == "POST" and response.url.endswith("/v1/conversations"):
            begun.append(response.json())

    ctx.on("response", note)
    first, errors = visit(ctx, f"{shop}/?tenant=default&lang=zh")
    widget(first).get_by_role("button", name="打开在线客服").click()
    ask(first, "押金怎么退？")
    first.wait_for_function("() => !!localStorage.length")  # the outbox holds it
    second, _ = visit(ctx, f"{shop}/?tenant=default&lang=zh")
    expect(widget(second).locator("kefu-launcher, button").first).to_be_attached()
    second.wait_for_timeout(1000)  # give tab 2 the chance to start a second conversation
    assert len(held) == 1
    for route in held:
        route.continue_()
    expect(widget(first).locator('.msg.bot[data-faq="bike.deposit_refund"]')).to_be_visible()
    conv = stored(first, server)["conv"]
    said = [m for m in transcript(server, conv) if m["role"] == "customer"]
    assert [m["text"] for m in said] == ["押金怎么退？"]
    assert len(started) <= 2
    assert len({r["id"] for r in begun}) == 1, begun
    assert errors == []
    ctx.close()
