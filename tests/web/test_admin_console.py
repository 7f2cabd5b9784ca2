"""The admin console (/admin) in a real headless chromium against a real `kefu serve` (SQLite, a
copy of the trained intent model): an entry made in the page answers at once in the embeddable
widget on another site; two tabs saving the same entry meet a stale-version notice; history
and revert; a bad import row is named; a fallback turn reviewed into an entry is answered the
next time; retraining shows progress, then the evaluation and its decision; analysts read
knowledge without changing it, agents are refused. Screenshots of every section go to
$KEFU_ARTIFACTS/screenshots/admin-*.png (default ./artifacts).
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Response, ViewportSize, expect

import kefu.web
from kefu.i18n import catalog
from kefu.testing import Server, free_port
from kefu.web import routes
from kefu.web.routes import admin_strings
from tests.web.test_chat_live import shots
from tests.web.test_chat_page import browser  # noqa: F401 - the shared chromium fixture

PASSWORD = "correct horse battery"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
ENTRY = "bike.membership_freeze"
QUESTION = "How do I freeze my membership card?"
ANSWER = "Open the app, go to Wallet > Membership and tap Freeze: up to 30 days a year."
PERCENT = re.compile(r"^\d{1,3}\.\d%$")
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, trained_models: Path) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("admin")
    # Retraining here puts a model live: in a copy, not the session's shared models.
    models = base / "models"
    shutil.copytree(trained_models, models)
    srv = Server(base / "var", KEFU_MODELS_DIR=str(models))
    srv.start(timeout=60)
    for username, role in (("boss", "admin"), ("lin", "analyst"), ("wang", "agent")):
        made = srv.cli(
            "accounts", "create", username, "--role", role, "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def shop(server: Server) -> Iterator[str]:
    """A site on another origin embedding the widget with one script tag."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>'
        f'<body><h1>A shop</h1><script src="{server.url}/widget.js" data-tenant="default" '
        'data-lang="en" async></script></body></html>'
    ).encode()

    class Host(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Host)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


