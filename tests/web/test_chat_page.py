"""The chat page in a real headless browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from kefu.testing import Server
from tests.conftest import service_missing


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        service_missing("chromium", "not installed (apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("web") / "var")
    srv.start()
    yield srv
    srv.stop()


def test_deposit_question_gets_deposit_answer(browser: Browser, server: Server) -> None:
    page = browser.new_page(locale="zh-CN")
    page.goto(server.url + "/")
    expect(page.locator("h1")).to_have_text("kefu 智能客服")
    page.fill("#text", "押金怎么退？")
    page.click("#send")
    reply = page.locator(".msg.bot").nth(1)
    expect(reply).to_have_attribute("data-faq", "bike.deposit_refund")
    expect(reply).to_contain_text("押金")
    expect(page.locator(".msg.customer")).to_have_text("押金怎么退？")
    page.close()


def test_english_page_and_enter_to_send(browser: Browser, server: Server) -> None:
    page = browser.new_page()
    page.goto(server.url + "/?lang=en")
    expect(page.locator("#send")).to_have_text("Send")
    page.fill("#text", "How do I get my deposit back?")
    page.press("#text", "Enter")
    reply = page.locator(".msg.bot").nth(1)
    expect(reply).to_have_attribute("data-faq", "bike.deposit_refund")
    expect(reply).to_contain_text("deposit")
    page.close()


def test_reply_text_is_not_interpreted_as_html(browser: Browser, server: Server) -> None:
    page = browser.new_page()
    page.goto(server.url + "/?lang=en")
    page.fill("#text", "<img src=x onerror=\"document.title='pwned'\">")
    page.click("#send")
    expect(page.locator(".msg.bot").nth(1)).to_be_visible()
    assert page.title() != "pwned"
    assert page.locator(".msg.customer img").count() == 0
    page.close()


def test_screenshot_for_review(browser: Browser, server: Server, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 480, "height": 720})
    page.goto(server.url + "/")
    page.fill("#text", "开不了锁怎么办")
    page.click("#send")
    expect(page.locator(".msg.bot").nth(1)).to_be_visible()
    shot = tmp_path / "chat.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 5000
    page.close()
