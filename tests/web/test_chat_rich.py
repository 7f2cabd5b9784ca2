"""Rich replies on the chat page: a flow's quick replies are buttons that answer it, cards show
their fields. Real server with the trained intent model, real headless chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from kefu.testing import Server
from tests.web.test_chat_page import browser  # noqa: F401 - the shared chromium fixture


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, trained_models: Path) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("rich") / "var", KEFU_MODELS_DIR=str(trained_models))
    srv.start(timeout=60)
    yield srv
    srv.stop()


def test_a_quick_reply_answers_the_flows_question(
    browser: Browser,  # noqa: F811
    server: Server,
    tmp_path: Path,
) -> None:
    page = browser.new_page(locale="zh-CN", viewport={"width": 480, "height": 800})
    page.goto(server.url + "/")
    page.fill("#text", "我要报修，车号B123456")
    page.click("#send")
    buttons = page.locator(".choices button")
    expect(buttons.first).to_be_visible()
    expect(page.locator(".choices").last).to_contain_text("刹车")
    page.get_by_role("button", name="刹车", exact=True).last.click()
    expect(page.locator(".msg.customer").last).to_have_text("刹车")
    expect(page.locator(".msg.bot").last).to_contain_text("停在哪里")
    page.fill("#text", "国贸")
    page.click("#send")
    expect(page.locator(".msg.bot").last).to_contain_text("B123456")
    page.get_by_role("button", name="对", exact=True).last.click()
    card = page.locator(".card").last
    expect(card).to_contain_text("工单号")
    page.screenshot(path=str(tmp_path / "chat-flow.png"), full_page=True)
    page.close()