class Watch:
    """A page's script errors (CSP violations included) and its failed requests, except the
    401 of GET /v1/auth/me before sign-in and a favicon kefu hasn't."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.failed: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _response(self, response: Response) -> None:
        if response.status >= 400 and not response.url.endswith(("/v1/auth/me", "/favicon.ico")):
            path = response.url.split("://", 1)[1].split("/", 1)[1].split("?")[0]
            self.failed.append(f"{response.status} {response.request.method} /{path}")


def open_admin(
    browser: Browser,  # noqa: F811
    server: Server,
    username: str,
    *,
    lang: str = "en",
    section: str = "",
    viewport: ViewportSize = DESKTOP,
) -> tuple[Page, Watch]:
    ctx = browser.new_context(locale="zh-CN" if lang == "zh" else "en-US", viewport=viewport)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    watch = Watch(page)
    page.goto(f"{server.url}/admin?lang={lang}" + (f"#{section}" if section else ""))
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#signout")).to_be_visible()
    return page, watch


def customer_asks(server: Server, text: str, lang: str = "en") -> dict[str, Any]:
    """A new conversation's first message through the customer API; the bot's first reply."""
    with httpx.Client(base_url=server.url, timeout=15) as http:
        conv = http.post("/v1/conversations", json={"language": lang}).json()
        res = http.post(
            f"/v1/conversations/{conv['id']}/messages",
            json={"text": text, "client_message_id": "m1"},
            headers={"Authorization": f"Bearer {conv['token']}"},
        )
    assert res.status_code == 201, res.text
    reply: dict[str, Any] = res.json()["replies"][0]
    return reply


STATIC = Path(kefu.web.__file__).resolve().parent / "static"


def test_the_scripts_strings_exist_in_both_languages() -> None:
    """Every `T.name` the admin scripts read is passed to them in zh and en, and no admin
    string shadows a console one the shared helpers read."""
    used: set[str] = set()
    for script in STATIC.glob("admin*.js"):
        used |= set(re.findall(r"\bT\.([a-z0-9_]+)", script.read_text(encoding="utf-8")))
    assert len(used) > 100
    for lang in ("zh", "en"):
        assert sorted(used - admin_strings(lang).keys()) == [], lang
    zh, en = ({k for k in catalog(lang) if k.startswith("admin.")} for lang in ("zh", "en"))
    assert zh == en
    admin_names = {k.removeprefix("admin.").replace(".", "_") for k in en}
    shared = {k.replace(".", "_") for k in routes._ADMIN_SHARED}
    assert admin_names & shared == set()


def test_the_page_and_its_assets_are_served_under_a_strict_policy(server: Server) -> None:
    page = httpx.get(f"{server.url}/admin?lang=zh", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == routes.CONSOLE_CSP
    assert page.headers["x-frame-options"] == "DENY"
    assert '<html lang="zh-CN">' in page.text
    for name in routes._ADMIN_ASSETS:
        asset = httpx.get(f"{server.url}/admin/{name}", timeout=10)
        assert asset.status_code == 200, name
        assert asset.text == (STATIC / name).read_text(encoding="utf-8")
    assert {p.name for p in STATIC.glob("admin*")} == set(routes._ADMIN_ASSETS)
    assert httpx.get(f"{server.url}/admin/routes.py", timeout=10).status_code == 404
    preview = httpx.get(
        f"{server.url}/admin/widget-preview",
        params={"lang": "en", "title": '"><script>alert(1)</script>', "color": "#0a7f5a"},
        timeout=10,
    )
    assert preview.status_code == 200
    assert "<script>alert(1)" not in preview.text
    assert 'data-color="#0a7f5a"' in preview.text
    bad = httpx.get(f"{server.url}/admin/widget-preview?color=red", timeout=10)
    assert bad.status_code == 422


def new_entry(page: Page) -> None:
    page.click("#kb-new")
    expect(page.locator("#kb-id")).to_be_focused()
    page.fill("#kb-id", ENTRY)
    page.fill("#kb-f-skill", "bike")
    page.fill("#kb-f-tags", "membership, account")
    page.fill("#kb-q-zh", "会员卡怎么冻结？")
    page.fill("#kb-q-en", QUESTION)
    page.fill("#kb-sim-zh", "会员能暂停吗\n怎么暂停会员")
    page.fill("#kb-sim-en", "Can I pause my membership?\nPause membership card")
    page.fill("#kb-kw-zh", "冻结, 会员卡")
    page.fill("#kb-kw-en", "freeze, membership")
    page.fill("#kb-a-zh", "打开App，进入“钱包 > 会员”，点击“冻结”：每年最多30天。")
    page.fill("#kb-a-en", ANSWER)
    page.click("#kb-save")
    expect(page.locator("#kb-form-status")).to_have_text(
        f"Entry {ENTRY} created: the bot answers with it now."
    )


def test_an_entry_made_in_the_page_answers_at_once_in_the_widget(
    browser: Browser,  # noqa: F811
    server: Server,
    shop: str,
) -> None:
    page, watch = open_admin(browser, server, "boss")
    expect(page.locator("#sections a[aria-current=page]")).to_have_text("Knowledge base")
    expect(page.locator("#kb-count")).to_contain_text("Entries: ")
    page.screenshot(path=str(shots() / "admin-knowledge-en.png"))
    new_entry(page)
    versions = page.locator("#kb-versions > li")
    expect(versions).to_have_count(1)
    expect(versions.first).to_contain_text("created")

    # A customer on another site asks through the widget: answered with the new entry.
    site = browser.new_context(locale="en-US", viewport=DESKTOP)
    shop_page = site.new_page()
    shop_watch = Watch(shop_page)
    shop_page.goto(shop)
    widget = shop_page.locator("kefu-widget")  # Playwright's CSS pierces the open shadow root
    widget.get_by_role("button", name="Open customer service chat").click()
    box = widget.get_by_role("textbox", name="Type your message")
    box.fill(QUESTION)
    box.press("Enter")
    expect(widget.locator(f'.msg.bot[data-faq="{ENTRY}"]')).to_contain_text(ANSWER)
    assert shop_watch.errors == []
    site.close()

    # Two tabs edit it: the second save is refused as stale, and the reload shows the first.
    other = page.context.new_page()
    other_watch = Watch(other)
    other.goto(f"{server.url}/admin?lang=en")
    other.fill("#kb-q", ENTRY)
    other.locator(f'#kb-rows tr[data-id="{ENTRY}"] button').click()
    expect(other.locator("#kb-a-en")).to_have_value(ANSWER)
    page.fill("#kb-a-en", ANSWER + " Unfreeze any time.")
    page.click("#kb-save")
    expect(page.locator("#kb-form-status")).to_contain_text("saved")
    expect(versions).to_have_count(2)
    diff = versions.first.locator("tr", has_text="answer.en")
    expect(diff.locator(".before")).to_have_text(ANSWER)
    expect(diff.locator(".after")).to_have_text(ANSWER + " Unfreeze any time.")
    other.fill("#kb-a-en", "A stale edit.")
    other.click("#kb-save")
    expect(other.locator("#kb-stale")).to_be_visible()
    expect(other.locator("#kb-reload")).to_be_focused()
    other.click("#kb-reload")
    expect(other.locator("#kb-a-en")).to_have_value(ANSWER + " Unfreeze any time.")
    expect(other.locator("#kb-stale")).to_be_hidden()
    assert other_watch.errors == []
    assert other_watch.failed == [f"409 PUT /v1/admin/knowledge/{ENTRY}"]
    other.close()
    page.screenshot(path=str(shots() / "admin-entry-en.png"), full_page=True)

    # Back to version 1, as a new version.
    page.locator('#kb-versions > li[data-version="1"]').get_by_role(
        "button", name="Revert to version 1"
    ).click()
    expect(page.locator("#kb-form-status")).to_have_text(f"Entry {ENTRY} is back to version 1.")
    expect(page.locator("#kb-a-en")).to_have_value(ANSWER)
    expect(versions).to_have_count(3)
    expect(versions.first).to_contain_text("reverted")
    assert watch.errors == []
    assert watch.failed == []
    page.context.close()


def test_a_csv_import_names_the_bad_row_and_a_good_one_imports(
    browser: Browser,  # noqa: F811
    server: Server,
    tmp_path: Path,
) -> None:
    columns = ["id", "pack", "skill", "question_zh", "question_en", "answer_zh", "answer_en"]
    good = [
        "bike.import_ok", "imported", "bike", "导入的问题？", "An imported question?",
        "导入的答案。", "An imported answer.",
    ]  # fmt: skip
    bad = ["bike.import_bad", "imported", "bike", "坏行？", "A bad row?", "坏行的答案。", ""]

    def write(name: str, *rows: list[str]) -> Path:
        out = io.StringIO()
        csv.writer(out).writerows([columns, *rows])
        path = tmp_path / name
        path.write_text(out.getvalue(), encoding="utf-8")
        return path

    page, watch = open_admin(browser, server, "boss")
    for label, suffix in (("CSV", ".csv"), ("Excel", ".xlsx"), ("YAML", ".yaml")):
        with page.expect_download() as download:
            page.get_by_role("link", name=label, exact=True).click()
        assert download.value.suggested_filename.endswith(suffix)
        assert download.value.failure() is None
    page.set_input_files("#kb-file", str(write("faq-bad.csv", good, bad)))
    page.click("#kb-import button[type=submit]")
    problems = page.locator("#kb-import-problems li")
    expect(page.locator("#kb-import-errors")).to_be_visible()
    expect(problems.first).to_contain_text("row 3")
    expect(problems.first).to_contain_text("answer_en")
    assert all("row 2" not in text for text in problems.all_text_contents())
    page.screenshot(path=str(shots() / "admin-import-errors-en.png"))
    # Nothing was imported: the good row is not in the list either.
    page.fill("#kb-q", "bike.import")
    expect(page.locator("#kb-rows")).to_contain_text("No entries match.")

    page.set_input_files("#kb-file", str(write("faq-good.csv", good)))
    page.click("#kb-import button[type=submit]")
    expect(page.locator("#kb-import-result")).to_have_text("Imported: 1 new, 0 updated (imported).")
    expect(page.locator("#kb-import-errors")).to_be_hidden()
    row = page.locator('#kb-rows tr[data-id="bike.import_ok"]')
    row.get_by_role("button", name="Edit entry bike.import_ok").click()
    expect(page.locator("#kb-a-en")).to_have_value("An imported answer.")
    # Deleting asks first; the list comes back without it.
    page.click("#kb-delete")
    expect(page.locator("#kb-confirm")).to_contain_text("Delete entry bike.import_ok?")
    expect(page.locator("#kb-delete-no")).to_be_focused()
    page.click("#kb-delete-no")
    expect(page.locator("#kb-confirm")).to_be_hidden()
    page.click("#kb-delete")
    page.click("#kb-delete-yes")
    expect(page.locator("#kb-list-view")).to_be_visible()
    expect(row).to_have_count(0)
    expect(page.locator("#announce")).to_have_text("Entry bike.import_ok deleted.")
    assert watch.errors == []
    assert watch.failed == ["422 POST /v1/admin/knowledge/import"]
    page.context.close()


def test_a_reviewed_fallback_is_answered_with_its_entry_next_time(
    browser: Browser,  # noqa: F811
    server: Server,
) -> None:
    question = "Can I bring my parrot on the scooter?"
    first = customer_asks(server, question)
    assert first["payload"].get("faq") is None, first  # kefu could not answer it

    page, watch = open_admin(browser, server, "boss", section="review")
    page.get_by_role("button", name="Fallback", exact=True).click()
    expect(page.get_by_role("button", name="Fallback", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator("#review-list")).to_have_attribute("aria-busy", "false")
    turn = page.locator("#review-list > li", has_text="parrot").first
    expect(turn.locator(".said")).to_have_text(question)
    expect(turn).to_contain_text("Couldn't answer")
    turn.get_by_role("searchbox", name="Find an entry").fill("carry a passenger")
    entry = turn.get_by_role("combobox", name="Right FAQ entry")
    expect(entry.locator('option[value="bike.passenger"]')).to_be_attached()
    entry.select_option("bike.passenger")
    page.screenshot(path=str(shots() / "admin-review-en.png"), full_page=True)
    turn.get_by_role("button", name="Mark as reviewed").click()
    done = page.locator("#review-list > li.reviewed .review-done", has_text="bike.passenger")
    expect(done).to_contain_text("Reviewed by boss")
    expect(done).to_be_focused()

    again = customer_asks(server, question)
    assert again["payload"].get("faq") == "bike.passenger", again

    # The reviewed turn is listed under "Reviewed", and the entry's history says why.
    page.get_by_role("radio", name="Reviewed", exact=True).check()
    expect(page.locator("#review-list > li", has_text="parrot").first).to_have_class("reviewed")
    history = httpx.Client(base_url=server.url, timeout=10)
    login = history.post("/v1/auth/login", json={"username": "boss", "password": PASSWORD})
    assert login.status_code == 200
    versions = history.get("/v1/admin/knowledge/bike.passenger/history").json()
    assert versions[0]["action"] == "review", versions[0]
    history.close()
    assert watch.errors == []
    assert watch.failed == []
    page.context.close()


def test_retraining_shows_progress_then_the_evaluation_and_decision(
    browser: Browser,  # noqa: F811
    server: Server,
) -> None:
    page, watch = open_admin(browser, server, "boss", section="intents")
    expect(page.locator("#intent-rows tr").first).to_be_visible()
    expect(page.locator("#train-runs")).to_contain_text("No training runs yet.")
    page.click("#train-start")
    run = page.locator("#train-run")
    expect(run).to_have_attribute("data-status", "running")
    expect(page.locator("#train-progress")).to_be_visible()
    expect(page.locator("#train-start")).to_be_disabled()
    expect(run).not_to_have_attribute("data-status", "running", timeout=150_000)
    status = run.get_attribute("data-status")
    assert status in ("promoted", "refused"), page.locator("#train-status").text_content()
    expect(page.locator("#train-eval")).to_be_visible()
    for cell in ("#train-c-acc", "#train-c-f1", "#train-p-acc", "#train-p-f1"):
        expect(page.locator(cell)).to_have_text(PERCENT)
    decision = page.locator("#train-decision")
    expect(decision).to_contain_text("Put live." if status == "promoted" else "Not put live.")
    expect(decision).to_contain_text("Reason:")
    expect(page.locator("#train-runs tr")).to_have_count(1)
    page.screenshot(path=str(shots() / "admin-intents-en.png"), full_page=True)
    if status == "refused":  # worse on the held-out examples: an admin may overrule
        page.click("#train-force")
        expect(run).to_have_attribute("data-status", "promoted")
        expect(page.locator("#train-status")).to_contain_text("put live anyway")
    else:
        expect(page.locator("#train-force")).to_be_hidden()
    expect(page.locator("#train-start")).to_be_enabled()

    # A new intent, then deleted; one that starts a flow can't be.
    page.click("#intent-new")
    expect(page.locator("#intent-name")).to_be_focused()
    page.fill("#intent-name", "bike.lost_card")
    page.fill("#intent-ex-en", "I lost my membership card\nMy card is gone")
    page.click("#intent-form button[type=submit]")
    expect(page.locator('#intent-rows tr[data-name="bike.lost_card"]')).to_contain_text("2")
    page.click("#intent-delete")
    page.click("#intent-delete-yes")
    expect(page.locator('#intent-rows tr[data-name="bike.lost_card"]')).to_have_count(0)
    page.locator('#intent-rows tr[data-name="common.greet"]').get_by_role("button").click()
    page.click("#intent-delete")
    page.click("#intent-delete-yes")
    expect(page.locator("#intent-error")).to_have_text(
        "A flow starts on this intent, so it can't be deleted."
    )
    assert watch.errors == []
    assert watch.failed == ["409 DELETE /v1/admin/intents/common.greet"]
    page.context.close()


def test_an_analyst_reads_knowledge_and_an_agent_is_refused(
    browser: Browser,  # noqa: F811
    server: Server,
) -> None:
    page, watch = open_admin(browser, server, "lin", section="settings")
    links = page.locator("#sections a:visible")
    expect(links).to_have_text(["Knowledge base", "Try it", "Intents", "Conversation review"])
    # No settings for analysts: the page opens on the knowledge base instead.
    expect(page.locator("#knowledge")).to_be_visible()
    expect(page.locator("#settings")).to_be_hidden()
    expect(page.locator("#knowledge .readonly-note")).to_be_visible()
    for hidden in ("#kb-new", "#kb-import"):
        expect(page.locator(hidden)).to_be_hidden()
    page.locator("#kb-rows tr").first.get_by_role("button", name="View").click()
    expect(page.locator("#kb-a-en")).to_be_disabled()  # the whole fieldset is
    expect(page.locator("#kb-save")).to_be_hidden()
    expect(page.locator("#kb-delete")).to_be_hidden()
    expect(page.locator("#kb-versions > li").first).to_be_visible()
    expect(page.locator("#kb-versions button")).to_have_count(0)  # no revert
    page.screenshot(path=str(shots() / "admin-analyst-en.png"))
    page.click("#sections a[href='#intents']")
    expect(page.locator("#intent-rows tr").first).to_be_visible()
    expect(page.locator("#intent-new")).to_be_hidden()
    expect(page.locator("#training")).to_be_hidden()
    page.click("#sections a[href='#review']")
    expect(page.locator("#review-count")).to_contain_text("Turns: ")
    expect(page.locator("#review form.mark")).to_have_count(0)
    page.goto(f"{server.url}/console?lang=en")
    expect(page.locator("#admin-link")).to_be_visible()  # analysts read the numbers here
    assert watch.errors == []
    assert watch.failed == []
    page.context.close()

    page, watch = open_admin(browser, server, "wang")
    notice = page.locator("#not-allowed")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("can't use the admin console")
    expect(page.locator("#app")).to_be_hidden()
    page.screenshot(path=str(shots() / "admin-agent-refused-en.png"))
    # The agent console offers the admin page only to those it is for.
    page.goto(f"{server.url}/console?lang=en")
    expect(page.locator("#signout")).to_be_visible()
    expect(page.locator("#admin-link")).to_be_hidden()
    assert watch.errors == []
    assert watch.failed == []
    page.context.close()


def test_every_section_in_chinese_and_on_a_phone(
    browser: Browser,  # noqa: F811
    server: Server,
) -> None:
    page, watch = open_admin(browser, server, "boss", lang="zh")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    expect(page.locator("#sections a[aria-current=page]")).to_have_text("知识库")
    expect(page.locator("#kb-rows tr").first).to_be_visible()
    page.screenshot(path=str(shots() / "admin-knowledge-zh.png"))

    page.click("#sections a[href='#try']")
    expect(page.locator("#try-h")).to_be_focused()
    page.fill("#try-text", "押金怎么退？")
    page.click("#try-form button[type=submit]")
    expect(page.locator("#try-result")).to_be_visible()
    expect(page.locator("#try-decision")).to_contain_text("已回答")
    expect(page.locator("#try-faq tr").first).to_contain_text("bike.deposit_refund")
    expect(page.locator("#try-faq meter").first).to_be_visible()
    expect(page.locator("#try-replies li").first).to_contain_text("押金")
    expect(page.locator("#try-sentiment")).to_contain_text("情绪")
    page.screenshot(path=str(shots() / "admin-try-zh.png"), full_page=True)
    # Hostile text is shown as text.
    page.fill("#try-text", "<img src=x onerror=alert(1)>我的车锁不上")
    page.click("#try-form button[type=submit]")
    expect(page.locator("#try-replies li").first).to_be_visible()
    assert page.locator("#try-result img").count() == 0

    page.click("#sections a[href='#intents']")
    expect(page.locator("#intent-rows tr").first).to_be_visible()
    page.locator("#intent-rows tr", has_text="common.thanks").get_by_role("button").click()
    expect(page.locator("#intent-ex-zh")).not_to_have_value("")
    page.screenshot(path=str(shots() / "admin-intents-zh.png"), full_page=True)

    page.click("#sections a[href='#review']")
    expect(page.locator("#review-count")).to_contain_text("轮对话")
    page.screenshot(path=str(shots() / "admin-review-zh.png"), full_page=True)

    page.click("#sections a[href='#settings']")
    expect(page.locator("#agent-rows tr").first).to_be_visible()
    expect(page.locator("#esc-fallbacks")).to_have_value("3")
    page.fill("#esc-fallbacks", "4")
    page.check("#esc-hours-on")
    page.fill("#esc-day-mon", "09:00-18:00")
    page.click("#esc-form button[type=submit]")
    expect(page.locator("#esc-status")).to_have_text("已保存。")
    page.fill("#esc-day-tue", "18:00-09:00")  # ends before it starts: the server says so
    page.click("#esc-form button[type=submit]")
    expect(page.locator("#esc-error")).to_contain_text("18:00-09:00' ends before it starts")
    page.fill("#esc-day-tue", "10:00-16:00")
    page.click("#esc-form button[type=submit]")
    expect(page.locator("#esc-status")).to_have_text("已保存。")
    expect(page.locator("#esc-error")).to_be_hidden()
    wang = page.locator("#agent-rows tr", has_text="wang")
    wang.get_by_role("spinbutton", name="wang 的同时接待数").fill("5")
    wang.get_by_role("textbox", name="wang 的技能").fill("bike, lodging")
    wang.get_by_role("button", name="保存 wang").click()
    expect(page.locator("#agents-status")).to_have_text("已保存 wang。")
    page.fill("#canned-title", "会员专线")
    page.fill("#canned-text", "{{ customer_name }}您好，会员专线为您服务。")
    page.click("#canned-form button[type=submit]")
    canned = page.locator("#canned-items > li", has_text="会员专线")
    expect(canned).to_contain_text("您好，会员专线为您服务。")
    expect(page.locator("#canned-items > li", has_text="问候")).to_have_count(0)  # bundled
    canned.get_by_role("button", name="删除 会员专线").click()
    canned.get_by_role("button", name="确认删除").click()
    expect(canned).to_have_count(0)
    page.fill("#widget-title-zh", "小店客服")
    page.fill("#widget-color", "#0a7f5a")
    page.click("#widget-form button[type=submit]")
    expect(page.locator("#widget-status")).to_have_text("已保存。")
    page.screenshot(path=str(shots() / "admin-settings-zh.png"), full_page=True)
    # The preview link opens the widget as the form has it.
    page.fill("#widget-title-zh", "预览标题")
    with page.context.expect_page() as opened:
        page.click("#widget-preview")
    preview = opened.value
    preview_watch = Watch(preview)
    widget = preview.locator("kefu-widget")
    widget.get_by_role("button", name="打开在线客服").click()
    expect(widget.get_by_role("dialog", name="预览标题")).to_be_visible()
    preview.screenshot(path=str(shots() / "admin-widget-preview-zh.png"))
    assert preview_watch.errors == []
    preview.close()
    assert watch.errors == []
    assert watch.failed == ["422 PUT /v1/admin/escalation"]
    page.context.close()

    phone, watch = open_admin(browser, server, "boss", lang="zh", viewport=PHONE)
    nav = phone.locator("#sections").bounding_box()
    main = phone.locator("#main").bounding_box()
    assert nav and main and main["y"] >= nav["y"] + nav["height"] - 1  # stacked, not beside
    expect(phone.locator("#kb-rows tr").first).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width  # only the table scrolls sideways, not the page
    phone.screenshot(path=str(shots() / "admin-phone-zh.png"), full_page=True)
    phone.click("#sections a[href='#review']")
    expect(phone.locator("#review-count")).to_be_visible()
    phone.screenshot(path=str(shots() / "admin-phone-review-zh.png"), full_page=True)
    assert watch.errors == []
    assert watch.failed == []
    phone.context.close()
