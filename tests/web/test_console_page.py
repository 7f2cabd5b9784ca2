"""The agent console in a real headless browser: sign-in, transcripts shown as text (a
customer's HTML never runs), PII masked until an agent reveals it (audited)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Dialog, expect

from kefu.testing import Server
from tests.web.test_chat_page import browser  # noqa: F401  (the shared browser fixture)

PASSWORD = "correct horse battery"
HOSTILE = "<img src=x onerror=alert(1)> 我的手机13812345678"


def _post(url: str, body: dict[str, object], token: str | None = None) -> dict[str, object]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as res:
        data: dict[str, object] = json.loads(res.read())
        return data


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("console") / "var")
    srv.start()
    made = srv.cli(
        "accounts", "create", "alice", "--role", "agent", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert made.returncode == 0, made.stderr
    conv = _post(f"{srv.url}/v1/conversations", {"language": "zh"})
    _post(
        f"{srv.url}/v1/conversations/{conv['id']}/messages",
        {"text": HOSTILE, "client_message_id": "x1"},
        str(conv["token"]),
    )
    yield srv
    srv.stop()


def test_customer_html_is_shown_as_text_and_pii_masked(
    browser: Browser,  # noqa: F811
    console_server: Server,
) -> None:
    page = browser.new_page(locale="en-US")
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(console_server.url + "/console?lang=en")
    page.fill("#username", "alice")
    page.fill("#password", "wrong password!")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#who")).to_contain_text("alice")
    page.click("#tab-history")  # agents start on their queue; every role has the history
    page.locator("#conversations button").first.click()
    customer = page.locator(".msg.customer .text").first
    expect(customer).to_contain_text("<img src=x onerror=alert(1)>")
    expect(customer).to_contain_text("138****5678")
    assert "13812345678" not in page.content()
    assert page.locator("#messages img").count() == 0
    # Unmasking is allowed for agents, and shows the number.
    page.click("#reveal")
    expect(customer).to_contain_text("13812345678")
    assert page.locator("#messages img").count() == 0
    page.wait_for_timeout(300)  # an onerror handler would have fired by now
    assert dialogs == []
    page.click("#signout")
    expect(page.locator("#login")).to_be_visible()
    page.close()


def test_console_headers_forbid_framing_and_inline_script(console_server: Server) -> None:
    with urllib.request.urlopen(console_server.url + "/console", timeout=5) as res:
        csp = res.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1]
        assert res.headers["X-Frame-Options"] == "DENY"


def test_the_reveal_was_audited(console_server: Server) -> None:
    result = console_server.cli("audit", "--action", "pii.view", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert events and events[0]["actor"]["name"] == "alice"
    assert events[0]["target"]["type"] == "conversation"
